"""Catalog cache: once per run, relist rules, on-disk format and secrecy."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalogctl.providers.osb.catalog import CatalogError
from catalogctl.providers.osb.catalog_cache import (
    DEFAULT_RELIST_DURATION,
    BrokerCatalogSource,
    CatalogCache,
    redact_url,
)

CATALOG: dict[str, Any] = {"services": [{
    "id": "s", "name": "svc", "description": "d", "bindable": True,
    "dashboard_client": {"id": "dash", "secret": "dashboard-secret-value"},
    "plans": [{"id": "p", "name": "plan", "description": "d"}]}]}


class FakeFetch:
    """Counts fetches per broker and can be made slow or failing."""

    def __init__(self, catalog: Mapping[str, Any] = CATALOG) -> None:
        self.catalog = catalog
        self.calls: list[str] = []
        self.delay = 0.0
        self.fail = False

    async def __call__(self, source: BrokerCatalogSource) -> Mapping[str, Any]:
        self.calls.append(source.name)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("broker down")
        return self.catalog


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


SRC = BrokerCatalogSource("ClusterServiceBroker/b", "http://user:url-password-value@127.0.0.1:9/")


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_fetches_once_per_run_even_concurrently() -> None:
    fetch = FakeFetch()
    fetch.delay = 0.01
    cache = CatalogCache(fetch)

    async def main() -> list[str]:
        results = await asyncio.gather(*(cache.get(SRC) for _ in range(5)))
        return sorted(r.origin for r in results)

    assert _run(main()) == ["broker", "memory", "memory", "memory", "memory"]
    assert fetch.calls == ["ClusterServiceBroker/b"]
    assert _run(cache.get(SRC)).parse().services[0].name == "svc"


def test_memo_is_keyed_by_name_and_url() -> None:
    fetch = FakeFetch()
    cache = CatalogCache(fetch)
    other = BrokerCatalogSource("ServiceBroker/ns/b", SRC.url)
    _run(cache.get(SRC))
    _run(cache.get(other))
    assert fetch.calls == [SRC.name, other.name]


def test_disk_cache_reused_across_runs_within_default_duration(tmp_path: Path) -> None:
    clock = Clock()
    fetch = FakeFetch()
    assert _run(CatalogCache(fetch, tmp_path, clock=clock).get(SRC)).origin == "broker"
    clock.now += DEFAULT_RELIST_DURATION.total_seconds() - 1
    again = _run(CatalogCache(fetch, tmp_path, clock=clock).get(SRC))
    assert again.origin == "disk" and fetch.calls == [SRC.name]
    assert again.parse().services[0].plans[0].id == "p"
    clock.now += 1
    assert _run(CatalogCache(fetch, tmp_path, clock=clock).get(SRC)).origin == "broker"
    assert len(fetch.calls) == 2


def test_default_duration_is_fifteen_minutes() -> None:
    assert timedelta(minutes=15) == DEFAULT_RELIST_DURATION


def test_relist_duration_from_spec(tmp_path: Path) -> None:
    clock = Clock()
    fetch = FakeFetch()
    src = BrokerCatalogSource("b", "http://h/", relist_duration=timedelta(hours=2))
    _run(CatalogCache(fetch, tmp_path, clock=clock).get(src))
    clock.now += 3600
    assert _run(CatalogCache(fetch, tmp_path, clock=clock).get(src)).origin == "disk"
    clock.now += 3600
    assert _run(CatalogCache(fetch, tmp_path, clock=clock).get(src)).origin == "broker"


def test_manual_relist_ignores_age_but_honours_requests_and_spec(tmp_path: Path) -> None:
    clock = Clock()
    fetch = FakeFetch()
    src = BrokerCatalogSource("b", "http://h/", relist_behavior="Manual", relist_requests=1,
                              spec_fingerprint="v1")

    def origin(source: BrokerCatalogSource) -> str:
        return str(_run(CatalogCache(fetch, tmp_path, clock=clock).get(source)).origin)

    assert origin(src) == "broker"
    clock.now += 30 * 86400
    assert origin(src) == "disk"
    bumped = BrokerCatalogSource("b", "http://h/", relist_behavior="Manual", relist_requests=2,
                                 spec_fingerprint="v1")
    assert origin(bumped) == "broker"
    assert origin(bumped) == "disk"
    changed = BrokerCatalogSource("b", "http://h/", relist_behavior="Manual",
                                  relist_requests=2, spec_fingerprint="v2")
    assert origin(changed) == "broker"
    assert len(fetch.calls) == 3


def test_relist_requests_bump_forces_refetch_under_duration_too(tmp_path: Path) -> None:
    fetch = FakeFetch()
    _run(CatalogCache(fetch, tmp_path).get(SRC))
    bumped = BrokerCatalogSource(SRC.name, SRC.url, relist_requests=1)
    assert _run(CatalogCache(fetch, tmp_path).get(bumped)).origin == "broker"


def test_refresh_and_invalidate(tmp_path: Path) -> None:
    fetch = FakeFetch()
    _run(CatalogCache(fetch, tmp_path).get(SRC))
    cache = CatalogCache(fetch, tmp_path)
    assert _run(cache.get(SRC)).origin == "disk"
    assert _run(cache.get(SRC, refresh=True)).origin == "broker"
    assert _run(cache.get(SRC, refresh=True)).origin == "memory"  # still once per run
    cache.invalidate(SRC)
    path = cache.path_for(SRC)
    assert path is not None and not path.exists()
    assert _run(cache.get(SRC)).origin == "broker"
    assert len(fetch.calls) == 3


def test_file_is_private_and_holds_no_credentials(tmp_path: Path) -> None:
    directory = tmp_path / ".catalogctl" / "catalogs"
    cache = CatalogCache(FakeFetch(), directory)
    result = _run(cache.get(SRC))
    path = cache.path_for(SRC)
    assert path is not None and path.parent == directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    text = path.read_text()
    assert "url-password-value" not in text and "user" not in text
    assert "dashboard-secret-value" not in text
    assert "dashboard-secret-value" not in json.dumps(result.raw)
    entry = json.loads(text)
    assert entry["url"] == "http://127.0.0.1:9/"
    assert entry["catalog"]["services"][0]["dashboard_client"] == {"id": "dash"}
    assert [p.name for p in directory.iterdir()] == [path.name]  # no temp files left


def test_corrupt_or_foreign_files_are_ignored(tmp_path: Path) -> None:
    fetch = FakeFetch()
    cache = CatalogCache(fetch, tmp_path)
    path = cache.path_for(SRC)
    assert path is not None
    path.write_text("{not json")
    assert _run(cache.get(SRC)).origin == "broker"
    entry = json.loads(path.read_text())
    entry["broker"] = "someone-else"
    path.write_text(json.dumps(entry))
    assert _run(CatalogCache(fetch, tmp_path).get(SRC)).origin == "broker"


def test_clock_going_backwards_forces_refetch(tmp_path: Path) -> None:
    clock = Clock()
    fetch = FakeFetch()
    _run(CatalogCache(fetch, tmp_path, clock=clock).get(SRC))
    clock.now -= 10
    assert _run(CatalogCache(fetch, tmp_path, clock=clock).get(SRC)).origin == "broker"


def test_fetch_errors_propagate_and_cache_nothing(tmp_path: Path) -> None:
    fetch = FakeFetch()
    fetch.fail = True
    cache = CatalogCache(fetch, tmp_path)
    with pytest.raises(RuntimeError, match="broker down"):
        _run(cache.get(SRC))
    assert list(tmp_path.iterdir()) == []
    fetch.fail = False
    assert _run(cache.get(SRC)).origin == "broker"


def test_non_object_catalog_is_a_catalog_error() -> None:
    cache = CatalogCache(FakeFetch(catalog=[]))  # type: ignore[arg-type]
    with pytest.raises(CatalogError, match="broker 'ClusterServiceBroker/b'"):
        _run(cache.get(SRC))


def test_unusable_cache_directory_is_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    cache = CatalogCache(FakeFetch(), blocker)
    assert _run(cache.get(SRC)).origin == "broker"
    assert cache.warnings and "could not cache the catalog" in cache.warnings[0]


def test_invalid_sources_are_rejected() -> None:
    with pytest.raises(ValueError, match="relistDuration must be positive"):
        BrokerCatalogSource("b", "http://h", relist_duration=timedelta(0))
    with pytest.raises(ValueError, match="relistBehavior"):
        BrokerCatalogSource("b", "http://h", relist_behavior="Sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:p@h:8080/x?q=1", "http://h:8080/x?q=1"),
        ("https://u@h/", "https://h/"),
        ("http://u:p@[::1]:80/", "http://[::1]:80/"),
        ("http://h/", "http://h/"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_real_broker_catalog_through_cache(obapi_broker: Any, tmp_path: Path) -> None:
    async def fetch(source: BrokerCatalogSource) -> Mapping[str, Any]:
        async with httpx.AsyncClient(auth=(obapi_broker.username, obapi_broker.password)) as c:
            response = await c.get(f"{source.url}/v2/catalog",
                                   headers={"X-Broker-API-Version": "2.17"})
            response.raise_for_status()
            body: Mapping[str, Any] = response.json()
            return body

    src = BrokerCatalogSource("ClusterServiceBroker/obapi", obapi_broker.url)
    first = _run(CatalogCache(fetch, tmp_path).get(src))
    assert first.origin == "broker"
    obapi_broker.stop()  # a second run must not need the broker
    second = _run(CatalogCache(fetch, tmp_path).get(src))
    assert second.origin == "disk"
    assert [s.name for s in second.parse().services] == ["obapi-db", "obapi-queue"]


def test_an_invalid_catalog_is_not_written_to_disk(tmp_path: Path) -> None:
    fetch = FakeFetch({"services": [{"id": 1}]})
    cache = CatalogCache(fetch, tmp_path)
    with pytest.raises(CatalogError):
        _run(cache.get(SRC))
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
    fetch.catalog = CATALOG
    assert _run(CatalogCache(fetch, tmp_path).get(SRC)).origin == "broker"
    assert len(fetch.calls) == 2


def test_an_unusable_catalog_read_from_disk_says_so_and_how_to_refresh(tmp_path: Path) -> None:
    clock = Clock()
    _run(CatalogCache(FakeFetch(), tmp_path, clock=clock).get(SRC))
    (path,) = tmp_path.glob("*.json")
    entry = json.loads(path.read_text())
    entry["catalog"]["services"][0]["plans"] = "not a list"  # as an older catalogctl kept it
    path.write_text(json.dumps(entry))
    cached = _run(CatalogCache(FakeFetch(), tmp_path, clock=clock).get(SRC))
    assert cached.origin == "disk"
    with pytest.raises(CatalogError) as err:
        cached.parse()
    message = str(err.value)
    assert "read from the catalog cache" in message and str(path) in message
    assert "--refresh" in message
