"""Test certificates made with the ``openssl`` CLI: a CA and server certificates for 127.0.0.1.

``make_certs(directory)`` returns paths: ``ca`` (the CA's PEM), and for each
server certificate a ``(cert, key)`` pair: ``good`` (valid for IP 127.0.0.1),
``other_name`` (valid only for ``broker.other.test``) and ``expired`` (for
127.0.0.1, expired yesterday).
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certs(d: Path) -> dict[str, Path | tuple[Path, Path]]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=catalogctl-test-ca")  # fmt: skip
    out: dict[str, Path | tuple[Path, Path]] = {"ca": d / "ca.pem"}
    for name, san, days in (
        ("good", "IP:127.0.0.1", "1"),
        ("other_name", "DNS:broker.other.test", "1"),
        ("expired", "IP:127.0.0.1", "-1"),
    ):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={name}")  # fmt: skip
        (d / f"{name}.cnf").write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", days,
            "-extfile", f"{name}.cnf")  # fmt: skip
        out[name] = (d / f"{name}.pem", d / f"{name}.key")
    return out
