"""How to reach one broker: URL, API version, credentials, TLS and request limits.

A :class:`BrokerConnection` is a frozen value built once per broker from the
user's ``ClusterServiceBroker``/``ServiceBroker`` (plus the Secret it points at)
and handed to :class:`~catalogctl.providers.osb.client.OSBClient`.  Everything
that differs between real brokers is a field here rather than a constant in the
client, because brokers in the wild pin exact API versions (e.g. ``"2.14"``),
sit behind private CAs, or accept only a bearer token.

Credentials are wrapped in :class:`Secret` so that a ``repr()`` of the
connection, a logged exception or a debugger dump never shows them.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import ssl
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import httpx

from catalogctl.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION: Final = "2.17"
DEFAULT_TIMEOUT_S: Final = 60.0
"""OSB's conventional request timeout; the spec's OM table says "typically 60 s"."""
DEFAULT_MAX_RESPONSE_SIZE: Final = 10 * 1024 * 1024
"""10 MiB: a catalog of hundreds of plans with schemas is a few hundred KiB."""


class Secret:
    """A string that refuses to show itself.

    ``repr``/``str``/format all print ``'********'``; the value is reachable only
    through :meth:`reveal`, which makes every place that puts a secret on the
    wire easy to find with grep.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value; call only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __copy__(self) -> Secret:
        return self  # immutable; copying config (dataclasses, deepcopy) must work

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would silently copy the secret into caches or plan files.
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication: the spec's MUST unless agreed out of band."""

    username: str
    password: Secret


@dataclass(frozen=True)
class BearerAuth:
    """``Authorization: Bearer``: not in the OSB spec, an opt-in Kubernetes extension."""

    token: Secret


@dataclass(frozen=True)
class NoAuth:
    """No ``Authorization`` header (test and in-cluster brokers)."""


Auth = BasicAuth | BearerAuth | NoAuth


@dataclass(frozen=True)
class OriginatingIdentity:
    """The Kubernetes ``user.info`` sent in ``X-Broker-API-Originating-Identity``.

    The profile requires ``username``, ``uid``, ``groups`` and ``extra``; Service
    Catalog took them from the requester recorded by its admission webhook.  A
    CLI has no webhook, so the caller configures who it acts for (by default the
    engine uses the current kubeconfig user).
    """

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def as_json_object(self) -> dict[str, object]:
        return {
            "username": self.username,
            "uid": self.uid,
            "groups": list(self.groups),
            "extra": {k: list(v) for k, v in self.extra},
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class BrokerConnection:
    """Everything needed to talk to one broker.

    ``name`` is the broker's address (``ClusterServiceBroker/cloud``) and appears
    in logs and error messages; ``url`` is the OSB base URL (a path prefix is
    allowed).  ``max_in_flight`` bounds concurrent HTTP requests to this broker
    and ``requests_per_second`` feeds a token bucket; both are off when ``None``.
    ``cluster_id`` becomes ``context.clusterid`` and ``organization_guid``.
    """

    name: str
    url: str
    api_version: str = DEFAULT_API_VERSION
    auth: Auth = field(default_factory=NoAuth)
    ca_bundle: bytes | None = None
    insecure_skip_tls_verify: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    max_in_flight: int | None = None
    requests_per_second: float | None = None
    platform: str = "kubernetes"
    cluster_id: str = ""
    originating_identity: OriginatingIdentity | None = None
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{self.name}: broker url must be http(s)://host[:port][/path]")
        if parts.username is not None or parts.password is not None:
            # httpx logs request URLs; credentials belong in ``auth``.
            raise InputError(f"{self.name}: put broker credentials in auth, not in the url")
        if self.ca_bundle is not None and self.insecure_skip_tls_verify:
            # Same rule as Service Catalog's broker validation: the two contradict.
            raise InputError(f"{self.name}: caBundle and insecureSkipTLSVerify are exclusive")
        if self.timeout <= 0:
            raise InputError(f"{self.name}: timeout must be positive")
        if self.max_response_size < 1:
            raise InputError(f"{self.name}: max_response_size must be positive")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise InputError(f"{self.name}: max_in_flight must be at least 1")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise InputError(f"{self.name}: requests_per_second must be positive")
        if not self.api_version:
            raise InputError(f"{self.name}: api_version must not be empty")
        # The rules allow bearer tokens over TLS only.  Loopback is exempt: the
        # token never leaves the machine (local test brokers, port-forwards).
        if (
            isinstance(self.auth, BearerAuth)
            and parts.scheme != "https"
            and not _is_loopback(parts.hostname)
        ):
            raise InputError(f"{self.name}: bearer authentication requires an https url")

    def ssl_verify(self) -> ssl.SSLContext | bool:
        """The ``verify`` argument for httpx, warning loudly when verification is off."""
        if self.insecure_skip_tls_verify:
            logger.warning(
                "%s: TLS certificate verification is DISABLED (insecureSkipTLSVerify); "
                "credentials and service keys can be intercepted",
                self.name,
            )
            return False
        if self.ca_bundle is not None:
            try:
                return ssl.create_default_context(cadata=self.ca_bundle.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError, ValueError) as e:
                raise InputError(f"{self.name}: caBundle is not a valid PEM bundle") from e
        return system_trust(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def system_trust(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The verifying context of brokers without a caBundle, shared by every client.

    Loading the trust store is most of what creating an ``httpx.AsyncClient``
    costs, so clients share one context per trust-store setting.  The arguments
    are the cache key: httpx reads SSL_CERT_FILE/SSL_CERT_DIR itself
    (``trust_env``), so a changed setting gets a context of its own.
    """
    del cert_file, cert_dir
    return httpx.create_ssl_context(trust_env=True)
