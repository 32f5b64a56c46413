"""Broker connections and catalogs for a run.

Builds one :class:`OSBClient` per broker (credentials read through the secret
source chain), fetches each catalog once per run through the on-disk cache,
and applies catalogRestrictions, so that resolution sees exactly what Service
Catalog would have shown as classes and plans.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalogctl.errors import BrokerError
from catalogctl.model.brokers import Broker
from catalogctl.model.names import parse_go_duration
from catalogctl.model.validate import decode_ca_bundle
from catalogctl.providers.osb.catalog import Catalog
from catalogctl.providers.osb.catalog_cache import BrokerCatalogSource, CatalogCache
from catalogctl.providers.osb.config import (
    DEFAULT_MAX_RESPONSE_SIZE,
    Auth,
    BasicAuth,
    BearerAuth,
    BrokerConnection,
    NoAuth,
    OriginatingIdentity,
    Secret,
)
from catalogctl.providers.osb.outcomes import Done, describe
from catalogctl.providers.osb.retrying import RetryPolicy, send_with_retries
from catalogctl.providers.osb.selectors import CatalogRestrictions, apply_restrictions

if TYPE_CHECKING:
    from catalogctl.providers.osb.client import OSBClient

logger = logging.getLogger(__name__)

#: Reads one key of a Secret: (namespace, name, key) -> value.  Raises on absence.
ReadSecretKey = Callable[[str, str, str], bytes]


@dataclass(frozen=True)
class BrokerRecord:
    """What a run needs to reach a broker, stored in state without credentials.

    Kept in state so that instances can still be deleted after their broker
    left the configuration.
    """

    address: str
    url: str
    api_version: str
    auth_kind: str = "none"  # none | basic | bearer
    auth_namespace: str = ""
    auth_name: str = ""
    ca_bundle: str | None = None
    insecure_skip_tls_verify: bool = False

    @classmethod
    def from_broker(cls, address: str, broker: Broker, namespace: str) -> BrokerRecord:
        auth = broker.spec.auth_info
        kind, ns, name = "none", "", ""
        for candidate in ("basic", "bearer"):
            ref = getattr(auth, candidate) if auth is not None else None
            if ref is not None:
                kind, ns, name = (
                    candidate,
                    ref.secret_ref.namespace or namespace,
                    ref.secret_ref.name,
                )
        ca = decode_ca_bundle(broker.spec.ca_bundle) if broker.spec.ca_bundle else None
        return cls(
            address,
            broker.spec.url,
            broker.broker_api_version,
            kind,
            ns,
            name,
            ca.decode("ascii") if ca else None,
            broker.spec.insecure_skip_tls_verify,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BrokerRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class BrokerSettings:
    """Run-wide broker settings (flags and environment)."""

    cluster_id: str = "catalogctl"
    timeout: float = 60.0
    max_in_flight: int | None = None
    requests_per_second: float | None = None
    identity: OriginatingIdentity | None = None
    catalog_cache_dir: Path | None = None
    #: HTTP connections kept per broker (the run's --parallelism).
    pool_size: int = 16
    #: --max-response-size: the largest answer body read from a broker.
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE
    #: transient failures (connect, timeout, 408, 429, 5xx) are retried so (--retry-timeout)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class Brokers:
    """Clients and catalogs of every broker a run touches."""

    settings: BrokerSettings
    read_secret_key: ReadSecretKey
    global_slots: asyncio.Semaphore | None = None
    clients: dict[str, OSBClient] = field(default_factory=dict)
    records: dict[str, BrokerRecord] = field(default_factory=dict)
    _cache: CatalogCache | None = None

    def _auth(self, record: BrokerRecord) -> Auth:
        if record.auth_kind == "basic":
            user = self.read_secret_key(record.auth_namespace, record.auth_name, "username")
            password = self.read_secret_key(record.auth_namespace, record.auth_name, "password")
            return BasicAuth(user.decode(), Secret(password.decode()))
        if record.auth_kind == "bearer":
            token = self.read_secret_key(record.auth_namespace, record.auth_name, "token")
            return BearerAuth(Secret(token.decode().strip()))
        return NoAuth()

    def client(self, record: BrokerRecord) -> OSBClient:
        """The client for a broker, created on first use."""
        existing = self.clients.get(record.address)
        if existing is not None:
            return existing
        # Imported here: a plan served from cached catalogs needs no HTTP stack.
        from catalogctl.providers.osb.client import OSBClient

        conn = BrokerConnection(
            name=record.address,
            url=record.url,
            api_version=record.api_version,
            auth=self._auth(record),
            ca_bundle=record.ca_bundle.encode("ascii") if record.ca_bundle else None,
            insecure_skip_tls_verify=record.insecure_skip_tls_verify,
            timeout=self.settings.timeout,
            max_in_flight=self.settings.max_in_flight,
            requests_per_second=self.settings.requests_per_second,
            cluster_id=self.settings.cluster_id,
            originating_identity=self.settings.identity,
            max_response_size=self.settings.max_response_size,
        )
        # A pool no larger than the requests allowed in flight: httpcore scans
        # every pooled connection for each request it assigns, so an idle
        # surplus costs CPU on every one of thousands of requests.
        client = OSBClient(
            conn,
            global_slots=self.global_slots,
            max_connections=self.settings.max_in_flight or self.settings.pool_size,
        )
        self.clients[record.address] = client
        self.records[record.address] = record
        return client

    async def catalog(self, record: BrokerRecord, broker: Broker) -> Catalog:
        """The broker's catalog (cached per relist rules), with catalogRestrictions applied."""
        self.records[record.address] = record  # the client is made only if a fetch is needed
        if self._cache is None:
            self._cache = CatalogCache(self._fetch, self.settings.catalog_cache_dir)
        spec = broker.spec
        fingerprint = hashlib.sha256(
            json.dumps(
                [
                    record.to_dict(),
                    spec.catalog_restrictions.model_dump() if spec.catalog_restrictions else None,
                ],
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()
        source = BrokerCatalogSource(
            name=record.address,
            url=record.url,
            relist_behavior=spec.relist_behavior or "Duration",
            relist_duration=timedelta(seconds=parse_go_duration(spec.relist_duration))
            if spec.relist_duration
            else None,
            relist_requests=spec.relist_requests,
            spec_fingerprint=fingerprint,
        )
        cached = await self._cache.get(source)
        catalog = cached.parse()
        restrictions = spec.catalog_restrictions
        if restrictions is not None and (restrictions.service_class or restrictions.service_plan):
            catalog = apply_restrictions(
                catalog,
                CatalogRestrictions.from_spec(
                    restrictions.service_class,
                    restrictions.service_plan,
                    namespaced=not broker.cluster_scoped,
                ),
            )
        return catalog

    async def _fetch(self, source: BrokerCatalogSource) -> Mapping[str, Any]:
        client = self.client(self.records[source.name])
        outcome = await send_with_retries(
            client.get_catalog,
            self.settings.retry,
            on_retry=lambda notice: logger.warning("%s: GET /v2/catalog: %s", source.name, notice),
        )
        if not isinstance(outcome, Done) or not isinstance(outcome.body, Mapping):
            raise BrokerError(f"{source.name}: GET /v2/catalog failed: {describe(outcome)}")
        return outcome.body

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients.values()), return_exceptions=True)
