"""PodMappings as kustomize patches, for GitOps tools (``render``): no broker, no cluster."""

from __future__ import annotations

from catalogctl.engine.inputs import Inputs
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.podmappings import PodMapping
from catalogctl.providers.kubernetes.kustomize import RenderedPatch, kustomization, render_patches

__all__ = ["kustomization", "mapping_patches"]


def mapping_patches(inputs: Inputs) -> list[RenderedPatch]:
    """One patch per workload the PodMappings of ``inputs`` target, each naming its Secret."""
    desired = inputs.desired
    triples = []
    for res, mapping in desired.of_type(PodMapping):
        binding_name = mapping.spec.binding_ref.name
        binding = desired.get(Address("ServiceBinding", res.address.namespace, binding_name))
        secret_name = binding_name
        if binding is not None and isinstance(binding.obj, ServiceBinding):
            secret_name = binding.obj.effective_secret_name
        triples.append((str(res.address), mapping, secret_name))
    return render_patches(triples)
