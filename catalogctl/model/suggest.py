"""The known field an unknown one probably meant: a former Service Catalog name, or a near miss.

Manifests written for Service Catalog's ``v1alpha1`` API (or its first
``v1beta1`` releases) use field names v1beta1 renamed; difflib cannot find
``clusterServicePlanExternalName`` from ``planName``, so those are looked up
first.  Anything else gets the closest known name, compared without case.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

#: Field names of earlier Service Catalog APIs -> their v1beta1 names.
FORMER_NAMES: dict[str, str] = {
    # ServiceInstance spec, v1alpha1 (its serviceClassName is a v1beta1 field still)
    "planName": "clusterServicePlanExternalName",
    # ServiceInstance spec, early v1beta1 (service-catalog 0.1.0 release candidates)
    "externalClusterServiceClassName": "clusterServiceClassExternalName",
    "externalClusterServicePlanName": "clusterServicePlanExternalName",
    # ClusterServiceBroker spec, v1alpha1
    "authSecret": "authInfo",
}


def suggest(unknown: str, known: Sequence[str]) -> tuple[str, str] | None:
    """``(field, why)`` for the known field ``unknown`` most likely meant, or None.

    ``why`` is empty for a plain near miss and explains a former name.
    """
    renamed = FORMER_NAMES.get(unknown)
    if renamed is not None and renamed in known:
        return renamed, f"{unknown} is its name in earlier Service Catalog APIs"
    by_lower = {name.lower(): name for name in known}
    close = difflib.get_close_matches(unknown.lower(), list(by_lower), n=1, cutoff=0.7)
    return (by_lower[close[0]], "") if close else None
