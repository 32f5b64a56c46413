"""Who a request is for and where it comes from: identity header and Kubernetes context.

These are pure builders.  The shapes follow the OSB Kubernetes profile and what
the retired Service Catalog controller sent, so brokers that were written
against Service Catalog see the same values from catalogctl:

* ``context`` = ``{platform, namespace, clusterid, instance_name}`` for
  instances and ``{platform, namespace, clusterid}`` for bindings;
* ``organization_guid`` = cluster id and ``space_guid`` = namespace UID (the
  namespace name when the UID is unknown) — both still REQUIRED by the spec;
* ``X-Broker-API-Originating-Identity: kubernetes <base64(json user.info)>``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalogctl.providers.osb.config import BrokerConnection, OriginatingIdentity


def originating_identity_header(platform: str, identity: OriginatingIdentity) -> str:
    """``<platform> <base64(JSON)>``; platform MUST equal ``context.platform``."""
    raw = json.dumps(identity.as_json_object(), separators=(",", ":"), sort_keys=True)
    return f"{platform} {base64.b64encode(raw.encode('utf-8')).decode('ascii')}"


def instance_context(
    conn: BrokerConnection,
    *,
    namespace: str,
    instance_name: str,
    namespace_annotations: Mapping[str, str] | None = None,
    instance_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``context`` object for PUT/PATCH of a service instance."""
    ctx: dict[str, Any] = {
        "platform": conn.platform,
        "namespace": namespace,
        "clusterid": conn.cluster_id,
        "instance_name": instance_name,
    }
    if namespace_annotations:
        ctx["namespace_annotations"] = dict(namespace_annotations)
    if instance_annotations:
        ctx["instance_annotations"] = dict(instance_annotations)
    return ctx


def binding_context(conn: BrokerConnection, *, namespace: str) -> dict[str, Any]:
    """The ``context`` object for PUT of a service binding."""
    return {"platform": conn.platform, "namespace": namespace, "clusterid": conn.cluster_id}


@dataclass(frozen=True)
class PlatformGuids:
    """The deprecated but REQUIRED ``organization_guid``/``space_guid`` pair."""

    organization_guid: str
    space_guid: str


def platform_guids(
    conn: BrokerConnection, *, namespace: str, namespace_uid: str | None = None
) -> PlatformGuids:
    """Fill the CF-era ids the way Service Catalog did (cluster id, namespace UID).

    The spec requires both to be non-empty strings, so an unset cluster id or
    unknown namespace UID falls back to something stable and non-empty.
    """
    return PlatformGuids(
        organization_guid=conn.cluster_id or conn.platform,
        space_guid=namespace_uid or namespace,
    )
