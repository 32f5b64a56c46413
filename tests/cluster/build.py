"""Build a real kube-apiserver from Debian's Kubernetes source package, and install etcd.

Run ``python -m tests.cluster.build`` (the test fixture calls :func:`ensure_binaries` itself).
Idempotent: a finished binary is cached under ``${XDG_CACHE_HOME:-~/.cache}/catalogctl/`` keyed by
version and reused; a file lock keeps concurrent test runs from building twice.

No release binaries can be downloaded where these tests run, but Debian's package archive can be
reached, and bookworm's source package ``kubernetes`` is the full v1.20.2 tree with ``vendor/``.
Three fixes make it build with the Go Debian ships:

1. GOPATH mode (``GO111MODULE=off``, the tree at ``$GOPATH/src/k8s.io/kubernetes``): vendor mode
   fails with "updates to go.mod needed".
2. The vendored ``github.com/modern-go/reflect2`` v1.0.1 crashes on Go >= 1.18; v1.0.2 from
   ``golang-github-modern-go-reflect2-dev`` replaces it.
3. ``pkg/generated/openapi/zz_generated.openapi.go`` is not in the source package; the vendored
   ``openapi-gen`` generates it for every package tagged ``+k8s:openapi-gen=``.

The source is fetched with ``apt-get source`` under a private ``APT_CONFIG`` whose ``deb-src`` line
is derived from the machine's own apt sources (same mirror), so nothing system-wide changes.
Missing tools are installed with ``apt-get`` when running as root (CI); otherwise the error names
the command to run.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KUBE_VERSION = "v1.20.2"
SOURCE_PACKAGE = "kubernetes"
SOURCE_VERSION = "1.20.5+really1.20.2-1.1+deb12u1"
# The suite whose source package has the full tree; later Debian releases ship kubectl only.
SOURCE_SUITE = "bookworm"
REFLECT2_SOURCE = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")

# command or file -> Debian package that provides it
REQUIREMENTS: dict[str, str] = {
    "go": "golang-go",
    "etcd": "etcd-server",
    "dpkg-source": "dpkg-dev",
    "openssl": "openssl",
    # kubectl reads back what catalogctl wrote; any recent one will do (Debian's is v1.20).
    "kubectl": "kubernetes-client",
    str(REFLECT2_SOURCE): "golang-github-modern-go-reflect2-dev",
}

VERSION_PACKAGES = (
    "k8s.io/kubernetes/vendor/k8s.io/component-base/version",
    "k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version",
)
# Packages with openapi-gen tags that kube-apiserver does not serve (and that do not build here).
OPENAPI_EXCLUDED = ("code-generator", "sample-apiserver")


class BuildError(RuntimeError):
    """The API server could not be built; the message says what to do."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the two programs a test cluster runs."""

    kube_apiserver: Path
    etcd: Path


def log(message: str) -> None:
    print(f"[kube-apiserver build] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "catalogctl"


def binary_path() -> Path:
    return cache_dir() / f"kube-apiserver-{KUBE_VERSION}"


def _present(requirement: str) -> bool:
    if requirement.startswith("/"):
        return Path(requirement).exists()
    return shutil.which(requirement) is not None


def ensure_packages() -> None:
    """Install the Debian packages the build and the cluster need, when some are missing."""
    missing = sorted({pkg for req, pkg in REQUIREMENTS.items() if not _present(req)})
    if not missing:
        return
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise BuildError(
            f"missing Debian packages {', '.join(missing)}: run "
            f"`sudo apt-get update && sudo {' '.join(command)}` and try again")
    log(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], env=env)
    _run(command, env=env)


def _run(command: list[str], *, cwd: Path | None = None,
         env: Mapping[str, str] | None = None, quiet: bool = False) -> None:
    """Run a command; on failure raise with the tail of its output."""
    result = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-40:])
        raise BuildError(
            f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{tail}")
    if not quiet and result.stdout.strip():
        for line in result.stdout.strip().splitlines()[-5:]:
            log(f"  {line}")


def _source_entries(etc: Path) -> Iterator[tuple[str, list[str], str]]:
    """Yield (uri, suites, signed_by) for each binary ``deb`` entry of the apt sources under
    ``etc``, from both the one-line format and deb822 ``.sources`` files."""
    one_line = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            match = re.match(r"deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)",
                             line)
            if match:
                opts = dict(o.split("=", 1) for o in (match["opts"] or "").split() if "=" in o)
                yield match["uri"], [match["suite"]], opts.get("signed-by", "")
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for raw in stanza.splitlines():
                if raw.startswith("#") or ":" not in raw or raw[:1].isspace():
                    continue
                key, value = raw.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    yield uri, fields.get("suites", "").split(), fields.get("signed-by", "")


def debian_mirror(etc: Path = Path("/etc/apt"),
                  os_release: Path = Path("/etc/os-release")) -> tuple[str, str]:
    """The (uri, signed_by) of the machine's Debian archive: the first entry that carries the
    release suite itself (this machine's codename or bookworm; not -security or -updates)."""
    codename = ""
    if os_release.is_file():
        match = re.search(r"^VERSION_CODENAME=\"?(\w+)", os_release.read_text(), re.MULTILINE)
        codename = match.group(1) if match else ""
    for uri, suites, signed_by in _source_entries(etc):
        if any(suite in (codename, SOURCE_SUITE) for suite in suites):
            return uri, signed_by
    raise BuildError("no Debian archive found in /etc/apt/sources.list(.d): the Kubernetes "
                     f"source package comes from Debian {SOURCE_SUITE}'s deb-src")


def _apt_config(root: Path) -> dict[str, str]:
    """A private apt configuration with one deb-src line for the source suite; returns the
    environment that makes ``apt-get`` use it."""
    uri, signed_by = debian_mirror()
    lists = root / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (root / "sources.list.d").mkdir(exist_ok=True)
    options = f"[signed-by={signed_by}] " if signed_by else ""
    (root / "sources.list").write_text(f"deb-src {options}{uri} {SOURCE_SUITE} main\n")
    config = root / "apt.conf"
    config.write_text(
        f'Dir::Etc::SourceList "{root / "sources.list"}";\n'
        f'Dir::Etc::SourceParts "{root / "sources.list.d"}";\n'
        f'Dir::State::Lists "{lists}";\n'
        f'Dir::Cache "{root / "cache"}";\n'
        'Acquire::Languages "none";\n')
    return {**os.environ, "APT_CONFIG": str(config), "DEBIAN_FRONTEND": "noninteractive"}


def fetch_source(work: Path) -> Path:
    """Fetch and unpack the source package; returns the tree, moved into a GOPATH layout."""
    gopath_tree = work / "gopath" / "src" / "k8s.io" / "kubernetes"
    if (gopath_tree / "cmd" / "kube-apiserver").is_dir():
        log(f"source tree already unpacked at {gopath_tree}")
        return gopath_tree
    download = work / "download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    env = _apt_config(work / "apt")
    log(f"updating a private apt index for deb-src {SOURCE_SUITE}")
    _run(["apt-get", "update", "-q"], env=env, quiet=True)
    log(f"fetching source package {SOURCE_PACKAGE}={SOURCE_VERSION} (apt-get source)")
    _run(["apt-get", "source", "-q", "--only-source", f"{SOURCE_PACKAGE}={SOURCE_VERSION}"],
         cwd=download, env=env, quiet=True)
    unpacked = [p for p in download.iterdir() if p.is_dir() and (p / "cmd").is_dir()]
    if len(unpacked) != 1:
        raise BuildError(f"expected one unpacked source tree in {download}, found {unpacked}")
    gopath_tree.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(gopath_tree, ignore_errors=True)
    unpacked[0].rename(gopath_tree)
    shutil.rmtree(download)
    return gopath_tree


def replace_reflect2(tree: Path) -> None:
    vendored = tree / "vendor" / "github.com" / "modern-go" / "reflect2"
    marker = vendored / ".catalogctl-reflect2-v1.0.2"
    if marker.exists():
        return
    log("replacing vendored reflect2 v1.0.1 with Debian's v1.0.2 (v1.0.1 crashes on Go >= 1.18)")
    shutil.rmtree(vendored, ignore_errors=True)
    shutil.copytree(REFLECT2_SOURCE, vendored, symlinks=False,
                    ignore=shutil.ignore_patterns("*_test.go", "test*"))
    marker.write_text("")


def _go_env(work: Path) -> dict[str, str]:
    return {**os.environ, "GOPATH": str(work / "gopath"), "GO111MODULE": "off",
            "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "",
            "PWD": str(work / "gopath" / "src" / "k8s.io" / "kubernetes")}


def _openapi_packages(tree: Path) -> list[str]:
    """Import paths of every package whose Go files carry a ``+k8s:openapi-gen=`` tag; staging
    packages are named through ``vendor/`` as the GOPATH build sees them."""
    packages: set[str] = set()
    for top in ("pkg", "staging/src", "vendor"):
        for path in (tree / top).rglob("*.go"):
            if path.name.endswith("_test.go") or path.is_symlink():
                continue
            relative = path.parent.relative_to(tree).as_posix()
            if any(f"/{name}/" in f"/{relative}/" for name in OPENAPI_EXCLUDED):
                continue
            if "/testdata/" in f"/{relative}/":
                continue
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            if "+k8s:openapi-gen=" not in text:
                continue
            if relative.startswith("staging/src/"):
                relative = "vendor/" + relative.removeprefix("staging/src/")
            packages.add(f"k8s.io/kubernetes/{relative}")
    return sorted(packages)


def generate_openapi(tree: Path, work: Path) -> None:
    target = tree / "pkg" / "generated" / "openapi" / "zz_generated.openapi.go"
    if target.exists():
        return
    env = _go_env(work)
    generator = work / "openapi-gen"
    log("building the vendored openapi-gen")
    _run(["nice", "go", "build", "-o", str(generator),
          "./vendor/k8s.io/kube-openapi/cmd/openapi-gen"], cwd=tree, env=env)
    packages = _openapi_packages(tree)
    log(f"generating {target.relative_to(tree)} for {len(packages)} packages")
    _run(["nice", str(generator), "-i", ",".join(packages),
          "-p", "k8s.io/kubernetes/pkg/generated/openapi", "-O", "zz_generated.openapi",
          "-h", "vendor/k8s.io/code-generator/hack/boilerplate.go.txt",
          "-r", str(work / "openapi-violations.report")], cwd=tree, env=env)
    if not target.exists():
        raise BuildError(f"openapi-gen did not write {target}")


def compile_apiserver(tree: Path, work: Path, output: Path) -> None:
    major, minor = KUBE_VERSION.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in VERSION_PACKAGES:
        flags += [f"-X {package}.gitVersion={KUBE_VERSION}", f"-X {package}.gitMajor={major}",
                  f"-X {package}.gitMinor={minor}"]
    partial = output.with_name(output.name + ".partial")
    log("compiling ./cmd/kube-apiserver (about 4 minutes on 2 cores with a cold Go cache)")
    _run(["nice", "go", "build", "-trimpath", "-ldflags", " ".join(flags), "-o", str(partial),
          "./cmd/kube-apiserver"], cwd=tree, env=_go_env(work))
    partial.rename(output)


@contextmanager
def _build_lock() -> Iterator[None]:
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / f".build-{KUBE_VERSION}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries() -> Binaries:
    """Return kube-apiserver and etcd, building and installing whatever is missing."""
    output = binary_path()
    with _build_lock():
        ensure_packages()
        etcd = shutil.which("etcd")
        if etcd is None:
            raise BuildError("etcd is not on PATH after installing etcd-server")
        if output.is_file():
            return Binaries(output, Path(etcd))
        started = time.monotonic()
        work = cache_dir() / f"build-{KUBE_VERSION}"
        log(f"building kube-apiserver {KUBE_VERSION} in {work}")
        tree = fetch_source(work)
        replace_reflect2(tree)
        generate_openapi(tree, work)
        compile_apiserver(tree, work, output)
        log(f"built {output} in {time.monotonic() - started:.0f} s")
        return Binaries(output, Path(etcd))


def main() -> int:
    try:
        binaries = ensure_binaries()
    except BuildError as error:
        log(str(error))
        return 1
    print(binaries.kube_apiserver)
    print(binaries.etcd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
