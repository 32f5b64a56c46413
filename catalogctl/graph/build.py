"""Build the dependency graph of a desired state."""

from __future__ import annotations

from collections.abc import Mapping

from catalogctl.errors import Problem
from catalogctl.graph.dag import ResourceGraph
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired, LoadedResource
from catalogctl.model.instances import SELECTOR_FORMS, ServiceInstance
from catalogctl.model.podmappings import PodMapping


def secret_address(res: LoadedResource, binding: ServiceBinding) -> Address:
    """The address of the Secret a binding writes."""
    return Address("Secret", res.address.namespace, binding.effective_secret_name)


def brokers_by_scope(desired: Desired) -> dict[tuple[str, str], list[Address]]:
    """Declared brokers grouped by (kind, namespace), computed once per graph."""
    out: dict[tuple[str, str], list[Address]] = {}
    for a in desired.resources:
        if a.kind in ("ClusterServiceBroker", "ServiceBroker"):
            out.setdefault((a.kind, a.namespace), []).append(a)
    return out


def candidate_brokers(
    res: LoadedResource,
    inst: ServiceInstance,
    desired: Desired,
    scopes: dict[tuple[str, str], list[Address]] | None = None,
) -> list[Address]:
    """Brokers an instance may be served by, before catalogs are read.

    A ``broker/offering`` qualified external name names one broker; otherwise
    every broker of the selector's scope is a candidate, which orders the walk
    safely until catalogs pin the real one.
    """
    for class_field, _plan, scope, form in SELECTOR_FORMS:
        value = inst.spec.selector(class_field)
        if value is None:
            continue
        kind = "ClusterServiceBroker" if scope == "cluster" else "ServiceBroker"
        ns = "" if scope == "cluster" else res.address.namespace
        if form == "external name" and "/" in value:
            return [Address(kind, ns, value.partition("/")[0])]
        if scopes is None:
            scopes = brokers_by_scope(desired)
        return list(scopes.get((kind, ns), ()))
    return []


def build_graph(
    desired: Desired, instance_brokers: Mapping[Address, Address] | None = None
) -> tuple[ResourceGraph, list[Problem]]:
    """Return the graph and any cycle problems.

    ``instance_brokers`` (instance → broker, from catalog resolution) replaces
    the candidate edges when known.
    """
    graph = ResourceGraph()
    scopes = brokers_by_scope(desired)
    produced: dict[Address, Address] = {}  # Secret address -> binding address
    for res in desired.resources.values():
        graph.add_node(res.address)
        if isinstance(res.obj, ServiceBinding):
            secret = secret_address(res, res.obj)
            produced[secret] = res.address
            graph.add_node(secret)
            graph.add_edge(res.address, secret, ("spec", "secretName"))

    def consume(secret: Address, consumer: Address, field: tuple[str | int, ...]) -> None:
        if secret in produced:
            graph.add_edge(secret, consumer, field)

    for res in desired.resources.values():
        obj, addr, ns = res.obj, res.address, res.address.namespace
        if isinstance(obj, Broker):
            auth = obj.spec.auth_info
            for kind in ("basic", "bearer"):
                ref = getattr(auth, kind) if auth else None
                if ref is not None:
                    consume(
                        Address("Secret", ref.secret_ref.namespace or ns, ref.secret_ref.name),
                        addr,
                        ("spec", "authInfo", kind, "secretRef"),
                    )
        elif isinstance(obj, ServiceInstance):
            brokers = (
                [instance_brokers[addr]]
                if instance_brokers and addr in instance_brokers
                else candidate_brokers(res, obj, desired, scopes)
            )
            for broker in brokers:
                if broker in desired.resources:
                    graph.add_edge(broker, addr, ("spec",))
            for i, src in enumerate(obj.spec.parameters_from):
                if src.secret_key_ref is not None:
                    consume(
                        Address("Secret", ns, src.secret_key_ref.name),
                        addr,
                        ("spec", "parametersFrom", i),
                    )
        elif isinstance(obj, ServiceBinding):
            instance = Address("ServiceInstance", ns, obj.spec.instance_ref.name)
            if instance in desired.resources:
                graph.add_edge(instance, addr, ("spec", "instanceRef"))
            for i, src in enumerate(obj.spec.parameters_from):
                if src.secret_key_ref is not None:
                    consume(
                        Address("Secret", ns, src.secret_key_ref.name),
                        addr,
                        ("spec", "parametersFrom", i),
                    )
            for i, tr in enumerate(obj.spec.secret_transforms):
                if tr.add_keys_from is not None:
                    ref = tr.add_keys_from.secret_ref
                    consume(
                        Address("Secret", ref.namespace or ns, ref.name),
                        addr,
                        ("spec", "secretTransforms", i, "addKeysFrom"),
                    )
        elif isinstance(obj, PodMapping):
            binding_addr = Address("ServiceBinding", ns, obj.spec.binding_ref.name)
            binding = desired.get(binding_addr)
            if binding is not None and isinstance(binding.obj, ServiceBinding):
                graph.add_edge(secret_address(binding, binding.obj), addr, ("spec", "bindingRef"))

    problems = [_cycle_problem(graph, cycle, desired, produced) for cycle in graph.find_cycles()]
    return graph, problems


def _cycle_problem(
    graph: ResourceGraph,
    cycle: list[Address],
    desired: Desired,
    produced: Mapping[Address, Address],
) -> Problem:
    path = " -> ".join(str(a) for a in [*cycle, cycle[0]])
    # Point at the first declared resource of the cycle, at the field that closes it.
    for i, addr in enumerate(cycle):
        res = desired.get(addr)
        if res is not None:
            before = cycle[i - 1]
            field = graph.edge(before, addr).field
            return res.problem(field, f"dependency cycle: {path}")
    owner = desired.resources[produced[cycle[0]]]
    return owner.problem((), f"dependency cycle: {path}")
