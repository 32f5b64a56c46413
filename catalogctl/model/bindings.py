"""ServiceBinding (``servicecatalog.k8s.io/v1beta1``) and its secretTransforms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from catalogctl.model.base import LocalObjectReference, ObjectMeta, ObjectReference, Spec
from catalogctl.model.instances import ParametersFromSource


class RenameKeyTransform(Spec):
    from_: str = Field(alias="from")
    to: str


class AddKeyTransform(Spec):
    """Add a key; precedence when several are set: jsonPathExpression > stringValue > value."""

    key: str
    value: str | None = None  # base64, as []byte serialises in Kubernetes JSON
    string_value: str | None = None
    json_path_expression: str | None = None


class AddKeysFromTransform(Spec):
    secret_ref: ObjectReference


class RemoveKeyTransform(Spec):
    key: str


class SecretTransform(Spec):
    """One transform; Service Catalog expects exactly one member to be set."""

    rename_key: RenameKeyTransform | None = None
    add_key: AddKeyTransform | None = None
    add_keys_from: AddKeysFromTransform | None = None
    remove_key: RemoveKeyTransform | None = None


class ServiceBindingSpec(Spec):
    instance_ref: LocalObjectReference
    secret_name: str | None = None
    parameters: dict[str, Any] | None = None
    # Tuples for the reason given in ServiceInstanceSpec.
    parameters_from: tuple[ParametersFromSource, ...] = ()
    secret_transforms: tuple[SecretTransform, ...] = ()
    external_id: str | None = Field(default=None, alias="externalID")
    user_info: Any = None
    #: catalogctl's own: how a replacement rotates the credentials.  Absent means
    #: create-before-destroy (bind anew, rewrite the Secret, roll, then unbind the
    #: old binding); ``destroy-first`` unbinds first, for brokers that allow one
    #: binding per instance.
    rotation: Literal["create-before-destroy", "destroy-first"] | None = None


class ServiceBinding(Spec):
    api_version: Literal["servicecatalog.k8s.io/v1beta1"]
    kind: Literal["ServiceBinding"]
    metadata: ObjectMeta
    spec: ServiceBindingSpec
    status: Any = None

    @property
    def create_first(self) -> bool:
        """Whether a replacement binds the new binding before unbinding the old one."""
        return self.spec.rotation != "destroy-first"

    @property
    def effective_secret_name(self) -> str:
        """``spec.secretName``, defaulting to the binding's name as the webhook did."""
        return self.spec.secret_name or self.metadata.name
