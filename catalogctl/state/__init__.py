"""State: what catalogctl last did to each resource, and where that is stored.

The engine imports from here only: the frozen value model (:class:`State`,
:class:`ResourceState`), the backend Protocols it programs against
(:class:`StateBackend` and its parts) and the default :class:`LocalBackend`.
"""

from catalogctl.state.backend import (
    Journal,
    LockInfo,
    StateBackend,
    StateLocker,
    StateReader,
    StateWriter,
)
from catalogctl.state.journal import BaseJournal
from catalogctl.state.local import LocalBackend
from catalogctl.state.models import (
    STATE_FORMAT_VERSION,
    InFlightOperation,
    OperationKind,
    ResourceState,
    ResourceStatus,
    State,
    checksum,
    validate_address,
)

__all__ = [
    "STATE_FORMAT_VERSION",
    "BaseJournal",
    "InFlightOperation",
    "Journal",
    "LocalBackend",
    "LockInfo",
    "OperationKind",
    "ResourceState",
    "ResourceStatus",
    "State",
    "StateBackend",
    "StateLocker",
    "StateReader",
    "StateWriter",
    "checksum",
    "validate_address",
]
