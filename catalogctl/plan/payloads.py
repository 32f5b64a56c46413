"""Typed private payloads: what apply needs about a change beyond what the plan shows.

A payload travels in ``Change.private`` as a plain mapping, so a saved plan
stays JSON; the diff writes it there with ``to_private`` and handlers read it
back with ``from_private`` at apply, and never index the mapping by string
keys themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol


class Payload(Protocol):
    def to_private(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BrokerPayload:
    """A broker: how to reach it (its connection record, without credentials)."""

    record: Mapping[str, Any]

    def to_private(self) -> dict[str, Any]:
        return {"broker": dict(self.record)}

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> BrokerPayload:
        return cls(private["broker"])


@dataclass(frozen=True)
class SecretPayload:
    """A binding Secret: the binding whose credentials fill it, and how they are transformed."""

    binding: str
    #: the binding's secretTransforms, as written (JSON)
    transforms: tuple[Mapping[str, Any], ...]
    checksum: str

    def to_private(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "transforms": list(self.transforms),
            "checksum": self.checksum,
        }

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> SecretPayload:
        return cls(str(private["binding"]), tuple(private["transforms"]), str(private["checksum"]))


@dataclass(frozen=True)
class MappingPayload:
    """A PodMapping: its spec, the Secret it maps, and the workload it patches."""

    #: the PodMapping object, as written (JSON)
    spec: Mapping[str, Any]
    secret_name: str
    checksum: str
    #: ``Kind/name`` of the workload
    target: str

    def to_private(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "secret_name": self.secret_name,
            "checksum": self.checksum,
            "target": self.target,
        }

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> MappingPayload:
        return cls(
            private["spec"],
            str(private["secret_name"]),
            str(private["checksum"]),
            str(private["target"]),
        )


@dataclass(frozen=True)
class UpdateHints:
    """What the diff found changed about an instance: what its in-place update sends.

    The diff adds them to the change's private mapping (only those set), next
    to the payload resolution made.
    """

    #: the top-level parameter keys to send (none: no parameters)
    changed_keys: tuple[str, ...] = ()
    #: send the plan id even if state has it (the live plan differs)
    plan_changed: bool = False
    #: send the plan's maintenance_info version (``--upgrade``)
    upgrade: bool = False
    #: send nothing: only where parameter values come from changed, state learns it
    state_only: bool = False

    def to_private(self) -> dict[str, Any]:
        hints = {**asdict(self), "changed_keys": list(self.changed_keys)}
        return {k: v for k, v in hints.items() if v}

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> UpdateHints:
        return cls(
            tuple(private.get("changed_keys") or ()),
            bool(private.get("plan_changed")),
            bool(private.get("upgrade")),
            bool(private.get("state_only")),
        )


@dataclass(frozen=True)
class InstancePayload:
    """A ServiceInstance: its spec, its broker, and what the resolved plan said."""

    #: the ServiceInstance object, as written (JSON)
    spec: Mapping[str, Any]
    #: the broker's connection record (no credentials); None if the broker is not configured
    broker: Mapping[str, Any] | None
    service_id: str
    plan_id: str
    maximum_polling_duration: float | None
    instances_retrievable: bool
    bindings_retrievable: bool
    maintenance_info: str | None
    external_id: str | None
    parameters_checksum: str
    #: the parameter keys whose values come from Secrets now (None in plans saved before)
    sensitive_keys: tuple[str, ...] | None = None
    hints: UpdateHints = UpdateHints()

    def to_private(self) -> dict[str, Any]:
        return {
            **self.hints.to_private(),
            "spec": self.spec,
            "broker": self.broker,
            "service_id": self.service_id,
            "plan_id": self.plan_id,
            "maximum_polling_duration": self.maximum_polling_duration,
            "instances_retrievable": self.instances_retrievable,
            "bindings_retrievable": self.bindings_retrievable,
            "maintenance_info": self.maintenance_info,
            "external_id": self.external_id,
            "parameters_checksum": self.parameters_checksum,
            "sensitive_keys": _listed(self.sensitive_keys),
        }

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> InstancePayload:
        return cls(
            spec=private["spec"],
            broker=private.get("broker"),
            service_id=str(private["service_id"]),
            plan_id=str(private["plan_id"]),
            maximum_polling_duration=private.get("maximum_polling_duration"),
            instances_retrievable=bool(private.get("instances_retrievable")),
            bindings_retrievable=bool(private.get("bindings_retrievable")),
            maintenance_info=private.get("maintenance_info"),
            external_id=private.get("external_id"),
            parameters_checksum=str(private.get("parameters_checksum") or ""),
            sensitive_keys=_keys(private.get("sensitive_keys")),
            hints=UpdateHints.from_private(private),
        )


@dataclass(frozen=True)
class RotationHints:
    """What the diff decided about a binding's create-before-destroy rotation.

    Set on a binding's change when bindings retire in this run: a new rotation
    (action ``create-then-delete``) or one an interrupted run left unfinished.
    Apply then adds a retire step after the binding's Secret and mappings.
    """

    #: the binding's predecessors are unbound once its Secret and mappings are applied
    retire: bool = False
    #: ``Kind/name`` of the workloads that read the binding's Secret and roll
    #: (``apply --wait`` waits for their rollouts before the unbind)
    workloads: tuple[str, ...] = ()

    def to_private(self) -> dict[str, Any]:
        return {"retire": self.retire, "rolling_workloads": list(self.workloads)}

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> RotationHints:
        return cls(
            retire=bool(private.get("retire")),
            workloads=tuple(str(w) for w in private.get("rolling_workloads") or ()),
        )


@dataclass(frozen=True)
class BindingPayload:
    """A ServiceBinding: its spec, its instance, and what the instance's plan said."""

    #: the ServiceBinding object, as written (JSON)
    spec: Mapping[str, Any]
    #: the instance's address
    instance: str
    checksum: str
    parameters_checksum: str
    bindings_retrievable: bool
    maximum_polling_duration: float | None
    #: the parameter keys whose values come from Secrets now (None in plans saved before)
    sensitive_keys: tuple[str, ...] | None = None
    #: what the diff decided about a rotation (written by the diff, next to the payload)
    rotation: RotationHints = RotationHints()

    def to_private(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "instance": self.instance,
            "checksum": self.checksum,
            "parameters_checksum": self.parameters_checksum,
            "bindings_retrievable": self.bindings_retrievable,
            "maximum_polling_duration": self.maximum_polling_duration,
            "sensitive_keys": _listed(self.sensitive_keys),
        }

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> BindingPayload:
        return cls(
            spec=private["spec"],
            instance=str(private["instance"]),
            checksum=str(private.get("checksum") or ""),
            parameters_checksum=str(private.get("parameters_checksum") or ""),
            bindings_retrievable=bool(private.get("bindings_retrievable")),
            maximum_polling_duration=private.get("maximum_polling_duration"),
            sensitive_keys=_keys(private.get("sensitive_keys")),
            rotation=RotationHints.from_private(private),
        )


def _listed(keys: tuple[str, ...] | None) -> list[str] | None:
    return list(keys) if keys is not None else None


def _keys(value: Any) -> tuple[str, ...] | None:
    return tuple(str(k) for k in value) if isinstance(value, list) else None
