"""Run etcd and a real kube-apiserver on free 127.0.0.1 ports, with fresh data and credentials.

``LocalCluster.start(workdir)`` builds the binaries if needed (:mod:`tests.cluster.build`),
generates a service-account key pair and a bearer token, starts etcd and kube-apiserver, waits
for ``/readyz`` and writes a kubeconfig; ``stop()`` ends both processes. Everything lives under
``workdir``, so each start is a cluster with nothing in it but what the server creates itself.

No controller-manager or scheduler runs: objects are stored and validated, never acted on
(Deployments do not roll, the garbage collector does not run, a deleted Namespace stays
Terminating). Tests therefore use a fresh namespace each instead of deleting one.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from tests.cluster.build import KUBE_VERSION, Binaries, BuildError, ensure_binaries

CONTEXT = "catalogctl-test"
# A second user with no permissions but those a test grants it with RBAC; the first token's
# user is in system:masters and may do anything.
LIMITED_USER = "limited"
# Every request at Metadata level (never bodies, so no Secret data), once it has completed:
# tests read it to prove which calls were made (verbs, codes, user agents), as an operator
# would from a real cluster's audit log. The blocking mode writes an event before the answer.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
"""
READY_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 10.0


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the test process dies, so a
    killed pytest leaves no etcd or kube-apiserver behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kubectl_path() -> str:
    """The kubectl on PATH (:func:`ensure_binaries` installs Debian's when there is none)."""
    found = shutil.which("kubectl")
    if found is None:
        raise BuildError("no kubectl on PATH: install Debian's kubernetes-client")
    return found


def write_kubeconfig(path: Path, server: str, token: str, ca_file: Path,
                     namespace: str = "default") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server,
                                                   "certificate-authority": str(ca_file)}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT,
                                                   "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


@dataclass
class LocalCluster:
    """etcd plus kube-apiserver, reachable as ``url`` with bearer ``token``."""

    workdir: Path
    binaries: Binaries
    url: str = ""
    token: str = ""
    limited_token: str = ""
    ca_file: Path = field(default_factory=Path)
    kubeconfig_path: Path = field(default_factory=Path)
    audit_log: Path = field(default_factory=Path)
    startup_seconds: float = 0.0
    _processes: list[_Process] = field(default_factory=list)

    @classmethod
    def start(cls, workdir: Path) -> LocalCluster:
        cluster = cls(workdir, ensure_binaries())
        try:
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _spawn(self, name: str, argv: Sequence[str]) -> _Process:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=_die_with_parent)
        process = _Process(name, popen, log_path, log)
        self._processes.append(process)
        return process

    def _start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        etcd_client, etcd_peer, etcd_metrics, secure = (free_port() for _ in range(4))
        self._spawn("etcd", [
            str(self.binaries.etcd), "--name", "catalogctl-test",
            "--data-dir", str(self.workdir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"catalogctl-test=http://127.0.0.1:{etcd_peer}",
            "--listen-metrics-urls", f"http://127.0.0.1:{etcd_metrics}",
            "--log-level", "warn",
        ])
        certs = self.workdir / "pki"
        certs.mkdir()
        subprocess.run(["openssl", "genrsa", "-out", str(certs / "sa.key"), "2048"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", str(certs / "sa.key"), "-pubout",
                        "-out", str(certs / "sa.pub")], check=True, capture_output=True)
        self.token = secrets.token_hex(16)
        self.limited_token = secrets.token_hex(16)
        tokens = certs / "tokens.csv"
        tokens.write_text(f"{self.token},admin,admin,system:masters\n"
                          f"{self.limited_token},{LIMITED_USER},{LIMITED_USER}\n")
        tokens.chmod(0o600)
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        self.audit_log = self.workdir / "audit.log"
        apiserver = self._spawn("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            "--etcd-servers", f"http://127.0.0.1:{etcd_client}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(secure), "--insecure-port", "0",
            "--cert-dir", str(certs),
            "--service-account-key-file", str(certs / "sa.pub"),
            "--service-account-signing-key-file", str(certs / "sa.key"),
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--authorization-mode", "RBAC",
            "--token-auth-file", str(tokens),
            "--service-cluster-ip-range", "10.0.0.0/24",
            "--endpoint-reconciler-type", "none",
            "--audit-policy-file", str(policy), "--audit-log-path", str(self.audit_log),
            "--audit-log-format", "json", "--audit-log-mode", "blocking",
        ])
        self.url = f"https://127.0.0.1:{secure}"
        # --cert-dir makes a self-signed CA and a serving certificate for 127.0.0.1; trusting
        # the CA keeps TLS verification on, as users have it.
        self.ca_file = certs / "apiserver.crt"
        self._wait_ready(apiserver)
        self.kubeconfig_path = write_kubeconfig(self.workdir / "kubeconfig", self.url,
                                                self.token, self.ca_file)
        self.startup_seconds = time.monotonic() - started

    def _wait_ready(self, apiserver: _Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.popen.poll() is not None:
                    raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:"
                                       f"\n{process.tail()}")
            if self.ca_file.exists():
                try:
                    answer = httpx.get(f"{self.url}/readyz",
                                       verify=ssl.create_default_context(cafile=self.ca_file),
                                       headers={"Authorization": f"Bearer {self.token}"},
                                       timeout=2.0)
                    if answer.status_code == 200 and answer.text == "ok":
                        return
                    last = f"{answer.status_code} {answer.text[-200:]}"
                except httpx.HTTPError as error:
                    last = f"{type(error).__name__}: {error}"
            time.sleep(0.2)
        raise RuntimeError(f"kube-apiserver not ready after {READY_TIMEOUT_S:.0f} s ({last}):\n"
                           f"{apiserver.tail()}")

    def audit_events(self) -> list[dict[str, Any]]:
        """Every request the server has completed, oldest first (see ``AUDIT_POLICY``)."""
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line]

    def kubeconfig_for(self, path: Path, namespace: str, *, limited: bool = False) -> Path:
        """Another kubeconfig for this server, whose context defaults to ``namespace``; as
        :data:`LIMITED_USER` when ``limited``."""
        token = self.limited_token if limited else self.token
        return write_kubeconfig(path, self.url, token, self.ca_file, namespace)

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()


def main() -> int:
    """Start a cluster by hand and keep it until interrupted (prints its kubeconfig)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kube-apiserver-") as tmp:
        cluster = LocalCluster.start(Path(tmp))
        print(f"kube-apiserver {KUBE_VERSION} ready at {cluster.url} "
              f"in {cluster.startup_seconds:.1f} s", flush=True)
        print(f"export KUBECONFIG={cluster.kubeconfig_path}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
