"""Retrying a request the broker refused with ``422 ConcurrencyError``.

The spec: "Clients MUST wait until pending requests have completed" and
"Platforms MUST NOT perform Orphan Mitigation" for this error.  So the same
request is re-sent after a backoff, and nothing is deleted.  Other outcomes
are returned unchanged for the caller to handle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from catalogctl.providers.osb.outcomes import ConcurrencyError, Outcome

logger = logging.getLogger(__name__)


async def retry_on_concurrency_error(
    send: Callable[[], Awaitable[Outcome]],
    *,
    attempts: int = 6,
    initial_backoff: float = 1.0,
    max_backoff: float = 20.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """Call ``send`` until it answers something other than ConcurrencyError.

    Returns the last outcome, which is a :class:`ConcurrencyError` only when
    all ``attempts`` were refused.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = initial_backoff
    outcome = await send()
    for n in range(2, attempts + 1):
        if not isinstance(outcome, ConcurrencyError):
            break
        logger.info("broker busy (ConcurrencyError); retry %d/%d in %.1fs", n, attempts, delay)
        await sleep(delay)
        delay = min(delay * 2, max_backoff)
        outcome = await send()
    return outcome
