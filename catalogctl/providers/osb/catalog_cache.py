"""Fetch each broker's catalog at most once per run, and reuse it across runs per relist rules.

Why cache at all: ``plan`` resolves every class/plan selector against catalogs,
and a CLI is run many times in a row (plan, apply, plan again).  Refetching
large catalogs from every broker on every invocation is slow and, for brokers
that rate-limit, harmful.  Why not cache forever: catalogs change (new
``maintenance_info`` versions, removed plans) and a stale catalog produces wrong
plans, so the relist rules users already wrote for Service Catalog apply.

Rules (``BrokerCatalogSource``):

* Within one run (one :class:`CatalogCache` object) a broker's catalog is
  fetched at most once; concurrent callers share the fetch.
* ``relistBehavior: Duration`` (the default): reuse the cached copy until it is
  ``relistDuration`` old.  Service Catalog's default was 24 h because its
  controller also relisted on errors and every broker spec change.  A CLI only
  notices staleness when a broker rejects a request (``MaintenanceInfoConflict``),
  so catalogctl uses a shorter default, **15 minutes**
  (:data:`DEFAULT_RELIST_DURATION`): long enough for a plan → apply → plan
  session, short enough that a broker upgrade is picked up within one coffee.
* ``relistBehavior: Manual``: reuse the cached copy until ``relistRequests``
  increases or the broker spec changes.
* Under both behaviours, a change of ``relistRequests`` or of the broker spec
  (``spec_fingerprint``) forces a refetch, as a generation change did in
  Service Catalog; ``refresh=True`` (a ``--refresh-catalogs`` flag) and
  :meth:`CatalogCache.invalidate` (after ``MaintenanceInfoConflict``) do too.

Only a catalog that passed validation (:func:`parse_catalog`) is stored: a
broker that answers a broken catalog is asked again next run, and one fixed a
minute later is used a minute later.  A stored catalog that fails validation
(written by an older catalogctl) is named as coming from the cache, with how to
fetch it again.

On disk: one JSON file per broker, ``<directory>/<sha256>.json`` with mode 0600
in a 0700 directory, written atomically.  No credential is stored: the URL's
user-info part is removed, and so is the only secret a catalog may contain
(``dashboard_client.secret``).  A corrupt or foreign file is ignored and
replaced.  The fetch itself is an injected async callable, so this module does
not depend on the HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from catalogctl.providers.osb.catalog import Catalog, CatalogError, parse_catalog

__all__ = [
    "DEFAULT_RELIST_DURATION",
    "BrokerCatalogSource",
    "CachedCatalog",
    "CatalogCache",
    "FetchCatalog",
    "RelistBehavior",
    "redact_catalog",
    "redact_url",
]

DEFAULT_RELIST_DURATION = timedelta(minutes=15)
"""Reuse window for ``relistBehavior: Duration`` brokers without ``relistDuration``."""

_FORMAT = 1

RelistBehavior = Literal["Duration", "Manual"]


@dataclass(frozen=True)
class BrokerCatalogSource:
    """What the cache needs to know about one broker.

    ``name`` must be unique across all brokers of a run; use the resource
    address (``ClusterServiceBroker/x``, ``ServiceBroker/ns/x``).
    ``spec_fingerprint`` is any string that changes when the broker spec changes
    in a way that may change the catalog (URL, TLS settings, *which* auth Secret,
    restrictions); it must not contain secrets, because it is stored.
    """

    name: str
    url: str
    relist_behavior: RelistBehavior = "Duration"
    relist_duration: timedelta | None = None
    relist_requests: int = 0
    spec_fingerprint: str = ""

    def __post_init__(self) -> None:
        if self.relist_duration is not None and self.relist_duration <= timedelta(0):
            raise ValueError(f"broker {self.name!r}: relistDuration must be positive")
        if self.relist_behavior not in ("Duration", "Manual"):
            raise ValueError(f"broker {self.name!r}: relistBehavior must be Duration or Manual")


@dataclass(frozen=True)
class CachedCatalog:
    """A catalog and where it came from in this run.

    ``origin`` is ``"broker"`` (fetched now), ``"disk"`` (reused from an earlier
    run) or ``"memory"`` (already obtained earlier in this run).
    """

    broker: str
    url: str
    raw: Mapping[str, Any] = field(repr=False)
    fetched_at: datetime
    origin: Literal["broker", "disk", "memory"]
    #: the validated catalog, when already parsed in this run
    parsed: Catalog | None = field(default=None, repr=False, compare=False)
    #: the cache file a ``disk`` catalog was read from
    path: Path | None = None

    def parse(self) -> Catalog:
        """The typed catalog (raises :class:`~catalogctl.providers.osb.catalog.CatalogError`).

        The error of a catalog read from the cache says so, and how to refresh it.
        """
        if self.parsed is not None:
            return self.parsed
        try:
            return parse_catalog(self.raw, broker=self.broker)
        except CatalogError as exc:
            if self.origin == "broker":
                raise
            where = f" ({self.path})" if self.path is not None else ""
            raise CatalogError(
                self.broker,
                [
                    *exc.problems,
                    f"this catalog was read from the catalog cache{where}, fetched "
                    f"{self.fetched_at:%Y-%m-%d %H:%M:%S} UTC; delete that file or run "
                    "`catalogctl catalog classes --refresh` with the same -f to fetch it again",
                ],
            ) from None


FetchCatalog = Callable[[BrokerCatalogSource], Awaitable[Mapping[str, Any]]]
"""``async def fetch(source) -> dict``: GET /v2/catalog for that broker, the raw JSON."""


def redact_url(url: str) -> str:
    """The URL without ``user:password@`` so it can be stored and shown."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_catalog(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a raw catalog without ``dashboard_client.secret`` values."""
    copy: dict[str, Any] = json.loads(json.dumps(raw))
    services = copy.get("services")
    if isinstance(services, list):
        for service in services:
            if isinstance(service, dict) and isinstance(service.get("dashboard_client"), dict):
                service["dashboard_client"].pop("secret", None)
    return copy


class CatalogCache:
    """Per-run memo plus optional on-disk cache of broker catalogs.

    ``directory=None`` disables the disk cache (every run fetches once).
    ``clock`` returns epoch seconds and exists for tests.
    """

    def __init__(
        self,
        fetch: FetchCatalog,
        directory: Path | str | None = None,
        *,
        default_relist_duration: timedelta = DEFAULT_RELIST_DURATION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._directory = Path(directory) if directory is not None else None
        self._default_duration = default_relist_duration
        self._clock = clock
        self._memo: dict[tuple[str, str], CachedCatalog] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.warnings: list[str] = []
        """Disk-cache problems (e.g. an unwritable directory); the run goes on without it."""

    @staticmethod
    def _key(source: BrokerCatalogSource) -> tuple[str, str]:
        return (source.name, redact_url(source.url))

    def path_for(self, source: BrokerCatalogSource) -> Path | None:
        """The cache file of a broker (``None`` without a directory).

        Keyed by name *and* URL: two brokers on one URL with different
        credentials may legitimately see different catalogs.
        """
        if self._directory is None:
            return None
        name, url = self._key(source)
        digest = hashlib.sha256(f"{name}\n{url}".encode()).hexdigest()
        return self._directory / f"{digest}.json"

    async def get(self, source: BrokerCatalogSource, *, refresh: bool = False) -> CachedCatalog:
        """Return the broker's catalog, fetching only when the relist rules require it.

        ``refresh=True`` ignores the disk copy (but still fetches at most once per
        run).  Fetch errors propagate and leave the cache untouched.
        """
        key = self._key(source)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            memo = self._memo.get(key)
            if memo is not None and (not refresh or memo.origin == "broker"):
                return replace(memo, origin="memory")
            if not refresh:
                cached = self._read_fresh(source)
                if cached is not None:
                    self._memo[key] = cached
                    return cached
            raw = await self._fetch(source)
            # Validated before it is stored: a broken catalog is never cached
            # (CatalogError propagates and the disk entry stays as it was).
            if not isinstance(raw, Mapping):
                parse_catalog(raw, broker=source.name)  # raises, naming the broker
            redacted = redact_catalog(raw)
            parsed = parse_catalog(redacted, broker=source.name)
            now = self._clock()
            result = CachedCatalog(
                source.name,
                key[1],
                redacted,
                datetime.fromtimestamp(now, UTC),
                "broker",
                parsed,
            )
            try:
                self._write(source, result, now)
            except OSError as exc:
                self.warnings.append(
                    f"could not cache the catalog of broker {source.name!r}: {exc.strerror}"
                )
            self._memo[key] = result
            return result

    def invalidate(self, source: BrokerCatalogSource) -> None:
        """Forget the broker's catalog in memory and on disk (next :meth:`get` fetches)."""
        key = self._key(source)
        self._memo.pop(key, None)
        path = self.path_for(source)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # ------------------------------------------------------------------ disk

    def _read_fresh(self, source: BrokerCatalogSource) -> CachedCatalog | None:
        path = self.path_for(source)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        name, url = self._key(source)
        if not (
            isinstance(entry, dict)
            and entry.get("format") == _FORMAT
            and entry.get("broker") == name
            and entry.get("url") == url
            and isinstance(entry.get("catalog"), dict)
            and isinstance(entry.get("fetched_at"), int | float)
            and isinstance(entry.get("relist_requests"), int)
        ):
            return None
        if entry["relist_requests"] != source.relist_requests:
            return None  # a bump (or a reset) of relistRequests forces a relist
        if entry.get("spec_fingerprint") != source.spec_fingerprint:
            return None
        fetched_at = float(entry["fetched_at"])
        now = self._clock()
        if fetched_at > now:
            return None  # clock went backwards; do not trust the age
        if source.relist_behavior == "Duration":
            duration = source.relist_duration or self._default_duration
            if now - fetched_at >= duration.total_seconds():
                return None
        return CachedCatalog(
            name,
            url,
            entry["catalog"],
            datetime.fromtimestamp(fetched_at, UTC),
            "disk",
            path=path,
        )

    def _write(self, source: BrokerCatalogSource, result: CachedCatalog, now: float) -> None:
        path = self.path_for(source)
        if path is None:
            return
        _make_private_dirs(path.parent)
        entry = {
            "format": _FORMAT,
            "broker": result.broker,
            "url": result.url,
            "fetched_at": now,
            "relist_requests": source.relist_requests,
            "spec_fingerprint": source.spec_fingerprint,
            "catalog": result.raw,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _make_private_dirs(directory: Path) -> None:
    """``mkdir -p`` giving every directory it creates mode 0700.

    ``Path.mkdir(mode=..., parents=True)`` applies the mode to the last
    directory only; the cache usually lives in the state directory, which
    names every service and so must not become world-readable when a
    ``catalog`` command is the first to create it.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
