"""Planning: resolve the desired state against broker catalogs, refresh, diff.

Everything here is read-only towards brokers and clusters (GET catalog, GET
instance/binding, read Secrets and workloads), which is what makes ``plan``
safe to run anywhere (architecture invariant 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from catalogctl import __version__
from catalogctl.engine.brokers import BrokerRecord, Brokers
from catalogctl.engine.inputs import Inputs
from catalogctl.engine.ports import ClusterPort
from catalogctl.errors import CatalogctlError, Problem, ValidationFailed
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import LoadedResource
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.podmappings import PodMapping
from catalogctl.plan.diff import compute_plan
from catalogctl.plan.inputs import DesiredResource, DiffOptions, ObservedResource
from catalogctl.plan.model import JSONPath, Plan
from catalogctl.providers.osb.catalog import (
    Catalog,
    PlanReference,
    PlanResolutionError,
    ResolvedPlan,
    resolve_plan,
    visible_catalogs,
)
from catalogctl.providers.osb.outcomes import Done, NotFound
from catalogctl.providers.osb.params import (
    MergedParameters,
    ParameterError,
    SecretParameters,
    merge_parameters,
    validate_for_plan,
)
from catalogctl.state.models import ResourceState, ResourceStatus, State


def spec_checksum(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def mapping_checksum(spec: Mapping[str, Any], secret_name: str) -> str:
    """A PodMapping's checksum: its spec and the Secret it maps.

    ``rollout`` at its default (true) is left out, so mappings applied before
    the field existed keep their checksum and are not all re-applied (and their
    workloads rolled) by an upgrade; they pick up the revision annotation at
    their Secret's next change.
    """
    if spec.get("rollout") is True:
        spec = {k: v for k, v in spec.items() if k != "rollout"}
    return spec_checksum([spec, secret_name])


@dataclass
class Resolution:
    """What resolution learned, needed again by apply."""

    desired: dict[str, DesiredResource] = field(default_factory=dict)
    private: dict[str, dict[str, Any]] = field(default_factory=dict)
    upgrades: list[str] = field(default_factory=list)


def _plan_reference(inst: ServiceInstance, namespace: str) -> PlanReference:
    s = inst.spec
    return PlanReference(
        cluster_service_class_external_name=s.cluster_service_class_external_name,
        cluster_service_plan_external_name=s.cluster_service_plan_external_name,
        cluster_service_class_external_id=s.cluster_service_class_external_id,
        cluster_service_plan_external_id=s.cluster_service_plan_external_id,
        cluster_service_class_name=s.cluster_service_class_name,
        cluster_service_plan_name=s.cluster_service_plan_name,
        service_class_external_name=s.service_class_external_name,
        service_plan_external_name=s.service_plan_external_name,
        service_class_external_id=s.service_class_external_id,
        service_plan_external_id=s.service_plan_external_id,
        service_class_name=s.service_class_name,
        service_plan_name=s.service_plan_name,
        namespace=namespace,
    )


def _selector_path(inst: ServiceInstance) -> JSONPath:
    for alias in (
        "clusterServiceClassExternalName",
        "clusterServiceClassExternalID",
        "clusterServiceClassName",
        "serviceClassExternalName",
        "serviceClassExternalID",
        "serviceClassName",
    ):
        if inst.spec.selector(alias) is not None:
            return ("spec", alias)
    return ("spec",)


def merged_parameters(
    res: LoadedResource,
    parameters: Mapping[str, Any] | None,
    sources: list[Any],
    cluster: ClusterPort,
) -> tuple[MergedParameters | None, list[Problem]]:
    """Merge inline parameters with parametersFrom Secrets; problems carry YAML positions."""
    ns = res.address.namespace
    secrets: list[SecretParameters] = []
    problems: list[Problem] = []
    for i, src in enumerate(sources):
        ref = src.secret_key_ref
        if ref is None:
            continue
        try:
            value = cluster.read_secret_key(ns, ref.name, ref.key)
        except CatalogctlError as exc:
            problems.append(res.problem(("spec", "parametersFrom", i, "secretKeyRef"), str(exc)))
            continue
        secrets.append(SecretParameters(ref.name, ref.key, value, i))
    if problems:
        return None, problems
    try:
        return merge_parameters(parameters, secrets), []
    except ParameterError as exc:
        return None, [
            res.problem(_param_position(p.source, p.parts), p.message) for p in exc.problems
        ]


def _param_position(source: str, parts: tuple[str | int, ...]) -> JSONPath:
    if source.startswith("parametersFrom["):
        return ("spec", "parametersFrom", int(source[len("parametersFrom[") : -1]))
    return ("spec", "parameters", *parts)


def _schema_problems(res: LoadedResource, found: list[Any]) -> list[Problem]:
    """JSON-schema findings positioned at the parameter (or parametersFrom entry) in YAML."""
    return [
        res.problem(
            _param_position(p.source, p.parts), f"rejected by the plan's schema: {p.message}"
        )
        for p in found
    ]


def create_only_keys(plan: ResolvedPlan, keys: Iterable[str]) -> tuple[str, ...]:
    """Of ``keys``, those the broker accepts only when an instance is created.

    That is: the create schema declares them, and the update schema declares
    its keys and admits no others.  A change to one of them needs a new
    instance, as Terraform's ``# forces replacement`` says.
    """
    create = plan.schemas.instance_create or {}
    update = plan.schemas.instance_update or {}
    created = create.get("properties")
    updated = update.get("properties")
    if not isinstance(created, Mapping) or not isinstance(updated, Mapping):
        return ()
    if update.get("additionalProperties", True) is not False:
        return ()
    return tuple(sorted(k for k in keys if k in created and k not in updated))


def _split_sensitive(
    merged: MergedParameters,
) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]:
    """(sensitive keys, values safe to store, values to show with secrets as None)."""
    sensitive = tuple(sorted(merged.sensitive_keys))
    visible = {k: v for k, v in merged.values.items() if k not in merged.sensitive_keys}
    shown = dict(visible)
    shown.update({k: None for k in sensitive})
    return sensitive, visible, shown


async def resolve(
    inputs: Inputs,
    state: State,
    brokers: Brokers,
    cluster: ClusterPort,
    *,
    preview_workloads: bool = True,
    replacing: frozenset[str] = frozenset(),
) -> Resolution:
    """Fetch catalogs, resolve plans, merge and validate parameters.

    Raises ValidationFailed (with positions) for selector and parameter
    problems, before anything is changed anywhere.
    """
    desired = inputs.desired
    out = Resolution()
    problems: list[Problem] = []
    broker_objs = list(desired.of_type(Broker))
    records = {
        str(res.address): BrokerRecord.from_broker(str(res.address), b, res.address.namespace)
        for res, b in broker_objs
    }
    catalogs_list = await asyncio.gather(
        *(brokers.catalog(records[str(res.address)], b) for res, b in broker_objs)
    )
    catalogs: dict[str, Catalog] = {
        str(res.address): c for (res, _), c in zip(broker_objs, catalogs_list, strict=True)
    }
    cluster_catalogs = [c for a, c in catalogs.items() if a.startswith("ClusterServiceBroker/")]
    namespaced: dict[str, list[Catalog]] = {}
    for a, c in catalogs.items():
        if a.startswith("ServiceBroker/"):
            namespaced.setdefault(a.split("/")[1], []).append(c)

    for res, b in broker_objs:
        address = str(res.address)
        out.desired[address] = DesiredResource(address, res.address.kind, {"url": b.spec.url})
        out.private[address] = {"broker": records[address].to_dict()}

    resolved: dict[str, ResolvedPlan] = {}
    # Thousands of instances share a handful of selectors: each is resolved once.
    by_reference: dict[PlanReference, ResolvedPlan | PlanResolutionError] = {}
    for res, inst in desired.of_type(ServiceInstance):
        address = str(res.address)
        ref = _plan_reference(inst, res.address.namespace)
        plan_or_error = by_reference.get(ref)
        if plan_or_error is None:
            try:
                plan_or_error = resolve_plan(
                    ref, visible_catalogs(ref, cluster=cluster_catalogs, namespaced=namespaced)
                )
            except PlanResolutionError as exc:
                plan_or_error = exc
            by_reference[ref] = plan_or_error
        if isinstance(plan_or_error, PlanResolutionError):
            # Point at the field the resolver blamed (an unknown plan is the plan's fault).
            where = ("spec", plan_or_error.field) if plan_or_error.field else _selector_path(inst)
            problems.append(res.problem(where, str(plan_or_error)))
            continue
        plan = plan_or_error
        resolved[address] = plan
        merged, found = merged_parameters(
            res, inst.spec.parameters, inst.spec.parameters_from, cluster
        )
        problems.extend(found)
        if merged is None:
            continue
        merged_sum = merged.checksum  # computed once: Go-JSON marshalling is not free
        prior = state.get(address)
        create_only: tuple[str, ...] = ()
        if prior is not None and prior.status is ResourceStatus.READY and address not in replacing:
            # An update sends only the changed keys, so that is what the update schema sees;
            # a key only the create schema knows forces a replacement, which the create
            # schema must then accept.
            moved = merged_sum != (prior.parameters_checksum or "")
            payload = {
                k: v
                for k, v in merged.values.items()
                if (k in merged.sensitive_keys and moved) or prior.parameters.get(k) != v
            }
            create_only = create_only_keys(plan, payload)
            if create_only:
                found_params = validate_for_plan(plan, "instance_create", merged)
            elif payload:
                found_params = validate_for_plan(plan, "instance_update", payload)
            else:
                found_params = []
        else:
            found_params = validate_for_plan(plan, "instance_create", merged)
        problems.extend(_schema_problems(res, found_params))
        sensitive, visible, shown = _split_sensitive(merged)
        mi = plan.maintenance_info.version if plan.maintenance_info else None
        if (
            prior is not None
            and mi
            and prior.maintenance_info_version
            and prior.maintenance_info_version != mi
        ):
            out.upgrades.append(
                f"{address}: maintenance_info {prior.maintenance_info_version} -> {mi}"
            )
        attrs = {
            "broker": plan.broker,
            "class": plan.offering.name,
            "plan": plan.plan.name,
            "service_id": plan.service_id,
            "plan_id": plan.plan_id,
            "parameters": shown,
            "update_requests": inst.spec.update_requests,
        }
        out.desired[address] = DesiredResource(
            address,
            "ServiceInstance",
            attrs,
            depends_on=(plan.broker,),
            sensitive_paths=tuple(("parameters", k) for k in sensitive),
            identity={"broker": plan.broker, "service_id": plan.service_id},
            plan_id=plan.plan_id,
            plan_updateable=plan.plan_updateable,
            parameters=visible,
            sensitive_parameter_keys=sensitive,
            parameters_checksum=merged_sum,
            update_requests=inst.spec.update_requests,
            maintenance_info_version=mi,
            retrievable=plan.instances_retrievable,
            create_only_keys=create_only,
        )
        out.private[address] = {
            "spec": inst.model_dump(by_alias=True, exclude_none=True, mode="json"),
            "broker": records[plan.broker].to_dict() if plan.broker in records else None,
            "service_id": plan.service_id,
            "plan_id": plan.plan_id,
            "maximum_polling_duration": plan.maximum_polling_duration,
            "instances_retrievable": plan.instances_retrievable,
            "bindings_retrievable": plan.bindings_retrievable,
            "maintenance_info": mi,
            "external_id": inst.spec.external_id,
            "parameters_checksum": merged_sum,
            "sensitive_keys": list(sensitive),
        }

    for res, binding in desired.of_type(ServiceBinding):
        address = str(res.address)
        instance = str(
            Address("ServiceInstance", res.address.namespace, binding.spec.instance_ref.name)
        )
        bplan = resolved.get(instance)
        if bplan is None:
            continue
        plan = bplan
        if not plan.bindable:
            problems.append(
                res.problem(
                    ("spec", "instanceRef", "name"),
                    f"{instance} uses plan {plan.plan.name!r}, which is not bindable",
                )
            )
            continue
        merged, found = merged_parameters(
            res, binding.spec.parameters, binding.spec.parameters_from, cluster
        )
        problems.extend(found)
        if merged is None:
            continue
        merged_sum = merged.checksum  # computed once: Go-JSON marshalling is not free
        problems.extend(_schema_problems(res, validate_for_plan(plan, "binding_create", merged)))
        sensitive, visible, shown = _split_sensitive(merged)
        secret_name = binding.effective_secret_name
        attrs = {"instance": instance, "secret_name": secret_name, "parameters": shown}
        checksum = spec_checksum([instance, merged_sum, binding.spec.external_id])
        out.desired[address] = DesiredResource(
            address,
            "ServiceBinding",
            attrs,
            depends_on=(instance,),
            sensitive_paths=(*(("parameters", k) for k in sensitive), ("credentials",)),
            identity={"instance": instance},
            checksum=checksum,
            parameters=visible,
            sensitive_parameter_keys=sensitive,
            parameters_checksum=merged_sum,
            retrievable=plan.bindings_retrievable,
        )
        out.private[address] = {
            "spec": binding.model_dump(by_alias=True, exclude_none=True, mode="json"),
            "instance": instance,
            "checksum": checksum,
            "parameters_checksum": merged_sum,
            "sensitive_keys": list(sensitive),
            "bindings_retrievable": plan.bindings_retrievable,
            "maximum_polling_duration": plan.maximum_polling_duration,
        }
        secret = str(Address("Secret", res.address.namespace, secret_name))
        transforms = [
            t.model_dump(by_alias=True, exclude_none=True, mode="json")
            for t in binding.spec.secret_transforms
        ]
        s_checksum = spec_checksum(transforms)
        out.desired[secret] = DesiredResource(
            secret,
            "Secret",
            {"namespace": res.address.namespace, "name": secret_name, "type": "Opaque"},
            depends_on=(address,),
            checksum=s_checksum,
            producer=address,
        )
        out.private[secret] = {"binding": address, "transforms": transforms, "checksum": s_checksum}

    mappings = list(desired.of_type(PodMapping))
    # A mapping into a workload that does not exist is an input error: say so
    # at plan time, not halfway through an apply.  (Read-only, concurrent.)
    exists = await asyncio.gather(
        *(
            asyncio.to_thread(
                cluster.workload_exists,
                res.address.namespace,
                m.spec.target.kind,
                m.spec.target.name,
            )
            for res, m in mappings
        )
    )
    for (res, mapping), present in zip(mappings, exists, strict=True):
        if not present:
            wanted = mapping.spec.target
            problems.append(
                res.problem(
                    ("spec", "target", "name"),
                    f"{wanted.kind} {wanted.name!r} does not exist in namespace "
                    f"{res.address.namespace!r}",
                )
            )
    exists_by_address = {
        str(res.address): present for (res, _), present in zip(mappings, exists, strict=True)
    }
    for res, mapping in mappings:
        address = str(res.address)
        binding_addr = str(
            Address("ServiceBinding", res.address.namespace, mapping.spec.binding_ref.name)
        )
        bres = desired.get(Address.parse(binding_addr))
        if bres is None or not isinstance(bres.obj, ServiceBinding):
            continue
        secret_name = bres.obj.effective_secret_name
        secret = str(Address("Secret", res.address.namespace, secret_name))
        spec = mapping.model_dump(by_alias=True, exclude_none=True, mode="json")
        target = f"{mapping.spec.target.kind}/{mapping.spec.target.name}"
        env = {
            e.name: (f"secretKeyRef {secret_name}/{e.key}" if e.key is not None else e.value)
            for e in mapping.spec.env
        }
        attrs = {
            "target": target,
            "containers": mapping.spec.target.containers or ["*"],
            "env": env,
            "envFrom": spec["spec"].get("envFrom"),
            "volume": spec["spec"].get("volume"),
            "rollout": mapping.spec.rollout,
        }
        if preview_workloads and exists_by_address.get(address):
            # What the patch will do to the workload, as the plan shows it
            # (read-only; nothing here is a Secret value).
            seen = await asyncio.to_thread(
                cluster.observe_mapping, res.address.namespace, mapping, secret_name, address
            )
            if seen.pending:
                attrs["workload"] = [str(change) for change in seen.pending]
        checksum = mapping_checksum(spec["spec"], secret_name)
        out.desired[address] = DesiredResource(
            address,
            "PodMapping",
            attrs,
            depends_on=(secret,),
            identity={"target": target},
            checksum=checksum,
        )
        out.private[address] = {
            "spec": spec,
            "secret_name": secret_name,
            "checksum": checksum,
            "target": target,
        }
    if problems:
        raise ValidationFailed(problems)
    return out


async def refresh(
    state: State,
    resolution: Resolution,
    brokers: Brokers,
    cluster: ClusterPort,
    *,
    concurrency: int = 16,
) -> dict[str, ObservedResource]:
    """Read live state for every resource in state, concurrently and read-only."""
    limit = asyncio.Semaphore(concurrency)
    observed: dict[str, ObservedResource] = {}

    async def observe(res: ResourceState) -> None:
        if res.status is not ResourceStatus.READY:
            return
        async with limit:
            result = await _observe_one(res, state, resolution, brokers, cluster)
        if result is not None:
            observed[res.address] = result

    await asyncio.gather(*(observe(r) for r in state.resources.values()))
    return observed


async def _observe_one(
    res: ResourceState, state: State, resolution: Resolution, brokers: Brokers, cluster: ClusterPort
) -> ObservedResource | None:
    attrs = res.attributes
    record_data = attrs.get("broker_record")
    if isinstance(record_data, dict) and res.broker is not None:
        # A broker still in the configuration is read as configured now.
        current = resolution.private.get(res.broker, {}).get("broker")
        if isinstance(current, dict):
            record_data = current
    if (
        res.kind == "ServiceInstance"
        and attrs.get("instances_retrievable")
        and isinstance(record_data, dict)
    ):
        client = brokers.client(BrokerRecord.from_dict(record_data))
        outcome = await client.get_instance(
            res.instance_id or "", service_id=res.service_id, plan_id=res.plan_id
        )
        if isinstance(outcome, Done) and isinstance(outcome.body, Mapping):
            return ObservedResource(
                res.address,
                True,
                {
                    "parameters": outcome.body.get("parameters"),
                    "plan_id": outcome.body.get("plan_id"),
                },
            )
        if isinstance(outcome, NotFound):
            return ObservedResource(
                res.address, False, detail=f"the broker answered 404 for instance {res.instance_id}"
            )
        return None
    if (
        res.kind == "ServiceBinding"
        and attrs.get("bindings_retrievable")
        and isinstance(record_data, dict)
    ):
        client = brokers.client(BrokerRecord.from_dict(record_data))
        outcome = await client.get_binding(
            res.instance_id or "",
            res.binding_id or "",
            service_id=res.service_id,
            plan_id=res.plan_id,
        )
        if isinstance(outcome, Done):
            return ObservedResource(res.address, True)
        if isinstance(outcome, NotFound):
            return ObservedResource(
                res.address, False, detail=f"the broker answered 404 for binding {res.binding_id}"
            )
        return None
    if res.kind == "Secret":
        ns, name = res.address.split("/")[1:]
        seen = await asyncio.to_thread(cluster.observe_binding_secret, ns, name)
        if not seen.exists:
            return ObservedResource(res.address, False, detail="the Secret no longer exists")
        return ObservedResource(res.address, True, content_hash=seen.data_hash)
    if res.kind == "PodMapping":
        private = resolution.private.get(res.address)
        if private is None:
            return None
        mapping = PodMapping.model_validate(private["spec"])
        ns = res.address.split("/")[1]
        seen_map = await asyncio.to_thread(
            cluster.observe_mapping, ns, mapping, private["secret_name"], res.address
        )
        if not seen_map.workload_exists:
            return ObservedResource(
                res.address,
                False,
                detail=f"{mapping.spec.target.kind}/{mapping.spec.target.name} no longer exists",
            )
        if private.get("checksum") != res.attributes.get("checksum"):
            # The configuration changed the mapping: its new entries are not applied yet, so
            # their absence is the pending update, not a change made outside catalogctl.
            return ObservedResource(res.address, True)
        # An entry edited in place (say TOPIC now from another key) is as wrong as a missing one.
        return ObservedResource(res.address, True, missing=(*seen_map.missing, *seen_map.changed))
    return None


async def make_plan(
    inputs: Inputs | None,
    state: State,
    brokers: Brokers,
    cluster: ClusterPort,
    options: DiffOptions,
    *,
    do_refresh: bool = True,
) -> Plan:
    """Resolve, refresh and diff: the whole of ``catalogctl plan``.

    A destroy plan needs no catalogs: everything to delete, and the broker to
    delete it at, is in state.
    """
    if inputs is None or options.destroy:
        resolution = Resolution()
    else:
        resolution = await resolve(
            inputs,
            state,
            brokers,
            cluster,
            preview_workloads=do_refresh,
            replacing=options.replace,
        )
    observed = await refresh(state, resolution, brokers, cluster) if do_refresh else {}
    plan = compute_plan(
        resolution.desired,
        state,
        observed,
        options,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        upgrades_available=tuple(resolution.upgrades),
        private=resolution.private,
    )
    return plan
