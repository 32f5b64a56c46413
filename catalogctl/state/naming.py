"""One way to name a state: a directory, a PostgreSQL URL or a Kubernetes location.

The ``--state`` value (or ``CATALOGCTL_STATE``) is one of::

    DIR                                                   local directory backend
    postgresql://USER[:PASSWORD]@HOST:PORT/DB[?params]#NAME   PostgreSQL backend
    kubernetes://NAMESPACE/NAME                           Kubernetes backend

Parsing is pure: nothing is opened or connected here.  A password given in the
URL is kept only in :attr:`PostgresStateName.conninfo` (never in ``repr`` or
:meth:`display`), so messages, lock info and logs show the URL without it.
libpq reads ``PGPASSWORD`` and ``~/.pgpass`` by itself when the URL has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from catalogctl.errors import UsageError

#: A state name inside a database or namespace: short, safe in object names.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
#: A Kubernetes namespace (an RFC 1123 label).
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

#: A URL scheme (RFC 3986); anything else before "://" is part of a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")

DEFAULT_NAME = "default"


@dataclass(frozen=True)
class LocalStateName:
    """A directory of the local backend."""

    directory: str

    def display(self) -> str:
        return self.directory


@dataclass(frozen=True)
class PostgresStateName:
    """A state in a PostgreSQL database; ``name`` selects one of several."""

    #: The libpq URL to connect with (may hold a password: never print it).
    conninfo: str = field(repr=False)
    #: The same URL without the password, for messages.
    redacted: str
    name: str = DEFAULT_NAME
    #: The password given in the URL, if any, so errors can be scrubbed of it.
    password: str | None = field(default=None, repr=False)

    def display(self) -> str:
        return f"{self.redacted}#{self.name}"

    def scrub(self, text: str) -> str:
        """``text`` with the URL's password (and the URL holding it) removed."""
        if self.password:
            text = text.replace(self.conninfo, self.redacted)
            text = text.replace(self.password, "***")
        return text


@dataclass(frozen=True)
class KubernetesStateName:
    """A state kept in Secrets and a Lease in one namespace."""

    namespace: str
    name: str

    def display(self) -> str:
        return f"kubernetes://{self.namespace}/{self.name}"


StateName = LocalStateName | PostgresStateName | KubernetesStateName


def parse_state_name(text: str) -> StateName:
    """Parse a ``--state`` value; :class:`UsageError` names what is wrong.

    Anything without a ``scheme://`` prefix is a directory, as before remote
    backends existed, so existing ``--state DIR`` values keep working.
    """
    if not text:
        raise UsageError("--state: empty value (give a directory or a backend URL)")
    scheme, sep, _ = text.partition("://")
    if not sep or not _SCHEME.match(scheme):
        return LocalStateName(text)
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return _parse_postgres(text)
    if scheme == "kubernetes":
        return _parse_kubernetes(text)
    raise UsageError(
        f"--state: unknown backend {scheme!r} (use a directory, postgresql://… or kubernetes://…)"
    )


def _check_name(name: str, what: str, shown: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"--state {shown}: {what} {name!r} must be 1-40 lowercase letters, digits "
            "or '-', starting and ending with a letter or digit"
        )
    return name


def _parse_postgres(text: str) -> PostgresStateName:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        # The value may hold a password: do not echo it.
        raise UsageError("--state: malformed postgresql:// URL") from None
    password = unquote(parts.password) if parts.password is not None else None
    redacted = _without_password(parts)
    if not parts.hostname:
        raise UsageError(f"--state {redacted}: give a host (postgresql://USER@HOST:PORT/DB#NAME)")
    if not parts.path.strip("/"):
        raise UsageError(
            f"--state {redacted}: give a database (postgresql://USER@HOST:PORT/DB#NAME)"
        )
    del port  # validated above; libpq reads it from the URL
    name = unquote(parts.fragment) or DEFAULT_NAME
    _check_name(name, "state name", redacted)
    conninfo = urlunsplit(parts._replace(fragment=""))
    return PostgresStateName(
        conninfo=conninfo, redacted=redacted, name=name, password=password or None
    )


def _without_password(parts: SplitResult) -> str:
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc, fragment=""))


def _parse_kubernetes(text: str) -> KubernetesStateName:
    rest = text.partition("://")[2]
    pieces = rest.split("/")
    if len(pieces) != 2 or not all(pieces):
        raise UsageError(f"--state {text}: expected kubernetes://NAMESPACE/NAME")
    namespace, name = pieces
    if not _NAMESPACE.match(namespace):
        raise UsageError(f"--state {text}: {namespace!r} is not a valid namespace name")
    return KubernetesStateName(namespace=namespace, name=_check_name(name, "state name", text))
