"""What does OSBClient cost per request next to a bare httpx request?

The client builds percent-encoded URLs, headers (version, request identity,
originating identity, auth), takes a limiter slot, enforces a whole-exchange
timeout and classifies the answer into an outcome value.  This benchmark
times ``OSBClient.last_operation`` (of an instance) against a raw
``httpx.AsyncClient.get`` of the same URL with the same static headers, in the
same run, two ways:

* **in-process** (``httpx.MockTransport``, the client's test seam): no
  network, so the difference is the OSB layer's own CPU cost per request
  (URL, headers, limiter slot, timeout, classification);
* **local broker** (programmable broker in a separate process over
  127.0.0.1): the end-to-end figure a user sees, both over httpx's pool.

Run: ``python bench/bench_osb_client.py [--requests 3000]``.  Medians of
interleaved batches, in microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogctl.providers.osb.client import OSBClient  # noqa: E402
from catalogctl.providers.osb.config import (  # noqa: E402
    BasicAuth,
    BrokerConnection,
    OriginatingIdentity,
    Secret,
)
from catalogctl.providers.osb.outcomes import Done  # noqa: E402

BODY = b'{"state":"in progress","description":"working"}'
PATH = "/v2/service_instances/inst-1/last_operation"
QUERY = {"service_id": "svc", "plan_id": "plan", "operation": "op-1"}


def _mock(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})


async def _timed(fn: Callable[[], Awaitable[object]], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - t0) / n * 1e6


async def compare(url: str, transport: httpx.AsyncBaseTransport | None, n: int) -> dict[str, float]:
    conn = BrokerConnection(
        "ClusterServiceBroker/bench",
        url,
        auth=BasicAuth("admin", Secret("pw")),
        cluster_id="c",
        originating_identity=OriginatingIdentity("bench", "uid", ("g",)),
    )
    client = OSBClient(conn, transport=transport)
    raw = httpx.AsyncClient(transport=transport, base_url=url)
    headers = {"X-Broker-API-Version": "2.17", "Authorization": "Basic YWRtaW46cHc="}

    async def via_client() -> object:
        out = await client.last_operation("inst-1", "svc", "plan", "op-1")
        assert isinstance(out, Done), out
        return out

    async def via_raw() -> object:
        r = await raw.get(PATH, params=QUERY, headers=headers)
        return r.json()

    for fn in (via_client, via_raw):  # warm up connections and caches
        await _timed(fn, 50)
    batches = 10
    c_times, r_times = [], []
    for _ in range(batches):
        c_times.append(await _timed(via_client, n // batches))
        r_times.append(await _timed(via_raw, n // batches))
    await client.aclose()
    await raw.aclose()
    c, r = statistics.median(c_times), statistics.median(r_times)
    return {"client": c, "raw": r, "overhead": c - r}


async def run(args: argparse.Namespace) -> int:
    mock = await compare("http://broker.invalid", httpx.MockTransport(_mock), args.requests)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.brokers.programmable", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split(" ", 1)[1]
        # No instance exists: the broker answers 410 to both, which is just as
        # cheap for it; the client maps it to Gone, so accept any outcome here.
        live = await compare_live(url, args.requests)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{'':22}{'OSBClient':>12}{'raw httpx':>12}{'difference':>12}   (µs/request, median)")
    for name, res in (("in-process (mock)", mock), ("local broker (HTTP)", live)):
        print(f"{name:22}{res['client']:12.1f}{res['raw']:12.1f}{res['overhead']:12.1f}")
    return 0


async def compare_live(url: str, n: int) -> dict[str, float]:
    conn = BrokerConnection(
        "ClusterServiceBroker/bench",
        url,
        cluster_id="c",
        originating_identity=OriginatingIdentity("bench", "uid", ("g",)),
    )
    client = OSBClient(conn)
    raw = httpx.AsyncClient(base_url=url)
    headers = {"X-Broker-API-Version": "2.17"}

    async def via_client() -> object:
        return await client.last_operation("inst-1", "svc", "plan", "op-1")

    async def via_raw() -> object:
        r = await raw.get(PATH, params=QUERY, headers=headers)
        return r.content

    for fn in (via_client, via_raw):
        await _timed(fn, 50)
    batches = 10
    c_times, r_times = [], []
    for _ in range(batches):
        c_times.append(await _timed(via_client, n // batches))
        r_times.append(await _timed(via_raw, n // batches))
    await client.aclose()
    await raw.aclose()
    c, r = statistics.median(c_times), statistics.median(r_times)
    return {"client": c, "raw": r, "overhead": c - r}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=3000)
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
