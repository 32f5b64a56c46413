"""Test hooks: the request log record and fault-injection rules.

Fault rules answer matching requests before any routing happens, with a Status body shaped like
the apiserver's, so catalogctl's retry and conflict handling can be driven deterministically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.kube.errors import ApiError


@dataclass
class RequestRecord:
    """One request as received. ``body`` is the decoded JSON/YAML (or text); it is kept out of
    ``repr`` so assertion failures never print Secret payloads."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any = field(repr=False)
    raw_body: bytes = field(repr=False, default=b"")
    status: int = 0
    fault: bool = False


@dataclass
class FaultRule:
    """What to do to the next ``count`` requests matching (method, path regex): wait
    ``delay_seconds`` first, then either drop the connection without an answer, answer with a
    Status error (``status`` > 0), or (``status`` 0) serve the request normally."""

    method: str
    path_regex: str
    status: int
    reason: str
    message: str
    count: int = 1
    details: dict[str, Any] | None = None
    retry_after_seconds: int | None = None
    delay_seconds: float = 0.0
    disconnect: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.count > 0 and self.method.upper() in (method.upper(), "*")
                and re.search(self.path_regex, path) is not None)

    def error(self) -> ApiError:
        details = dict(self.details or {})
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        return ApiError(self.status, self.reason, self.message, details)
