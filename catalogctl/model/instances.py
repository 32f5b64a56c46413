"""ServiceInstance (``servicecatalog.k8s.io/v1beta1``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from catalogctl.model.base import ObjectMeta, SecretKeyReference, Spec


class ParametersFromSource(Spec):
    """One ``parametersFrom`` entry: a Secret key holding a JSON object."""

    secret_key_ref: SecretKeyReference | None = None


#: The selector pairs of ``PlanReference``: (class field, plan field, scope, form).
SELECTOR_FORMS: tuple[tuple[str, str, str, str], ...] = (
    (
        "clusterServiceClassExternalName",
        "clusterServicePlanExternalName",
        "cluster",
        "external name",
    ),
    ("clusterServiceClassExternalID", "clusterServicePlanExternalID", "cluster", "external ID"),
    ("clusterServiceClassName", "clusterServicePlanName", "cluster", "Kubernetes name"),
    ("serviceClassExternalName", "servicePlanExternalName", "namespace", "external name"),
    ("serviceClassExternalID", "servicePlanExternalID", "namespace", "external ID"),
    ("serviceClassName", "servicePlanName", "namespace", "Kubernetes name"),
)


class ServiceInstanceSpec(Spec):
    """``ServiceInstanceSpec``: a ``PlanReference`` plus parameters and counters."""

    cluster_service_class_external_name: str | None = None
    cluster_service_plan_external_name: str | None = None
    cluster_service_class_external_id: str | None = Field(
        default=None, alias="clusterServiceClassExternalID"
    )
    cluster_service_plan_external_id: str | None = Field(
        default=None, alias="clusterServicePlanExternalID"
    )
    cluster_service_class_name: str | None = None
    cluster_service_plan_name: str | None = None
    service_class_external_name: str | None = None
    service_plan_external_name: str | None = None
    service_class_external_id: str | None = Field(default=None, alias="serviceClassExternalID")
    service_plan_external_id: str | None = Field(default=None, alias="servicePlanExternalID")
    service_class_name: str | None = None
    service_plan_name: str | None = None
    parameters: dict[str, Any] | None = None
    # Tuples, not lists: models are frozen anyway, and an empty tuple is one
    # shared object where every document would get its own empty list.
    parameters_from: tuple[ParametersFromSource, ...] = ()
    external_id: str | None = Field(default=None, alias="externalID")
    update_requests: int = 0
    # Controller- and webhook-managed fields, accepted and ignored.
    cluster_service_class_ref: Any = None
    cluster_service_plan_ref: Any = None
    service_class_ref: Any = None
    service_plan_ref: Any = None
    user_info: Any = None

    def selector(self, alias: str) -> str | None:
        """Value of a selector field by its YAML name."""
        value: str | None = getattr(self, _ALIAS_TO_FIELD[alias])
        return value


_ALIAS_TO_FIELD = {
    info.alias or name: name
    for name, info in ServiceInstanceSpec.model_fields.items()
    if (info.alias or "").endswith(("ExternalName", "ExternalID", "ClassName", "PlanName"))
}


class ServiceInstance(Spec):
    api_version: Literal["servicecatalog.k8s.io/v1beta1"]
    kind: Literal["ServiceInstance"]
    metadata: ObjectMeta
    spec: ServiceInstanceSpec
    status: Any = None
