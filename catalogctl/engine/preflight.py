"""Checks an apply or destroy runs before its first broker request.

A broker call changes the world: once an instance is provisioned or a binding
made, failing to write its Secret leaves credentials nobody can read (and a
binding that is not retrievable must then be replaced).  So everything that
can be known beforehand is checked first, and all problems are reported
together, with no broker or cluster write made:

* the cluster target answers and allows every write the run may make, in every
  namespace it may write to (Secrets; workloads that PodMappings patch);
* the state backend takes a write;
* every Secret the run must read exists: ``parametersFrom``, ``addKeysFrom``
  and broker ``authInfo``.

Without a saved plan the checks run before planning, which itself talks to
brokers, so what the run may write is over-approximated from the desired
state and the state: every namespace a desired binding or PodMapping lives in,
and those of managed objects the run would delete.  A saved plan says exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalogctl.engine.brokers import BrokerRecord
from catalogctl.engine.ports import Access, ClusterPort
from catalogctl.errors import CatalogctlError, InputError
from catalogctl.model.address import Address
from catalogctl.model.bindings import SecretTransform, ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.podmappings import PodMapping
from catalogctl.plan.model import Action, Plan
from catalogctl.plan.payloads import (
    BindingPayload,
    BrokerPayload,
    InstancePayload,
    MappingPayload,
    SecretPayload,
)
from catalogctl.state.backend import StateBackend
from catalogctl.state.models import State

Private = Mapping[str, Any]


class PreflightFailed(InputError):
    """Checks before the first broker request failed; nothing was changed."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(
            f"preflight found {n} problem{'s' if n != 1 else ''}; nothing was changed:\n  "
            + "\n  ".join(self.problems)
        )


@dataclass(frozen=True, order=True)
class SecretNeed:
    """A Secret (one key of it, or all of it when ``key`` is None) that ``referrer`` reads."""

    namespace: str
    name: str
    key: str | None
    referrer: str


@dataclass
class Needs:
    """What a run may touch: accesses to check and Secrets to find."""

    accesses: set[Access] = field(default_factory=set)
    secrets: set[SecretNeed] = field(default_factory=set)

    def write_secrets(self, namespace: str) -> None:
        self.accesses.update(Access.secrets(namespace))

    def patch_workloads(self, namespace: str, kind: str) -> None:
        self.accesses.update(Access.workloads(namespace, kind))

    def broker_auth(self, referrer: str, kind: str, namespace: str, name: str) -> None:
        keys = {"basic": ("username", "password"), "bearer": ("token",)}.get(kind, ())
        for key in keys:
            self.secrets.add(SecretNeed(namespace, name, key, referrer))

    def parameters_from(self, referrer: str, namespace: str, spec: Any) -> None:
        for source in spec.parameters_from:
            ref = source.secret_key_ref
            if ref is not None:
                self.secrets.add(SecretNeed(namespace, ref.name, ref.key, referrer))

    def broker_record(self, referrer: str, record: Any) -> None:
        """The auth Secret a broker connection record (state's or a plan's) names."""
        if isinstance(record, Mapping):
            r = BrokerRecord.from_dict(record)
            self.broker_auth(referrer, r.auth_kind, r.auth_namespace, r.auth_name)

    def transforms(
        self, referrer: str, namespace: str, transforms: Iterable[SecretTransform]
    ) -> None:
        for transform in transforms:
            if transform.add_keys_from is not None:
                ref = transform.add_keys_from.secret_ref
                self.secrets.add(SecretNeed(ref.namespace or namespace, ref.name, None, referrer))


def _state_needs(needs: Needs, state: State, keep: set[str]) -> None:
    """What deleting state's resources outside ``keep`` touches."""
    for address, res in state.resources.items():
        if address in keep:
            continue
        namespace = address.split("/")[1] if address.count("/") == 2 else ""
        if res.kind == "Secret":
            needs.write_secrets(namespace)
        elif res.kind == "PodMapping":
            kind = str(res.attributes.get("target", "")).partition("/")[0]
            if kind:
                needs.patch_workloads(namespace, kind)
        needs.broker_record(address, res.attributes.get("broker_record"))


def needs_of_desired(desired: Desired | None, state: State, *, destroy: bool) -> Needs:
    """An over-approximation of what applying ``desired`` (or destroying) may touch."""
    needs = Needs()
    keep: set[str] = set()
    if desired is not None and not destroy:
        for res in desired.resources.values():
            obj, ns, address = res.obj, res.address.namespace, str(res.address)
            keep.add(address)
            if isinstance(obj, Broker):
                r = BrokerRecord.from_broker(address, obj, ns)
                needs.broker_auth(address, r.auth_kind, r.auth_namespace, r.auth_name)
            elif isinstance(obj, ServiceInstance):
                needs.parameters_from(address, ns, obj.spec)
            elif isinstance(obj, ServiceBinding):
                needs.parameters_from(address, ns, obj.spec)
                needs.transforms(address, ns, obj.spec.secret_transforms)
                needs.write_secrets(ns)
                keep.add(str(Address("Secret", ns, obj.effective_secret_name)))
            elif isinstance(obj, PodMapping):
                needs.patch_workloads(ns, obj.spec.target.kind)
    _state_needs(needs, state, keep)
    return needs


def needs_of_plan(plan: Plan, state: State) -> Needs:
    """Exactly what applying a saved ``plan`` touches."""
    needs = Needs()
    keep: set[str] = set()
    for change in plan.changes:
        if change.action is Action.NOOP:
            keep.add(change.address)
            continue
        if change.action is Action.DELETE:
            continue  # deleting: what state holds says what it touches
        keep.add(change.address)
        namespace = change.address.split("/")[1] if change.address.count("/") == 2 else ""
        add = _CHANGE_NEEDS.get(change.kind)
        if add is not None and change.private:
            add(needs, change.address, namespace, change.private)
    deleted = {c.address for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)}
    _state_needs(needs, state, keep - deleted)
    return needs


def _instance_needs(needs: Needs, address: str, namespace: str, private: Private) -> None:
    p = InstancePayload.from_private(private)
    needs.broker_record(address, p.broker)
    needs.parameters_from(address, namespace, ServiceInstance.model_validate(p.spec).spec)


def _binding_needs(needs: Needs, address: str, namespace: str, private: Private) -> None:
    spec = BindingPayload.from_private(private).spec
    needs.parameters_from(address, namespace, ServiceBinding.model_validate(spec).spec)


def _secret_needs(needs: Needs, address: str, namespace: str, private: Private) -> None:
    needs.write_secrets(namespace)
    transforms = SecretPayload.from_private(private).transforms
    needs.transforms(address, namespace, map(SecretTransform.model_validate, transforms))


def _mapping_needs(needs: Needs, address: str, namespace: str, private: Private) -> None:
    spec = MappingPayload.from_private(private).spec
    needs.patch_workloads(namespace, PodMapping.model_validate(spec).spec.target.kind)


def _broker_needs(needs: Needs, address: str, namespace: str, private: Private) -> None:
    needs.broker_record(address, BrokerPayload.from_private(private).record)


#: What a created or updated resource of each kind touches, from its change's payload.
_CHANGE_NEEDS: dict[str, Callable[[Needs, str, str, Private], None]] = {
    "ClusterServiceBroker": _broker_needs,
    "ServiceBroker": _broker_needs,
    "ServiceInstance": _instance_needs,
    "ServiceBinding": _binding_needs,
    "Secret": _secret_needs,
    "PodMapping": _mapping_needs,
}


def preflight_problems(needs: Needs, cluster: ClusterPort, backend: StateBackend) -> list[str]:
    """Every problem found; empty when the run may start.  Never reports a Secret's value.

    Each Secret is read once however many resources refer to it (a shared
    broker credential or parameters Secret may serve thousands).
    """
    problems: list[str] = []
    problems.extend(backend.check_writable())
    problems.extend(cluster.check_access(sorted(needs.accesses)))
    readers: dict[tuple[str, str, str | None], list[str]] = {}
    for need in sorted(needs.secrets):
        readers.setdefault((need.namespace, need.name, need.key), []).append(need.referrer)
    for (namespace, name, key), referrers in readers.items():
        try:
            if key is None:
                cluster.read_secret(namespace, name)
            else:
                cluster.read_secret_key(namespace, name, key)
        except CatalogctlError as exc:
            shown = ", ".join(referrers[:3])
            if len(referrers) > 3:
                shown += f" and {len(referrers) - 3} more"
            problems.append(f"{shown}: {exc}")
    return problems


def preflight(needs: Needs, cluster: ClusterPort, backend: StateBackend) -> None:
    """Raise PreflightFailed listing every problem :func:`preflight_problems` finds."""
    problems = preflight_problems(needs, cluster, backend)
    if problems:
        raise PreflightFailed(problems)
