"""Shared pydantic base and Kubernetes object metadata.

Models use the exact v1beta1 field names (camelCase aliases) so existing
Service Catalog manifests load unchanged, and forbid unknown fields so typos
are caught before any broker is called.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Spec(BaseModel):
    """Base of every model read from user YAML: camelCase, strict about unknown fields."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
        strict=False,
    )


class LocalObjectReference(Spec):
    """``{name}``: an object in the referrer's own namespace."""

    name: str


class ObjectReference(Spec):
    """``{namespace, name}``: an object anywhere (namespace may default)."""

    namespace: str | None = None
    name: str


class SecretKeyReference(Spec):
    """``{name, key}``: one key of a Secret in the referrer's namespace."""

    name: str
    key: str


class ObjectMeta(Spec):
    """The metadata fields users write; server-managed fields are accepted and ignored."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # Server-managed fields: present in manifests exported from a cluster.
    uid: Any = None
    resource_version: Any = None
    generation: Any = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: Any = None
    managed_fields: Any = None
    self_link: Any = None
    finalizers: Any = None
    owner_references: Any = None
    generate_name: Any = None


#: Metadata fields catalogctl ignores (listed for documentation and tests).
IGNORED_METADATA_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "finalizers",
    "ownerReferences",
    "generateName",
)
