"""Shared builders for the Kubernetes provider tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from catalogctl.model.bindings import SecretTransform
from catalogctl.model.podmappings import PodMapping


def transforms(text: str) -> list[SecretTransform]:
    """Parse a YAML list of secretTransforms as the model loader would."""
    return [SecretTransform.model_validate(t) for t in yaml.safe_load(text)]


def pod_mapping(
    spec: dict[str, Any], name: str = "myapp-queue", namespace: str = "cloud-apps"
) -> PodMapping:
    return PodMapping.model_validate(
        {
            "apiVersion": "catalogctl.io/v1alpha1",
            "kind": "PodMapping",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"bindingRef": {"name": "cloud-queue-binding"}, **spec},
        }
    )


POD_SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "app",
            "image": "example/app:1",
            "env": [
                {"name": "LOG_LEVEL", "value": "debug"},
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                },
            ],
            "envFrom": [{"configMapRef": {"name": "app-config"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        },
        {
            "name": "sidecar",
            "image": "example/proxy:2",
            "env": [{"name": "PROXY_PORT", "value": "15001"}],
            "volumeMounts": [{"name": "proxy-certs", "mountPath": "/certs", "readOnly": True}],
        },
    ],
    "volumes": [
        {"name": "data", "emptyDir": {}},
        {"name": "proxy-certs", "secret": {"secretName": "proxy-certs"}},
    ],
}


def workload(
    kind: str = "Deployment",
    name: str = "myapp",
    namespace: str = "cloud-apps",
    pod_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A workload manifest of ``kind`` whose pod template has an app and a sidecar container."""
    template = {"metadata": {"labels": {"app": name}}, "spec": copy.deepcopy(pod_spec or POD_SPEC)}
    meta = {"name": name, "namespace": namespace, "labels": {"app": name}}
    api = "apps/v1" if kind in ("Deployment", "StatefulSet", "DaemonSet") else "batch/v1"
    selector = {"matchLabels": {"app": name}}
    if kind == "Deployment":
        spec: dict[str, Any] = {"replicas": 1, "selector": selector, "template": template}
    elif kind == "StatefulSet":
        spec = {"serviceName": name, "selector": selector, "template": template}
    elif kind == "DaemonSet":
        spec = {"selector": selector, "template": template}
    elif kind == "Job":
        template["spec"]["restartPolicy"] = "Never"
        spec = {"template": template}
    else:
        template["spec"]["restartPolicy"] = "OnFailure"
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


QUEUE_MAPPING: dict[str, Any] = {
    "target": {"kind": "Deployment", "name": "myapp", "containers": ["app"]},
    "env": [
        {"name": "TOPIC", "key": "topic"},
        {"name": "PROVIDER_APPLICATION_CREDENTIALS", "value": "/var/secrets/provider/key.json"},
    ],
    "envFrom": {"prefix": "QUEUE_"},
    "volume": {
        "mountPath": "/var/secrets/provider",
        "items": [{"key": "key.json", "path": "key.json"}],
    },
}
