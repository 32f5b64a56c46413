"""Brokers: a broker's credentials are read off the event loop, once per run."""

from __future__ import annotations

import asyncio
import threading

import pytest

from catalogctl.engine.brokers import BrokerRecord, Brokers, BrokerSettings
from catalogctl.errors import InputError

RECORD = BrokerRecord(
    "ClusterServiceBroker/b", "http://127.0.0.1:9", "2.17", "basic", "ns", "auth"
)


def test_concurrent_first_callers_share_one_read_made_off_the_event_loop() -> None:
    reads: list[tuple[str, bool]] = []
    loop_thread: list[threading.Thread] = []

    def read_secret_key(namespace: str, name: str, key: str) -> bytes:
        reads.append((key, threading.current_thread() is loop_thread[0]))
        return {"username": b"u", "password": b"p"}[key]

    async def main() -> None:
        loop_thread.append(threading.current_thread())
        brokers = Brokers(BrokerSettings(), read_secret_key)
        try:
            clients = await asyncio.gather(*(brokers.client(RECORD) for _ in range(5)))
        finally:
            await brokers.aclose()
        assert all(c is clients[0] for c in clients)

    asyncio.run(main())
    assert reads == [("username", False), ("password", False)]


def test_a_failed_read_is_not_kept() -> None:
    answers: list[bytes | Exception] = [InputError("Secret ns/auth not found"), b"u", b"p"]

    def read_secret_key(namespace: str, name: str, key: str) -> bytes:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def main() -> None:
        brokers = Brokers(BrokerSettings(), read_secret_key)
        try:
            with pytest.raises(InputError):
                await brokers.client(RECORD)
            assert await brokers.client(RECORD) is brokers.clients[RECORD.address]
        finally:
            await brokers.aclose()

    asyncio.run(main())
    assert answers == []
