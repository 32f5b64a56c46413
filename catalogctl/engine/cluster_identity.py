"""The cluster id brokers know this platform by, kept across runs.

Brokers receive the cluster id as ``context.clusterid`` and
``organization_guid``.  An installation taken over from Service Catalog must
keep sending the id Service Catalog sent (from ConfigMap
``default/cluster-info``), or brokers that key tenants on it see another
platform.  The migration records it on each instance it imports; a run that
was not given ``--cluster-id`` explicitly uses the recorded one.
"""

from __future__ import annotations

from catalogctl.state.models import State

#: Instance attribute holding the cluster id the instance was provisioned under.
CLUSTER_ID_ATTRIBUTE = "cluster_id"


def recorded_cluster_id(state: State) -> str | None:
    """The cluster id recorded in state (the first instance's that has one), if any."""
    for res in state.resources.values():
        value = res.attributes.get(CLUSTER_ID_ATTRIBUTE)
        if isinstance(value, str) and value:
            return value
    return None
