"""The one exception hierarchy of catalogctl.

Every error a user can meet derives from :class:`CatalogctlError`.  The CLI maps
classes to exit codes in exactly one place (``catalogctl.cli.exitcodes``); code
below the CLI never calls ``sys.exit``.  Messages must never contain secret
values: callers format them from addresses, field paths and broker-provided
descriptions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One validation finding, positioned in the user's input.

    Rendered as ``file:line:column: Kind/namespace/name: field.path: message``;
    empty parts are left out so that a YAML syntax error, which has no resource
    yet, still reads naturally.
    """

    file: str
    line: int
    column: int
    resource: str
    field: str
    message: str

    def render(self) -> str:
        parts = [f"{self.file}:{self.line}:{self.column}"]
        if self.resource:
            parts.append(self.resource)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class CatalogctlError(Exception):
    """Base of every error catalogctl reports to a user."""


class InputError(CatalogctlError):
    """The user's input (YAML, flags, saved plan) is unusable.

    Raised before any broker or cluster call is made.
    """


class ValidationFailed(InputError):
    """One or more :class:`Problem` s were found; all of them are reported at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems)
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found")


class UsageError(InputError):
    """Flags or arguments that contradict each other or name unknown things."""


class StalePlanError(InputError):
    """A saved plan no longer matches the state it was made against."""


class ProviderError(CatalogctlError):
    """A broker or cluster could not be reached or answered in a way we cannot use."""


class BrokerError(ProviderError):
    """An OSB broker failed a request outside the normal outcome values."""


class ClusterError(ProviderError):
    """The Kubernetes API (or the local cluster directory) failed a request."""


class OwnershipError(ClusterError):
    """An object exists in the cluster but catalogctl does not own it."""


class StateError(CatalogctlError):
    """The state backend cannot be read or written."""


class LockError(StateError):
    """The state is locked by another run (or the lock could not be taken)."""


class ApplyFailed(CatalogctlError):
    """Apply finished, but one or more resources failed; state holds what succeeded."""


class Interrupted(CatalogctlError):
    """The run was interrupted (Ctrl-C / SIGTERM) after saving state."""
