"""Transient broker failures are retried inside one run, against a real broker on 127.0.0.1.

The run's clock is injected (:class:`~tests.clocks.SkipClock`): backoff and polling waits
advance it instead of sleeping, so the tests check the delays chosen (full
jitter, ``Retry-After``) without waiting for them.  Everything else is real:
HTTP over sockets, the engine, the journal and the cluster directory.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import pytest

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml, mutating
from tests.e2e.inprocess import Run

INSTANCES = r"/v2/service_instances/[^/]+$"
BINDINGS = r"/service_bindings/[^/]+$"


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    w.write("db.yaml", instance_yaml("db", size=1))
    return w


def _ids(requests: list[object], method: str, pattern: str) -> set[str]:
    import re

    return {
        r.path  # type: ignore[attr-defined]
        for r in requests
        if r.method == method and re.search(pattern, r.path)  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("failures", [1, 5])
def test_provision_failing_with_500_converges_in_one_run_with_one_id(
    ws: Workspace, programmable_broker: ProgrammableBroker, failures: int
) -> None:
    programmable_broker.script("PUT", INSTANCES, status=500, body={}, times=failures)
    run = Run(ws)
    assert run.apply() is None, run.lines
    puts = programmable_broker.requests_to("PUT", INSTANCES)
    assert len(puts) == failures + 1
    assert len({r.path for r in puts}) == 1  # the broker saw one instance id
    # Each 500 may have created something: orphan mitigation ran before each re-send.
    assert [m for m, _ in mutating(programmable_broker.requests)] == [
        "PUT",
        "DELETE",
    ] * failures + ["PUT"]
    assert len(programmable_broker.instances) == 1
    assert ws.resources()["ServiceInstance/apps/db"]["status"] == "ready"
    # Full jitter: each delay is within [0, 2**n) seconds.
    backoffs = run.clock.sleeps[:failures]
    assert all(0 <= d < 2**n for n, d in enumerate(backoffs, start=1)), backoffs
    assert len(run.retries()) == failures
    assert run.retries()[0].startswith("ServiceInstance/apps/db: retry 1/6 in ")
    assert "broker answered 500" in run.retries()[0]


def test_update_bind_unbind_and_deprovision_each_converge_after_500s(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.write("b.yaml", binding_yaml("db-b", "db"))
    programmable_broker.script("PUT", BINDINGS, status=500, body={}, times=3)
    run = Run(ws)
    assert run.apply() is None, run.lines
    binds = programmable_broker.requests_to("PUT", BINDINGS)
    assert len(binds) == 4 and len({r.path for r in binds}) == 1
    assert len(programmable_broker.requests_to("DELETE", BINDINGS)) == 3  # mitigation
    assert len(programmable_broker.bindings) == 1

    ws.write("db.yaml", instance_yaml("db", size=2))
    programmable_broker.script("PATCH", INSTANCES, status=502, body={}, times=2)
    assert run.apply() is None, run.lines
    assert len(programmable_broker.requests_to("PATCH", INSTANCES)) == 3
    assert next(iter(programmable_broker.instances.values())).parameters == {"size": 2}

    ws.remove("b.yaml")
    ws.remove("db.yaml")
    programmable_broker.script("DELETE", BINDINGS, status=500, body={}, times=2)
    programmable_broker.script("DELETE", INSTANCES, status=504, body={}, times=2)
    assert run.apply(allow_empty=True) is None, run.lines
    assert programmable_broker.instances == {} and programmable_broker.bindings == {}
    assert ws.resources() == {}
    assert len(_ids(programmable_broker.requests, "DELETE", INSTANCES)) == 1


def test_503_with_retry_after_waits_as_long_as_the_broker_asks(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", INSTANCES, status=503, body={}, retry_after=7)
    run = Run(ws)
    assert run.apply() is None, run.lines
    assert run.clock.sleeps[0] == 7.0
    assert any("retry 1/6 in 7s: broker answered 503" in line for line in run.lines)


def test_429_is_retried_and_not_orphan_mitigated(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", INSTANCES, status=429, body={}, times=2)
    run = Run(ws)
    assert run.apply() is None, run.lines
    assert [m for m, _ in mutating(programmable_broker.requests)] == ["PUT", "PUT", "PUT"]
    assert len(run.retries()) == 2 and "429" in run.retries()[0]


def test_retries_stop_at_the_retry_timeout_and_keep_the_id_for_the_next_run(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", INSTANCES, status=500, body={}, retry_after=40, times=None)
    run = Run(ws)
    failure = run.apply(timeout=100)
    assert failure is not None and "provisioning failed: broker answered 500" in str(failure)
    first = programmable_broker.requests_to("PUT", INSTANCES)
    assert len(first) == 3  # at 0 s, 40 s and 80 s; a retry at 120 s would pass the 100 s
    assert run.clock.sleeps[:2] == [40.0, 40.0]
    entry = ws.resources()["ServiceInstance/apps/db"]
    assert entry["status"] == "creating" and entry["operation"] is None

    programmable_broker.reset()
    assert Run(ws).apply() is None
    again = programmable_broker.requests_to("PUT", INSTANCES)
    assert {r.path for r in again} == {first[0].path}  # never a fresh id


def test_retry_timeout_zero_turns_retries_off(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", INSTANCES, status=500, body={})
    run = Run(ws)
    assert run.apply(timeout=0) is not None
    assert len(programmable_broker.requests_to("PUT", INSTANCES)) == 1
    assert run.retries() == []


def test_a_rejected_create_keeps_its_id_for_the_next_run(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", INSTANCES, status=400, body={"description": "no"})
    run = Run(ws)
    failure = run.apply()
    assert failure is not None and "rejected" in str(failure) and "no" in str(failure)
    assert run.retries() == []  # a 400 is final
    plan = ws.ok("plan")
    assert "with the id of the failed attempt" in plan.stdout
    assert Run(ws).apply() is None
    assert len(_ids(programmable_broker.requests, "PUT", INSTANCES)) == 1


def test_connection_dropped_after_sending_is_mitigated_then_resent_with_the_same_id(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", INSTANCES, drop=True, times=2)
    run = Run(ws)
    assert run.apply() is None, run.lines
    assert [m for m, _ in mutating(programmable_broker.requests)] == [
        "PUT",
        "DELETE",
        "PUT",
        "DELETE",
        "PUT",
    ]
    assert len(_ids(programmable_broker.requests, "PUT", INSTANCES)) == 1
    assert "after the request was sent" in run.retries()[0]
    # No "Still provisioning" while mitigation runs, and mitigation reports itself.
    assert any("Cleaned up" in line for line in run.lines)


class Front:
    """A TCP forwarder to the broker whose port refuses connections while it is closed.

    Refused means the request never left: retries need no orphan mitigation.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.sock: socket.socket | None = None

    def open(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self.sock = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def close(self) -> None:
        if self.sock is not None:
            # shutdown wakes the thread blocked in accept(); close alone would
            # leave the port listening until that accept returned.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def test_connection_refused_before_sending_is_retried_without_mitigation(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    front = Front(programmable_broker.port)
    front.open()
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(f"http://127.0.0.1:{front.port}", name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db"))
    try:
        assert Run(ws).apply() is None  # caches the catalog
        front.close()
        ws.write("db2.yaml", instance_yaml("db2"))
        programmable_broker.reset()
        run = Run(ws)
        run.clock.on_sleep = lambda n: front.open() if n == 2 else None
        assert run.apply(refresh=False) is None, run.lines
    finally:
        front.close()
    assert [m for m, _ in mutating(programmable_broker.requests)] == ["PUT"]
    assert len(run.retries()) == 2
    assert "cannot connect" in run.retries()[0]
