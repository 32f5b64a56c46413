"""Take over a live Service Catalog installation: ``catalogctl migrate service-catalog``.

The order keeps every step safe to repeat and nothing live at risk:

1. read Service Catalog's objects and its cluster id (``default/cluster-info``);
2. write the desired-state YAML (only finished instances and bindings);
3. resolve that YAML against the brokers' catalogs (``GET /v2/catalog``; the
   instance and binding ``GET``\\ s where the catalog allows them) and build
   each state record as ``import`` does, with the ids, plan id and parameter
   checksum Service Catalog recorded;
4. adopt each binding Secret as it is (ownership marks added, the
   ServiceBinding ownerReference removed, data untouched, its digest kept);
   a binding whose Secret cannot be adopted is skipped, not recorded;
5. record everything in state in one journal commit;
6. with ``--release``, remove Service Catalog's finalizer from the objects
   taken over, so deleting them no longer waits for (or triggers) its controller.

No broker request that changes anything is sent.  With ``dry_run`` steps 1-3
run (reads only) and what steps 2, 4, 5 and 6 would write is reported instead.
A resource already in state with the same id is left as it is (a second run
finishes what a first one could not).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogctl.engine.adoption import (
    Imported,
    adopt_binding,
    adopt_instance,
    adopt_secret,
    check_not_tracked,
)
from catalogctl.engine.brokers import Brokers
from catalogctl.engine.cluster_identity import CLUSTER_ID_ATTRIBUTE
from catalogctl.engine.handlers import spec_checksum
from catalogctl.engine.inputs import load_inputs
from catalogctl.engine.planner import Resolution, resolve
from catalogctl.engine.sc_export import (
    Export,
    Inventory,
    Skipped,
    address_of,
    export_desired,
    recorded_checksum,
    recorded_parameters,
    recorded_plan_id,
)
from catalogctl.engine.session import Session
from catalogctl.errors import BrokerError, CatalogctlError, ClusterError, UsageError
from catalogctl.plan.payloads import BindingPayload
from catalogctl.providers.kubernetes.secrets import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_ANNOTATION,
    decode_data,
    owner_of,
    secret_data_digest,
)
from catalogctl.providers.kubernetes.servicecatalog import (
    FINALIZER,
    ServiceCatalogCluster,
    adopted_secret,
    controller_reference,
    is_service_catalog_binding,
)
from catalogctl.providers.kubernetes.statemark import StateMark
from catalogctl.state.models import ResourceState, State


@dataclass(frozen=True)
class MigrateOptions:
    out: Path
    #: Only this namespace's instances and bindings (None: all namespaces).
    namespace: str | None = None
    dry_run: bool = False
    release: bool = False


@dataclass
class Outcome:
    """What was (or, in a dry run, would be) written and changed."""

    files: dict[str, str] = field(default_factory=dict)
    cluster_id: str | None = None
    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class _Adoption:
    records: list[ResourceState] = field(default_factory=list)
    #: (Secret ref, object to PUT, binding address) for Secrets that still need marks.
    secret_writes: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def open_service_catalog(kubeconfig: str | None, context: str | None) -> ServiceCatalogCluster:
    """Service Catalog's objects in the cluster ``--kubeconfig``/``--context`` name."""
    from catalogctl.providers.kubernetes.connection import KubeConnection, KubeOptions

    return ServiceCatalogCluster(KubeConnection(KubeOptions(kubeconfig, context)))


def read_inventory(sc: ServiceCatalogCluster, namespace: str | None) -> Inventory:
    """Service Catalog's objects: cluster-scoped ones, and ``namespace``'s (or all)."""
    return Inventory(
        brokers=(
            *sc.list_objects("ClusterServiceBroker"),
            *sc.list_objects("ServiceBroker", namespace),
        ),
        classes=(
            *sc.list_objects("ClusterServiceClass"),
            *sc.list_objects("ServiceClass", namespace),
        ),
        plans=(*sc.list_objects("ClusterServicePlan"), *sc.list_objects("ServicePlan", namespace)),
        instances=tuple(sc.list_objects("ServiceInstance", namespace)),
        bindings=tuple(sc.list_objects("ServiceBinding", namespace)),
    )


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _rebuilt(res: ResourceState, **changes: Any) -> ResourceState:
    """``res`` with ``changes``, validated again (attributes are kept sorted)."""
    return ResourceState.model_validate({**res.model_dump(), **changes})


def _as_recorded(
    imported: Imported, obj: Mapping[str, Any], cluster_id: str | None
) -> ResourceState:
    """An instance record with the plan id, parameters and checksum Service Catalog recorded."""
    res = imported.resource
    changes: dict[str, Any] = {}
    plan_id = recorded_plan_id(obj)
    if plan_id:
        changes["plan_id"] = plan_id
    recorded = recorded_parameters(obj)
    if recorded is not None:  # externalProperties present: what was last sent
        changes["parameters_checksum"] = recorded_checksum(obj)
        if changes["parameters_checksum"] != res.parameters_checksum:
            changes["parameters"] = {
                k: v for k, v in recorded.items() if k not in res.sensitive_parameter_keys
            }
    if cluster_id:
        changes["attributes"] = {**res.attributes, CLUSTER_ID_ATTRIBUTE: cluster_id}
    return _rebuilt(res, **changes) if changes else res


def _binding_as_recorded(
    imported: Imported, obj: Mapping[str, Any], instance: str, resolution: Resolution
) -> ResourceState:
    """A binding record whose spec checksum covers the parameters Service Catalog bound with."""
    res = imported.resource
    if recorded_parameters(obj) is None:
        return res
    recorded = recorded_checksum(obj)
    if recorded == resolution.payload(res.address, BindingPayload).parameters_checksum:
        return res
    external_id = _spec(obj).get("externalID")
    return _rebuilt(
        res,
        parameters_checksum=recorded,
        attributes={
            **res.attributes,
            "checksum": spec_checksum([instance, recorded or "", external_id]),
        },
    )


def _skip(address: str, exc: CatalogctlError) -> Skipped:
    return Skipped(address, str(exc), "correct it and migrate again")


async def _adopt(
    session: Session,
    sc: ServiceCatalogCluster,
    export: Export,
    paths: list[str],
    state: State,
    cluster_id: str | None,
) -> _Adoption:
    done = _Adoption()
    inputs = load_inputs(paths)
    brokers = Brokers(
        session.settings, session.cluster.read_secret_key, asyncio.Semaphore(session.parallelism)
    )
    try:
        resolution = await resolve(inputs, state, brokers, session.cluster)
        records: dict[str, ResourceState] = dict(state.resources)
        for obj in export.instances:
            address = address_of(obj)
            osb_id = str(_spec(obj).get("externalID"))
            prior = state.get(address)
            if prior is not None and prior.instance_id == osb_id:
                done.already.append(address)
                continue
            try:
                check_not_tracked(state, address, osb_id)
                imported = await adopt_instance(address, osb_id, resolution, brokers)
            except (UsageError, BrokerError) as exc:
                done.skipped.append(_skip(address, exc))
                continue
            records[address] = _as_recorded(imported, obj, cluster_id)
            done.records.append(records[address])
            done.imported.append(address)
        for obj in export.bindings:
            await _adopt_binding(
                sc, obj, state, records, resolution, brokers, session.state_mark(state), done
            )
    finally:
        await brokers.aclose()
    return done


async def _adopt_binding(
    sc: ServiceCatalogCluster,
    obj: Mapping[str, Any],
    state: State,
    records: dict[str, ResourceState],
    resolution: Resolution,
    brokers: Brokers,
    mark: StateMark,
    done: _Adoption,
) -> None:
    """Build a binding's record and its Secret's, or skip it with the reason.

    The Secret is marked as written for the state ``mark`` names, as apply marks those
    it writes.
    """
    address = address_of(obj)
    ns = str(_meta(obj).get("namespace"))
    osb_id = str(_spec(obj).get("externalID"))
    instance = f"ServiceInstance/{ns}/{(_spec(obj).get('instanceRef') or {}).get('name')}"
    if instance not in records:
        done.skipped.append(
            Skipped(address, f"its instance {instance} was not taken over", "see above")
        )
        return
    secret_name = str(resolution.desired[address].attributes.get("secret_name"))
    secret_ref = f"{ns}/{secret_name}"
    secret = await asyncio.to_thread(sc.secret_object, ns, secret_name)
    if secret is None:
        done.skipped.append(
            Skipped(
                address,
                f"its Secret {secret_ref} does not exist",
                "unbind it in Service Catalog and bind again with catalogctl (add it to the "
                "YAML without spec.externalID)",
            )
        )
        return
    meta = _meta(secret)
    ref = controller_reference(meta)
    if is_service_catalog_binding(ref) and ref is not None:
        if ref.get("name") != _meta(obj).get("name"):
            done.skipped.append(
                Skipped(
                    address,
                    f"Secret {secret_ref} belongs to ServiceBinding {ref.get('name')}",
                    "give each binding its own spec.secretName in Service Catalog first",
                )
            )
            return
        write: dict[str, Any] | None = adopted_secret(secret, address, str(ref.get("uid")), mark)
    elif owner_of(meta) == address:
        write = None  # adopted by an earlier run
    else:
        done.skipped.append(
            Skipped(
                address,
                f"Secret {secret_ref} is not Service Catalog's (no ServiceBinding controller "
                "ownerReference) and not catalogctl's",
                "check who writes it; catalogctl adopts only Secrets Service Catalog wrote",
            )
        )
        return
    prior = state.get(address)
    if prior is not None and prior.binding_id != osb_id:
        done.skipped.append(
            Skipped(address, f"the state tracks it as binding {prior.binding_id}", "state rm it")
        )
        return
    if prior is None:
        try:
            check_not_tracked(state, address, osb_id)
            imported = await adopt_binding(address, osb_id, records[instance], resolution, brokers)
        except (UsageError, BrokerError) as exc:
            done.skipped.append(_skip(address, exc))
            return
        done.records.append(_binding_as_recorded(imported, obj, instance, resolution))
        done.imported.append(address)
    else:
        done.already.append(address)
    secret_address = f"Secret/{ns}/{secret_name}"
    if state.get(secret_address) is None:
        data = decode_data(secret.get("data") or {})
        done.records.append(
            adopt_secret(secret_address, address, resolution, secret_data_digest(data), list(data))
        )
    if write is not None:
        done.secret_writes.append((secret_ref, write, address))


def _write_files(out: Path, files: Mapping[str, str]) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


def migrate_service_catalog(
    session: Session,
    sc: ServiceCatalogCluster,
    options: MigrateOptions,
    say: Callable[[str], None],
) -> Outcome:
    """Run the migration (see the module docstring); ``say`` reports each change as it happens."""
    inventory = read_inventory(sc, options.namespace)
    export = export_desired(inventory)
    outcome = Outcome(files=dict(export.files), skipped=list(export.skipped))
    outcome.cluster_id = sc.cluster_id()
    if outcome.cluster_id:
        # Brokers know this platform by the id Service Catalog sent; keep sending it.
        session.settings.cluster_id = outcome.cluster_id
    if not export.files:
        return outcome
    with tempfile.TemporaryDirectory(prefix="catalogctl-migrate-") as scratch:
        folder = Path(scratch) if options.dry_run else options.out
        paths = _write_files(folder, export.files)
        for name, text in export.files.items():
            if options.dry_run:
                say(f"# would write {options.out / name}\n{text.rstrip()}\n")
            else:
                say(f"wrote {options.out / name}")
        with session.locked("migrate"):
            state = session.backend.read()
            done = asyncio.run(_adopt(session, sc, export, paths, state, outcome.cluster_id))
            outcome.skipped.extend(done.skipped)
            outcome.already = done.already
            adopted_bindings = _adopt_secrets(sc, done, options.dry_run, say, outcome)
            records = [
                r
                for r in done.records
                if r.kind == "ServiceInstance"
                or r.address in adopted_bindings
                or r.attributes.get("binding") in adopted_bindings
            ]
            outcome.imported = [a for a in done.imported if any(r.address == a for r in records)]
            for address in outcome.imported:
                say(f"{'would import' if options.dry_run else 'imported'} {address}")
            if records and not options.dry_run:
                with session.backend.begin(state) as journal:
                    for record in records:
                        journal.record(record)
                    journal.commit()
    if options.release:
        taken = {*outcome.imported, *outcome.already}
        _release(sc, export, taken, options.dry_run, say, outcome)
    return outcome


def _adopt_secrets(
    sc: ServiceCatalogCluster,
    done: _Adoption,
    dry_run: bool,
    say: Callable[[str], None],
    outcome: Outcome,
) -> set[str]:
    """Mark each binding Secret as catalogctl's; the bindings whose Secret is (now) adopted."""
    pending = {binding for _, _, binding in done.secret_writes}
    adopted = {
        r.address for r in done.records if r.kind == "ServiceBinding" and r.address not in pending
    } | set(done.already)
    for ref, body, binding in done.secret_writes:
        change = (
            f"Secret {ref}: add label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE} and annotation "
            f"{OWNER_ANNOTATION}={binding}, remove the ServiceBinding ownerReference "
            "(data unchanged)"
        )
        if dry_run:
            say(f"would change {change}")
            adopted.add(binding)
            continue
        try:
            sc.replace_secret(body)
        except ClusterError as exc:
            outcome.skipped.append(
                Skipped(binding, f"adopting Secret {ref} failed: {exc}", "migrate again")
            )
            continue
        say(f"changed {change}")
        outcome.secrets.append(ref)
        adopted.add(binding)
    return adopted


def _release(
    sc: ServiceCatalogCluster,
    export: Export,
    taken: set[str],
    dry_run: bool,
    say: Callable[[str], None],
    outcome: Outcome,
) -> None:
    """Remove Service Catalog's finalizer from the brokers and the objects taken over."""
    objects = [
        *export.brokers,
        *(o for o in (*export.instances, *export.bindings) if address_of(o) in taken),
    ]
    for obj in objects:
        finalizers = list(_meta(obj).get("finalizers") or ())
        if FINALIZER not in finalizers:
            continue
        address = address_of(obj)
        if dry_run:
            say(f"would remove finalizer {FINALIZER} from {address}")
            continue
        try:
            sc.set_finalizers(obj, [f for f in finalizers if f != FINALIZER])
        except ClusterError as exc:
            outcome.skipped.append(
                Skipped(
                    address,
                    f"removing its finalizer failed: {exc}",
                    "stop Service Catalog's controller (it changed the object), then run "
                    "migrate --release again",
                )
            )
            continue
        say(f"removed finalizer {FINALIZER} from {address}")
        outcome.released.append(address)
