"""Catalogs of chosen brokers for browsing (``catalogctl catalog``): each one or why not.

The brokers are the ones declared in ``-f`` files, or one ad-hoc ``--broker-url``;
each is read through :meth:`Brokers.catalog` (the on-disk cache and its relist
rules), concurrently, and a broker that fails spares the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from catalogctl.engine.brokers import BrokerRecord, Brokers, BrokerSettings, ReadSecretKey
from catalogctl.engine.inputs import Inputs
from catalogctl.errors import CatalogctlError, InputError, UsageError
from catalogctl.model.brokers import Broker
from catalogctl.providers.kubernetes.secrets import MissingSecretError
from catalogctl.providers.kubernetes.sources import ChainSecretSource, env_var_name
from catalogctl.providers.osb.catalog import Catalog, CatalogError
from catalogctl.providers.osb.catalog_cache import redact_url


@dataclass(frozen=True)
class BrokerCatalog:
    """One broker's (restriction-filtered) catalog, under the name users see for the broker."""

    broker: str
    catalog: Catalog


@dataclass(frozen=True)
class Fetched:
    """Catalogs that could be read, and one message per broker that could not."""

    catalogs: tuple[BrokerCatalog, ...]
    errors: tuple[str, ...]


class LazySecrets:
    """The engine's Secret chain (environment, ``--secrets-dir``, cluster), cluster opened last.

    ``plan`` opens the cluster up front because it writes there; browsing only
    reads broker credentials, which CI jobs and laptops usually provide through
    ``CATALOGCTL_SECRET_*`` variables.  Opening the cluster only when a value is
    missing from those keeps ``catalog`` usable without any kubeconfig, while a
    value that really lives in the cluster is still found.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | None,
        context: str | None,
        cluster_dir: str | None,
        secrets_dir: str | None,
        namespace: str,
    ) -> None:
        self._cluster_options = {
            "kubeconfig": kubeconfig,
            "context": context,
            "cluster_dir": cluster_dir,
            "secrets_dir": secrets_dir,
            "namespace": namespace,
        }
        self._local = ChainSecretSource.standard(None, secrets_dir)
        self._cluster_read: ReadSecretKey | None = None

    def __call__(self, namespace: str, name: str, key: str) -> bytes:
        value = self._local.read_key(namespace, name, key)
        if value is not None:
            return value
        if self._cluster_read is None:
            from catalogctl.engine.cluster import open_cluster

            try:
                cluster = open_cluster(**self._cluster_options)
            except InputError as exc:
                raise MissingSecretError(
                    f"Secret {namespace}/{name} key {key!r} not found (looked in: "
                    f"{self._local.description}; environment variable "
                    f"{env_var_name(namespace, name, key)}) and {exc}"
                ) from None
            self._cluster_read = cluster.read_secret_key
        return self._cluster_read(namespace, name, key)


def check_broker_url(url: str) -> None:
    """Refuse credentials in ``--broker-url``, before anything echoes the URL back."""
    if redact_url(url) != url:
        raise UsageError(
            "--broker-url must not contain credentials; use --broker-username "
            "with --broker-password-env, or --broker-token-env"
        )


def url_target(url: str, api_version: str, auth_kind: str) -> tuple[BrokerRecord, Broker]:
    """``--broker-url``: a stand-in broker spec (no restrictions, default relist rules)."""
    record = BrokerRecord(url.rstrip("/"), url, api_version, auth_kind)
    spec = {
        "apiVersion": "servicecatalog.k8s.io/v1beta1",
        "kind": "ClusterServiceBroker",
        "metadata": {"name": "broker-url"},
        "spec": {"url": url},
    }
    try:
        return record, Broker.model_validate(spec)
    except ValidationError:
        raise UsageError(f"--broker-url: not a usable URL: {url!r}") from None


def declared_targets(inputs: Inputs) -> list[tuple[BrokerRecord, Broker]]:
    """Every broker the ``-f`` files declare, with how to reach it."""
    return [
        (BrokerRecord.from_broker(str(res.address), broker, res.address.namespace), broker)
        for res, broker in inputs.desired.of_type(Broker)
    ]


def read_catalogs(
    targets: Sequence[tuple[BrokerRecord, Broker]],
    settings: BrokerSettings,
    read_secret_key: ReadSecretKey,
    *,
    refresh: bool,
    parallelism: int,
) -> Fetched:
    """Every target's catalog, read concurrently; a broker that fails spares the others.

    Each failure is one message naming its broker; ``refresh`` fetches anew
    instead of using a cached copy.
    """

    async def read() -> list[Catalog | BaseException]:
        brokers = Brokers(settings, read_secret_key, asyncio.Semaphore(parallelism))
        try:
            return await asyncio.gather(
                *(brokers.catalog(record, broker, refresh=refresh) for record, broker in targets),
                return_exceptions=True,
            )
        finally:
            await brokers.aclose()

    catalogs: list[BrokerCatalog] = []
    errors: list[str] = []
    for (record, _), result in zip(targets, asyncio.run(read()), strict=True):
        if isinstance(result, BaseException) and not isinstance(result, CatalogctlError):
            raise result
        if isinstance(result, CatalogError):
            # A CatalogError lists the catalog's problems one per line on purpose;
            # anything else is one line, even when a broker's description is not.
            errors.append(_named(record.address, str(result)))
        elif isinstance(result, CatalogctlError):
            errors.append(_named(record.address, " ".join(str(result).split())))
        else:
            catalogs.append(BrokerCatalog(record.address, result))
    return Fetched(tuple(catalogs), tuple(errors))


def _named(address: str, message: str) -> str:
    """Brokers.catalog names the broker in fetch errors but not in every Secret or TLS error."""
    return message if address in message else f"{address}: {message}"
