"""Defaulting and validation for the pod-template kinds (Deployment, StatefulSet, DaemonSet, Job,
CronJob), following the upstream ``SetDefaults_*`` and ``Validate*`` functions.

A real cluster fills in defaults on every write (imagePullPolicy, terminationMessagePath, secret
volume defaultMode, rollout strategy ...) and rejects pod templates whose mounts reference missing
volumes or whose Jobs try to change their template. catalogctl must cope with both, so the
emulator does them too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.kube import semantics
from tests.kube.errors import FieldError, GoRaw
from tests.kube.resources import ResourceType

Obj = dict[str, Any]

WORKLOAD_KEYS = {("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
                 ("batch", "jobs"), ("batch", "cronjobs")}
JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
              "controller-uid", "job-name")
STS_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
# What a suspended Job that never started may still change in its template.
_JOB_SCHEDULING = (("metadata", "labels"), ("metadata", "annotations"), ("spec", "nodeSelector"),
                   ("spec", "affinity"), ("spec", "tolerations"), ("spec", "schedulingGates"))


def is_workload(rt: ResourceType) -> bool:
    return rt.key in WORKLOAD_KEYS and not rt.custom


def _template_path(rt: ResourceType) -> tuple[str, ...]:
    if rt.plural == "cronjobs":
        return ("spec", "jobTemplate", "spec", "template")
    return ("spec", "template")


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# --- defaulting ----------------------------------------------------------------------------------

_SPEC_DEFAULTS: dict[str, dict[str, Any]] = {
    "deployments": {
        "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    },
    "statefulsets": {
        "replicas": 1, "podManagementPolicy": "OrderedReady", "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    },
    "daemonsets": {
        "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate",
                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
    },
    "cronjobs": {"concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3,
                 "failedJobsHistoryLimit": 1},
}


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """Fill server-side defaults in place (idempotent, so it runs on every write)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for key, value in _SPEC_DEFAULTS.get(rt.plural, {}).items():
        spec.setdefault(key, copy.deepcopy(value))
    if rt.plural == "jobs":
        _default_job_spec(spec)
    if rt.plural == "cronjobs" and isinstance(spec.get("jobTemplate"), dict):
        job_spec = spec["jobTemplate"].setdefault("spec", {})
        if isinstance(job_spec, dict):
            _default_job_spec(job_spec)
        spec["jobTemplate"].setdefault("metadata", {}).setdefault("creationTimestamp", None)
    template = _dig(obj, _template_path(rt))
    if isinstance(template, dict):
        _default_pod_template(template)


def _default_job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)


def _default_pod_template(template: Obj) -> None:
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _default_container(container)
    for volume in spec.get("volumes") or []:
        for source in ("secret", "configMap", "projected", "downwardAPI"):
            if isinstance(volume, dict) and isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


def _default_container(c: Obj) -> None:
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    untagged = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if untagged else "IfNotPresent")
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        field_ref = _dig(env, ("valueFrom", "fieldRef"))
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                               ("successThreshold", 1), ("failureThreshold", 3)):
                probe.setdefault(key, value)
            if isinstance(probe.get("httpGet"), dict):
                probe["httpGet"].setdefault("scheme", "HTTP")


def generate_job_selector(obj: Obj) -> list[FieldError]:
    """Job creation: unless ``manualSelector``, the selector and template labels are generated
    from the Job's uid; a hand-written selector is refused."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return []
    if spec.get("selector") is not None:
        return [FieldError("spec.selector", "Invalid", "`selector` not auto-generated",
                           GoRaw(go_selector(spec["selector"])), True)]
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    spec["selector"] = {"matchLabels": {JOB_LABELS[0]: uid}}
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update(dict(zip(JOB_LABELS, (uid, name, uid, name), strict=True)))
    return []


# --- Go-style rendering of values in field errors ------------------------------------------------


def go_string_map(mapping: Any) -> str:
    if not mapping:
        return "map[string]string(nil)"
    items = ", ".join(f'"{k}":"{v}"' for k, v in sorted(mapping.items()))
    return "map[string]string{" + items + "}"


def _go_requirement(expr: Obj) -> str:
    values = ", ".join(json.dumps(v) for v in expr.get("values") or [])
    return (f'v1.LabelSelectorRequirement{{Key:"{expr.get("key", "")}", '
            f'Operator:"{expr.get("operator", "")}", Values:[]string{{{values}}}}}')


def go_selector(selector: Any) -> str:
    selector = selector if isinstance(selector, dict) else {}
    exprs = selector.get("matchExpressions")
    if exprs:
        rendered = ", ".join(_go_requirement(e) for e in exprs)
        expr_text = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        expr_text = "[]v1.LabelSelectorRequirement(nil)"
    return ("v1.LabelSelector{MatchLabels:" + go_string_map(selector.get("matchLabels"))
            + ", MatchExpressions:" + expr_text + "}")


# --- validation ----------------------------------------------------------------------------------


def _selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec", "Required", "")]
    errs: list[FieldError] = []
    path = ".".join(_template_path(rt))
    template = _dig(obj, _template_path(rt))
    if rt.plural in ("deployments", "statefulsets", "daemonsets"):
        errs += _validate_selector(rt, spec)
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errs.append(FieldError("spec.replicas", "Invalid", "must be greater than or equal to 0",
                               GoRaw(str(replicas)), True))
    if rt.plural == "cronjobs" and not spec.get("schedule"):
        errs.append(FieldError("spec.schedule", "Required", ""))
    if isinstance(template, dict):
        errs += semantics.validate_object_meta(template.get("metadata"), f"{path}.metadata")
    errs += _validate_pod_template(template, path)
    if rt.plural in ("jobs", "cronjobs") and isinstance(template, dict):
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in ("OnFailure", "Never"):
            errs.append(FieldError(f"{path}.spec.restartPolicy", "Unsupported",
                                   'supported values: "OnFailure", "Never"', policy, True))
    if old is not None:
        errs += _validate_update(rt, spec, old.get("spec") or {})
    return errs


def _validate_selector(rt: ResourceType, spec: Obj) -> list[FieldError]:
    selector = spec.get("selector")
    labels = _dig(spec, ("template", "metadata", "labels")) or {}
    mismatch = FieldError("spec.template.metadata.labels", "Invalid",
                          "`selector` does not match template `labels`",
                          GoRaw(go_string_map(labels)), True)
    if not isinstance(selector, dict):
        return [FieldError("spec.selector", "Required", ""), mismatch]
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        what = rt.kind.lower()
        return [FieldError("spec.selector", "Invalid", f"empty selector is invalid for {what}",
                           GoRaw(go_selector(selector)), True)]
    return [] if _selector_matches(selector, labels) else [mismatch]


def _validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """The pod spec rules most likely to catch a broken Secret wiring."""
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return [FieldError(f"{path}.spec.containers", "Required", "")]
    errs: list[FieldError] = []
    volumes = spec.get("volumes") or []
    volume_names: set[str] = set()
    for i, volume in enumerate(volumes):
        name = volume.get("name", "") if isinstance(volume, dict) else ""
        if not name:
            errs.append(FieldError(f"{path}.spec.volumes[{i}].name", "Required", ""))
        elif name in volume_names:
            errs.append(FieldError(f"{path}.spec.volumes[{i}].name", "Duplicate", "", name, True))
        volume_names.add(name)
    if not spec.get("containers"):
        errs.append(FieldError(f"{path}.spec.containers", "Required", ""))
    for field in ("initContainers", "containers"):
        names: set[str] = set()
        for i, container in enumerate(spec.get(field) or []):
            if not isinstance(container, dict):
                continue
            cpath = f"{path}.spec.{field}[{i}]"
            name = container.get("name", "")
            if not name:
                errs.append(FieldError(f"{cpath}.name", "Required", ""))
            elif name in names:
                errs.append(FieldError(f"{cpath}.name", "Duplicate", "", name, True))
            names.add(name)
            if not container.get("image"):
                errs.append(FieldError(f"{cpath}.image", "Required", ""))
            errs += _validate_container_refs(container, cpath, volume_names)
    return errs


def _validate_container_refs(container: Obj, cpath: str,
                             volume_names: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    for j, env in enumerate(container.get("env") or []):
        if not env.get("name"):
            errs.append(FieldError(f"{cpath}.env[{j}].name", "Required", ""))
        for ref in ("secretKeyRef", "configMapKeyRef"):
            selector = _dig(env, ("valueFrom", ref))
            if isinstance(selector, dict):
                for part in ("name", "key"):
                    if not selector.get(part):
                        errs.append(FieldError(f"{cpath}.env[{j}].valueFrom.{ref}.{part}",
                                               "Required", ""))
    for j, source in enumerate(container.get("envFrom") or []):
        for ref in ("secretRef", "configMapRef"):
            if isinstance(source.get(ref), dict) and not source[ref].get("name"):
                errs.append(FieldError(f"{cpath}.envFrom[{j}].{ref}.name", "Required", ""))
    paths: set[str] = set()
    for j, mount in enumerate(container.get("volumeMounts") or []):
        name, mount_path = mount.get("name", ""), mount.get("mountPath", "")
        if not name:
            errs.append(FieldError(f"{cpath}.volumeMounts[{j}].name", "Required", ""))
        elif name not in volume_names:
            errs.append(FieldError(f"{cpath}.volumeMounts[{j}].name", "NotFound", "", name, True))
        if not mount_path:
            errs.append(FieldError(f"{cpath}.volumeMounts[{j}].mountPath", "Required", ""))
        elif mount_path in paths:
            errs.append(FieldError(f"{cpath}.volumeMounts[{j}].mountPath", "Invalid",
                                   "must be unique", mount_path, True))
        paths.add(mount_path)
    return errs


def _validate_update(rt: ResourceType, spec: Obj, old: Obj) -> list[FieldError]:
    if rt.plural in ("deployments", "daemonsets") and spec.get("selector") != old.get("selector"):
        return [FieldError("spec.selector", "Invalid", "field is immutable",
                           GoRaw(go_selector(spec.get("selector"))), True)]
    if rt.plural == "statefulsets":
        frozen_new = {k: v for k, v in spec.items() if k not in _STS_MUTABLE}
        frozen_old = {k: v for k, v in old.items() if k not in _STS_MUTABLE}
        if frozen_new != frozen_old:
            return [FieldError("spec", "Forbidden", STS_FORBIDDEN)]
    if rt.plural == "jobs":
        errs: list[FieldError] = []
        for field in ("selector", "completions", "completionMode", "podFailurePolicy"):
            if spec.get(field) != old.get(field):
                value = spec.get(field)
                rendered = GoRaw(go_selector(value)) if field == "selector" else value
                errs.append(FieldError(f"spec.{field}", "Invalid", "field is immutable",
                                       rendered, True))
        if _job_template_changed(spec, old):
            errs.append(FieldError("spec.template", "Invalid", "field is immutable",
                                   GoRaw("core.PodTemplateSpec{...}"), True))
        return errs
    return []


def _job_template_changed(spec: Obj, old: Obj) -> bool:
    new_t, old_t = copy.deepcopy(spec.get("template")), copy.deepcopy(old.get("template"))
    if new_t == old_t:
        return False
    if not old.get("suspend"):
        return True
    for section, key in _JOB_SCHEDULING:  # suspended Jobs may edit scheduling directives
        for t in (new_t, old_t):
            if isinstance(t, dict) and isinstance(t.get(section), dict):
                t[section].pop(key, None)
    return bool(new_t != old_t)
