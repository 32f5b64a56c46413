"""ClusterServiceBroker and ServiceBroker (``servicecatalog.k8s.io/v1beta1``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from catalogctl.model.base import ObjectMeta, ObjectReference, Spec

#: Annotation that pins the ``X-Broker-API-Version`` a broker accepts.
API_VERSION_ANNOTATION = "catalogctl.io/broker-api-version"
DEFAULT_BROKER_API_VERSION = "2.17"


class SecretRefAuth(Spec):
    """A Secret holding credentials (basic: ``username``/``password``; bearer: ``token``)."""

    secret_ref: ObjectReference


class AuthInfo(Spec):
    """Exactly one of basic or bearer; validation reports both being set."""

    basic: SecretRefAuth | None = None
    bearer: SecretRefAuth | None = None


class CatalogRestrictions(Spec):
    """Label-selector-like requirements on classes and plans (AND-ed)."""

    service_class: list[str] = Field(default_factory=list)
    service_plan: list[str] = Field(default_factory=list)


class BrokerSpec(Spec):
    """``CommonServiceBrokerSpec`` plus the scoped authInfo."""

    url: str
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")
    ca_bundle: str | None = None
    relist_behavior: Literal["Duration", "Manual"] | None = None
    relist_duration: str | None = None
    relist_requests: int = 0
    catalog_restrictions: CatalogRestrictions | None = None
    auth_info: AuthInfo | None = None


class Broker(Spec):
    """A broker of either scope; ``kind`` tells which."""

    api_version: Literal["servicecatalog.k8s.io/v1beta1"]
    kind: Literal["ClusterServiceBroker", "ServiceBroker"]
    metadata: ObjectMeta
    spec: BrokerSpec
    status: Any = None

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterServiceBroker"

    @property
    def broker_api_version(self) -> str:
        return self.metadata.annotations.get(API_VERSION_ANNOTATION, DEFAULT_BROKER_API_VERSION)
