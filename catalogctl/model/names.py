"""Kubernetes name rules and Go duration parsing, as the API server applies them."""

from __future__ import annotations

import re

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def dns1123_label_error(value: str) -> str | None:
    """Return why ``value`` is not a DNS-1123 label (namespaces), or None."""
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _DNS1123_LABEL.match(value):
        return (
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character"
        )
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    """Return why ``value`` is not a DNS-1123 subdomain (object names), or None."""
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character"
        )
    return None


def env_var_name_error(value: str) -> str | None:
    """Return why ``value`` is not a valid environment variable name, or None."""
    if not _ENV_VAR_NAME.match(value):
        return (
            "a valid environment variable name must consist of alphabetic characters, "
            "digits, '_', '-', or '.', and must not start with a digit"
        )
    return None


def secret_key_error(value: str) -> str | None:
    """Return why ``value`` is not a valid Secret data key, or None (the API server's rules).

    Validation of the input, the cluster targets and the check of a broker's
    credential keys all use this one rule.
    """
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _SECRET_KEY.match(value):
        return "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
    if value in (".", ".."):
        return f"must not be {value!r}"
    if value.startswith(".."):
        return "must not start with '..'"
    return None


def parse_go_duration(text: str) -> float:
    """Parse a Go ``time.Duration`` string (``90s``, ``1h30m``) into seconds.

    Service Catalog's ``relistDuration`` is a metav1.Duration, so manifests use
    this syntax.  Raises ValueError for anything Go would reject.
    """
    s = text.strip()
    if s in ("0", ""):
        if s == "0":
            return 0.0
        raise ValueError("empty duration")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f"invalid duration {text!r} (expected e.g. 30s, 15m, 1h30m)")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total
