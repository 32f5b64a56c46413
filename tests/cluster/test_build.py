"""The deb-src line of the kube-apiserver build comes from the machine's own apt sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.build import BuildError, debian_mirror

DEB822 = """\
Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def apt_dir(tmp_path: Path, *, sources: str = "", lists: str = "") -> Path:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    if sources:
        (etc / "sources.list.d" / "debian.sources").write_text(sources)
    if lists:
        (etc / "sources.list").write_text(lists)
    return etc


def os_release(tmp_path: Path, codename: str) -> Path:
    path = tmp_path / "os-release"
    path.write_text(f'NAME="Debian GNU/Linux"\nVERSION_CODENAME={codename}\n')
    return path


def test_deb822_release_suite_is_chosen_over_security(tmp_path: Path) -> None:
    # The third-party one-line entry comes first and is skipped: it carries no Debian suite.
    etc = apt_dir(tmp_path, sources=DEB822,
                  lists="deb https://vendor.invalid/apt cloud-sdk main\n")
    assert debian_mirror(etc, os_release(tmp_path, "bookworm")) == (
        "http://mirror.invalid/debian", "/usr/share/keyrings/debian-archive-keyring.gpg")


def test_one_line_format_with_options(tmp_path: Path) -> None:
    etc = apt_dir(tmp_path, lists=(
        "# a comment\n"
        "deb http://mirror.invalid/debian-security trixie-security main\n"
        "deb [arch=amd64 signed-by=/etc/keys/debian.gpg] http://mirror.invalid/debian trixie main\n"
    ))
    assert debian_mirror(etc, os_release(tmp_path, "trixie")) == (
        "http://mirror.invalid/debian", "/etc/keys/debian.gpg")


def test_no_debian_archive_is_a_clear_error(tmp_path: Path) -> None:
    etc = apt_dir(tmp_path, lists="deb https://vendor.invalid/apt cloud-sdk main\n")
    with pytest.raises(BuildError, match="no Debian archive found"):
        debian_mirror(etc, os_release(tmp_path, "bookworm"))
