"""Server-side defaulting and validation of pod-template kinds, as a real apiserver applies them:
what catalogctl will read back after wiring Secrets in, and which edits a cluster refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube import KubeEmulator

ApiException = client.ApiException


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    return json.loads(exc.value.body)


@pytest.fixture
def api(kube_emulator: KubeEmulator) -> client.ApiClient:
    return kube_emulator.api_client()


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


def template(restart: str | None = None, **pod: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry/app:1.2"}], **pod}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": "w"}}, "spec": spec}


def deployment(**pod: Any) -> dict[str, Any]:
    return {"metadata": {"name": "w"},
            "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": template(**pod)}}


def test_deployment_defaults(apps: client.AppsV1Api, api: client.ApiClient) -> None:
    made = apps.create_namespaced_deployment("default", deployment(
        containers=[{"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
                    {"name": "latest", "image": "proxy"}],
        volumes=[{"name": "creds", "secret": {"secretName": "db"}},
                 {"name": "cfg", "configMap": {"name": "c"}}]))
    spec = api.sanitize_for_serialization(made.spec)
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    pod = spec["template"]["spec"]
    assert {k: pod[k] for k in ("restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy",
                                "securityContext", "schedulerName")} == {
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst", "securityContext": {}, "schedulerName": "default-scheduler"}
    app, latest = pod["containers"]
    assert app["imagePullPolicy"] == "IfNotPresent" and latest["imagePullPolicy"] == "Always"
    assert app["terminationMessagePath"] == "/dev/termination-log"
    assert app["terminationMessagePolicy"] == "File"
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert pod["volumes"] == [{"name": "creds", "secret": {"secretName": "db", "defaultMode": 420}},
                              {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}}]


def test_template_metadata_has_null_creation_timestamp(kube_emulator: KubeEmulator,
                                                       apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment())
    raw = kube_emulator.api_client().call_api(
        "GET", kube_emulator.url + "/apis/apps/v1/namespaces/default/deployments/w")
    body = json.loads(raw.read())
    assert body["spec"]["template"]["metadata"] == {"creationTimestamp": None,
                                                    "labels": {"app": "w"}}


def test_mount_of_missing_volume_is_invalid(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment("default", deployment(containers=[{
            "name": "app", "image": "app:1",
            "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}]}]))
    assert exc.value.status == 422
    body = status_of(exc)
    assert body["message"] == ('Deployment.apps "w" is invalid: spec.template.spec.containers[0]'
                               '.volumeMounts[0].name: Not found: "creds"')
    assert body["details"] == {"name": "w", "group": "apps", "kind": "Deployment", "causes": [{
        "reason": "FieldValueNotFound", "message": 'Not found: "creds"',
        "field": "spec.template.spec.containers[0].volumeMounts[0].name"}]}


def test_secret_key_ref_needs_name_and_key(kube_emulator: KubeEmulator,
                                           api: client.ApiClient) -> None:
    # sent raw: the typed client would refuse the missing key before it reaches a server
    resp = api.call_api("POST", kube_emulator.url + "/apis/apps/v1/namespaces/default/deployments",
                        body=deployment(containers=[{
                            "name": "app", "image": "app:1",
                            "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db"}}}],
                        }]))
    assert resp.status == 422
    assert json.loads(resp.read())["message"] == (
        'Deployment.apps "w" is invalid: spec.template.spec.containers[0].env[0].valueFrom'
        ".secretKeyRef.key: Required value")


def test_duplicate_container_names_and_mount_paths(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment("default", deployment(
            containers=[{"name": "app", "image": "a:1",
                         "volumeMounts": [{"name": "v", "mountPath": "/x"},
                                          {"name": "v", "mountPath": "/x"}]},
                        {"name": "app", "image": "b:1"}],
            volumes=[{"name": "v", "emptyDir": {}}]))
    assert status_of(exc)["message"] == (
        'Deployment.apps "w" is invalid: [spec.template.spec.containers[0].volumeMounts[1]'
        '.mountPath: Invalid value: "/x": must be unique, spec.template.spec.containers[1].name: '
        'Duplicate value: "app"]')


def test_selector_must_match_template_labels(apps: client.AppsV1Api) -> None:
    body = deployment()
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment("default", body)
    assert status_of(exc)["message"] == (
        'Deployment.apps "w" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"w"}: `selector` does not match template `labels`')


def test_deployment_selector_is_immutable(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment())
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("w", "default", {"spec": {
            "selector": {"matchLabels": {"app": "w", "v": "2"}},
            "template": {"metadata": {"labels": {"v": "2"}}}}})
    assert status_of(exc)["message"] == (
        'Deployment.apps "w" is invalid: spec.selector: Invalid value: v1.LabelSelector{'
        'MatchLabels:map[string]string{"app":"w", "v":"2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")


def test_statefulset_allows_template_but_forbids_other_spec_changes(
        apps: client.AppsV1Api) -> None:
    apps.create_namespaced_stateful_set("default", {"metadata": {"name": "w"}, "spec": {
        "serviceName": "w", "selector": {"matchLabels": {"app": "w"}}, "template": template()}})
    apps.patch_namespaced_stateful_set("w", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}}}})
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_stateful_set("w", "default", {"spec": {"serviceName": "other"}})
    assert status_of(exc)["message"] == (
        'StatefulSet.apps "w" is invalid: spec: Forbidden: updates to statefulset spec for '
        "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def test_job_gets_generated_selector_and_defaults(batch: client.BatchV1Api) -> None:
    job = batch.create_namespaced_job("default", {"metadata": {"name": "migrate"},
                                                  "spec": {"template": template("Never")}})
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels == {
        "app": "w", "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "migrate", "controller-uid": uid, "job-name": "migrate"}
    assert (job.spec.completions, job.spec.parallelism, job.spec.backoff_limit) == (1, 1, 6)
    assert job.spec.completion_mode == "NonIndexed" and job.spec.suspend is False


def test_job_restart_policy_must_be_never_or_on_failure(batch: client.BatchV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_job("default", {"metadata": {"name": "j"},
                                                "spec": {"template": template()}})
    assert status_of(exc)["message"] == (
        'Job.batch "j" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
        '"Always": supported values: "OnFailure", "Never"')


def test_job_template_is_immutable(batch: client.BatchV1Api) -> None:
    batch.create_namespaced_job("default", {"metadata": {"name": "j"},
                                            "spec": {"template": template("Never")}})
    with pytest.raises(ApiException) as exc:
        batch.patch_namespaced_job("j", "default", {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}}}})
    assert exc.value.status == 422
    body = status_of(exc)
    assert body["message"].startswith('Job.batch "j" is invalid: spec.template: Invalid value: ')
    assert body["message"].endswith(": field is immutable")
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.template"]


def test_suspended_job_may_change_template_labels_only(batch: client.BatchV1Api) -> None:
    batch.create_namespaced_job("default", {"metadata": {"name": "j"}, "spec": {
        "suspend": True, "template": template("Never")}})
    relabelled = batch.patch_namespaced_job("j", "default", {"spec": {"template": {
        "metadata": {"labels": {"extra": "yes"}}}}})
    assert relabelled.spec.template.metadata.labels["extra"] == "yes"
    with pytest.raises(ApiException) as exc:
        batch.patch_namespaced_job("j", "default", {"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "app:2"}]}}}})
    assert exc.value.status == 422


def test_cronjob_job_template_stays_mutable(batch: client.BatchV1Api,
                                            api: client.ApiClient) -> None:
    made = batch.create_namespaced_cron_job("default", {"metadata": {"name": "c"}, "spec": {
        "schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template("OnFailure")}}}})
    assert (made.spec.concurrency_policy, made.spec.successful_jobs_history_limit,
            made.spec.failed_jobs_history_limit, made.spec.suspend) == ("Allow", 3, 1, False)
    patched = batch.patch_namespaced_cron_job("c", "default", {"spec": {"jobTemplate": {"spec": {
        "template": {"spec": {"containers": [{"name": "app", "env": [{
            "name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]}]}}}}}})
    container = api.sanitize_for_serialization(
        patched.spec.job_template.spec.template.spec.containers[0])
    assert container["env"] == [{"name": "TOKEN",
                                 "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]
    assert patched.metadata.generation == 2


def test_cronjob_requires_schedule(batch: client.BatchV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_cron_job("default", {"metadata": {"name": "c"}, "spec": {
            "schedule": "", "jobTemplate": {"spec": {"template": template("Never")}}}})
    assert status_of(exc)["message"] == 'CronJob.batch "c" is invalid: spec.schedule: ' \
        "Required value"


def test_daemonset_defaults_and_selector_immutability(apps: client.AppsV1Api) -> None:
    made = apps.create_namespaced_daemon_set("default", {"metadata": {"name": "w"}, "spec": {
        "selector": {"matchLabels": {"app": "w"}}, "template": template()}})
    assert made.spec.update_strategy.type == "RollingUpdate"
    assert made.spec.update_strategy.rolling_update.max_unavailable == 1
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_daemon_set("w", "default", {"spec": {
            "selector": {"matchExpressions": [{"key": "app", "operator": "In",
                                               "values": ["w"]}]}}})
    assert status_of(exc)["details"]["causes"][0]["field"] == "spec.selector"


def test_scale_subresource(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment())
    scale = apps.read_namespaced_deployment_scale("w", "default")
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=w"
    patched = apps.patch_namespaced_deployment_scale("w", "default", {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3
    dep = apps.read_namespaced_deployment("w", "default")
    assert dep.spec.replicas == 3 and dep.metadata.generation == 2
    scale.spec.replicas = 5  # stale resourceVersion
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment_scale("w", "default", scale)
    assert exc.value.status == 409
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("w", "default", {"spec": {"replicas": -1}})
    assert status_of(exc)["message"] == (
        'Deployment.apps "w" is invalid: spec.replicas: Invalid value: -1: must be greater than '
        "or equal to 0")
