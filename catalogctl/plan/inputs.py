"""What the pure diff reads: resolved desired resources and observed facts.

The engine builds these from YAML, broker catalogs and the cluster; the diff
only compares them.  Nothing here holds a secret value: sensitive inputs are
represented by checksums and key names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from catalogctl.plan.model import JSONPath


@dataclass(frozen=True)
class DesiredResource:
    """A desired resource with everything the diff compares.

    ``attributes`` is the non-sensitive after-value shown in the plan.
    ``identity`` holds fields whose change forces replacement (broker,
    service id, binding's instance, mapping target).  ``checksum`` covers the
    whole spec including sensitive inputs, so any edit is detected without
    storing values.
    """

    address: str
    kind: str
    attributes: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    sensitive_paths: tuple[JSONPath, ...] = ()
    identity: dict[str, Any] = field(default_factory=dict)
    checksum: str = ""
    # ServiceInstance
    plan_id: str | None = None
    plan_updateable: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    sensitive_parameter_keys: tuple[str, ...] = ()
    parameters_checksum: str = ""
    update_requests: int = 0
    maintenance_info_version: str | None = None
    #: Changed parameter keys the broker accepts only at creation (they force replacement).
    create_only_keys: tuple[str, ...] = ()
    #: True when the broker can return this binding's credentials again (GET binding).
    retrievable: bool = False
    #: Secret: the binding that produces it.
    producer: str | None = None
    #: ServiceBinding: ``spec.rotation`` (``create-before-destroy`` or ``destroy-first``).
    rotation: str = "create-before-destroy"
    #: ServiceBinding: the binding id ``spec.externalID`` fixes, if any.
    external_id: str | None = None


@dataclass(frozen=True)
class ObservedResource:
    """What refresh saw for a resource in state.

    ``exists`` is None when it could not be checked (broker does not support
    GET, or refresh was skipped).
    """

    address: str
    exists: bool | None
    attributes: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
    missing: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class DiffOptions:
    destroy: bool = False
    refresh_only: bool = False
    upgrade: bool = False
    targets: frozenset[str] | None = None
    replace: frozenset[str] = frozenset()
    #: Plan even when the input holds no managed resource while state does
    #: (which deletes everything); without it such a plan is refused.
    allow_empty: bool = False
    #: Replace bindings whose credentials are older than this (``--rotate-older-than``).
    rotate_older_than: timedelta | None = None
    #: The time ages are measured at: the diff reads no clock, the caller's is injected here.
    now: datetime | None = None
