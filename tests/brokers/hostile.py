"""A hostile "broker" on 127.0.0.1 that answers every request with a body no client should keep.

Modes:

* ``endless``: ``200``, chunked, an endless stream of JSON-looking bytes;
* ``huge``: ``200`` declaring ``Content-Length: 2147483648`` and then streaming;
* ``deep``: ``200`` with 200,000 nested ``[`` (a parser recursing per level dies).

It also counts the bytes it managed to send, so tests can show the client
stopped reading early.  Run standalone (used by ``bench/bench_hostile_broker.py``)::

    python -m tests.brokers.hostile endless
    # prints: READY http://127.0.0.1:PORT
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Literal

Mode = Literal["endless", "huge", "deep"]

_CHUNK = b'{"services": [' + b'"x", ' * 10_000


class HostileBroker:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.sent = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> HostileBroker:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            try:
                if self.mode == "deep":
                    body = b"[" * 200_000
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                    conn.sendall(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
                    self.sent += len(body)
                    return
                if self.mode == "huge":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n")
                    while not self._stop.is_set():
                        conn.sendall(_CHUNK)
                        self.sent += len(_CHUNK)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                frame = f"{len(_CHUNK):x}\r\n".encode() + _CHUNK + b"\r\n"
                while not self._stop.is_set():
                    conn.sendall(frame)
                    self.sent += len(_CHUNK)
            except OSError:
                return  # the client hung up, as it should


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "endless"
    assert mode in ("endless", "huge", "deep")
    broker = HostileBroker(mode)  # type: ignore[arg-type]
    with broker:
        print(f"READY {broker.url}", flush=True)
        threading.Event().wait()
