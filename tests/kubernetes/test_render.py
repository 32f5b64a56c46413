"""``catalogctl render mappings``: kustomize patches for GitOps-managed workloads."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalogctl.cli import main as cli_main
from catalogctl.providers.kubernetes.kustomize import render_patches
from tests.cli import run_cli
from tests.kubernetes.helpers import pod_mapping, workload

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"

DESIRED = """
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata: {name: cloud-broker}
spec: {url: "http://127.0.0.1:18089"}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {name: cloud-queue-instance, namespace: cloud-apps}
spec: {clusterServiceClassExternalName: cloud-queue, clusterServicePlanExternalName: standard}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {name: cloud-queue-binding, namespace: cloud-apps}
spec:
  instanceRef: {name: cloud-queue-instance}
  secretName: queue-credentials
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {name: myapp-queue, namespace: cloud-apps}
spec:
  bindingRef: {name: cloud-queue-binding}
  target: {kind: Deployment, name: myapp, containers: [app]}
  env:
    - {name: TOPIC, key: topic}
  envFrom: {prefix: QUEUE_}
  volume: {mountPath: /var/secrets/provider}
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {name: myapp-queue-sidecar, namespace: cloud-apps}
spec:
  bindingRef: {name: cloud-queue-binding}
  target: {kind: Deployment, name: myapp, containers: [sidecar]}
  env:
    - {name: QUEUE_TOPIC, key: topic}
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {name: worker-queue, namespace: cloud-apps}
spec:
  bindingRef: {name: cloud-queue-binding}
  target: {kind: CronJob, name: worker, containers: [app]}
  env:
    - {name: TOPIC, key: topic}
"""


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # The entry that belongs in catalogctl/cli/main.py COMMANDS.
    monkeypatch.setitem(
        cli_main.COMMANDS,
        "render",
        ("catalogctl.cli.commands.render", "render", "Render PodMappings as kustomize patches."),
    )


def run_render(tmp_path: Path, desired: str, *extra: str) -> tuple[Any, Path]:
    src = tmp_path / "desired.yaml"
    src.write_text(desired)
    out = tmp_path / "rendered"
    return run_cli("render", "mappings", "-f", str(src), "--output-dir", str(out), *extra), out


def test_renders_one_patch_per_workload(tmp_path: Path, registered: None) -> None:
    result, out = run_render(tmp_path, DESIRED)
    assert result.exit_code == 0, result.stderr
    assert "Wrote 2 patches" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "cronjob-cloud-apps-worker.yaml",
        "deployment-cloud-apps-myapp.yaml",
        "kustomization.yaml",
    ]
    kust = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    assert [p["path"] for p in kust["patches"]] == [
        "cronjob-cloud-apps-worker.yaml",
        "deployment-cloud-apps-myapp.yaml",
    ]
    deploy_text = (out / "deployment-cloud-apps-myapp.yaml").read_text()
    assert "replaces the container's envFrom list" in deploy_text
    deploy = yaml.safe_load(deploy_text)
    assert deploy["apiVersion"] == "apps/v1"
    assert deploy["metadata"] == {"name": "myapp", "namespace": "cloud-apps"}
    app, sidecar = deploy["spec"]["template"]["spec"]["containers"]
    assert app["env"] == [
        {
            "name": "TOPIC",
            "valueFrom": {"secretKeyRef": {"name": "queue-credentials", "key": "topic"}},
        }
    ]  # the binding's secretName
    assert app["envFrom"] == [{"prefix": "QUEUE_", "secretRef": {"name": "queue-credentials"}}]
    assert sidecar == {
        "name": "sidecar",
        "env": [
            {
                "name": "QUEUE_TOPIC",
                "valueFrom": {"secretKeyRef": {"name": "queue-credentials", "key": "topic"}},
            }
        ],
    }
    cron = yaml.safe_load((out / "cronjob-cloud-apps-worker.yaml").read_text())
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["name"] == "app"


def test_kubectl_kustomize_applies_the_component(tmp_path: Path, registered: None) -> None:
    result, _ = run_render(tmp_path, DESIRED, "--component")
    assert result.exit_code == 0, result.stderr
    base = tmp_path / "overlay"
    base.mkdir()
    (base / "deploy.yaml").write_text(yaml.safe_dump(workload()))
    (base / "cron.yaml").write_text(yaml.safe_dump(workload("CronJob", name="worker")))
    (base / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["deploy.yaml", "cron.yaml"],
                "components": ["../rendered"],
            }
        )
    )
    built = subprocess.run(
        [KUBECTL, "kustomize", str(base)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(built)}
    app = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    # kustomize's merge may order new items first; membership is what matters.
    assert sorted(e["name"] for e in app["env"]) == ["DB_PASSWORD", "LOG_LEVEL", "TOPIC"]
    assert sorted(m["mountPath"] for m in app["volumeMounts"]) == ["/data", "/var/secrets/provider"]
    assert app["envFrom"] == [{"prefix": "QUEUE_", "secretRef": {"name": "queue-credentials"}}]
    volumes = docs["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert sorted(v["name"] for v in volumes) == ["data", "myapp-queue", "proxy-certs"]
    sidecar = docs["Deployment"]["spec"]["template"]["spec"]["containers"][1]
    assert sorted(e["name"] for e in sidecar["env"]) == ["PROXY_PORT", "QUEUE_TOPIC"]
    cron_app = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "TOPIC" in [e["name"] for e in cron_app["env"]]


def test_mapping_without_containers_is_an_input_error(tmp_path: Path, registered: None) -> None:
    desired = DESIRED.replace("containers: [app]}", "}").replace(", }", "}")
    result, out = run_render(tmp_path, desired)
    assert result.exit_code == 1
    assert "spec.target.containers must list the containers" in result.stderr
    assert not out.exists()


def test_conflicting_mappings_are_refused() -> None:
    spec = {
        "target": {"kind": "Deployment", "name": "myapp", "containers": ["app"]},
        "env": [{"name": "TOPIC", "key": "topic"}],
    }
    triples = [(f"PodMapping/cloud-apps/{n}", pod_mapping(spec, name=n), "s") for n in ("a", "b")]
    with pytest.raises(Exception, match="env TOPIC is also mapped by PodMapping/cloud-apps/a"):
        render_patches(triples)


def test_invalid_input_reports_file_and_line(tmp_path: Path, registered: None) -> None:
    result, _ = run_render(
        tmp_path,
        DESIRED.replace(
            "kind: PodMapping\nmetadata: {name: worker-queue",
            "kind: PodMapping\nmetadata: {nam: worker-queue",
        ),
    )
    assert result.exit_code == 1
    assert "desired.yaml:" in result.stderr
