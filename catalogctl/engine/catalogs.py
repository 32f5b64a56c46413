"""Catalogs of chosen brokers for browsing (``catalogctl catalog``): each one or why not."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from catalogctl.engine.brokers import BrokerRecord, Brokers, BrokerSettings, ReadSecretKey
from catalogctl.errors import CatalogctlError
from catalogctl.model.brokers import Broker
from catalogctl.providers.osb.catalog import Catalog


def read_catalogs(
    targets: Sequence[tuple[BrokerRecord, Broker]],
    settings: BrokerSettings,
    read_secret_key: ReadSecretKey,
    *,
    refresh: bool,
    parallelism: int,
) -> list[Catalog | CatalogctlError]:
    """Every target's catalog, read concurrently; a broker that fails spares the others.

    Each result is the catalog or the error that names why it could not be
    read; ``refresh`` fetches anew instead of using a cached copy.
    """

    async def read() -> list[Catalog | CatalogctlError]:
        brokers = Brokers(settings, read_secret_key, asyncio.Semaphore(parallelism))
        try:
            results = await asyncio.gather(
                *(brokers.catalog(record, broker, refresh=refresh) for record, broker in targets),
                return_exceptions=True,
            )
        finally:
            await brokers.aclose()
        out: list[Catalog | CatalogctlError] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, CatalogctlError):
                raise result
            out.append(result)
        return out

    return asyncio.run(read())
