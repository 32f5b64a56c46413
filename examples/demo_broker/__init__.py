"""The quickstart's demo OSB broker (``cloud-queue``); see :mod:`examples.demo_broker.broker`."""

from examples.demo_broker.broker import DemoBroker, DemoBrokerServer, catalog, main

__all__ = ["DemoBroker", "DemoBrokerServer", "catalog", "main"]
