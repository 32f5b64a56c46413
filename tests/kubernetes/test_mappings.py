"""PodMapping patches, removal, ownership and diffs (pure, no cluster)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from catalogctl.errors import ClusterError, OwnershipError
from catalogctl.providers.kubernetes.mappings import (
    MAPPINGS_ANNOTATION,
    ImmutableWorkloadError,
    default_volume_name,
    mapping_entries,
    observe_entries,
    plan_apply,
    plan_remove,
    read_records,
    strategic_merge,
    with_element_order,
)
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, workload

SECRET = "cloud-queue-binding"


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    result: dict[str, Any] = spec["template"]["spec"]
    return result


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod(obj)["containers"] if c["name"] == name)


def entries(spec: dict[str, Any] | None = None, name: str = "myapp-queue") -> Any:
    return mapping_entries(pod_mapping(spec or QUEUE_MAPPING, name=name), SECRET)


class TestEntries:
    def test_env_envfrom_volume_translation(self) -> None:
        e = entries()
        assert e.address == "PodMapping/cloud-apps/myapp-queue"
        assert e.env == (
            {"name": "TOPIC", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "topic"}}},
            {"name": "PROVIDER_APPLICATION_CREDENTIALS", "value": "/var/secrets/provider/key.json"},
        )
        assert e.env_from == {"prefix": "QUEUE_", "secretRef": {"name": SECRET}}
        assert e.volume == {
            "name": "myapp-queue",
            "secret": {
                "secretName": SECRET,
                "items": [{"key": "key.json", "path": "key.json"}],
                "defaultMode": 0o644,
            },
        }
        assert e.mount == {
            "name": "myapp-queue",
            "mountPath": "/var/secrets/provider",
            "readOnly": True,
        }

    def test_read_write_mount_and_explicit_mode(self) -> None:
        e = entries(
            {
                "target": {"kind": "Deployment", "name": "myapp"},
                "volume": {
                    "name": "creds",
                    "mountPath": "/c",
                    "readOnly": False,
                    "defaultMode": 0o400,
                },
            }
        )
        assert e.mount == {"name": "creds", "mountPath": "/c"}
        assert e.volume is not None and e.volume["secret"]["defaultMode"] == 0o400
        assert e.containers is None

    @pytest.mark.parametrize(
        ("name", "expected"),
        [("myapp-queue", "myapp-queue"), ("my.app.queue", "my-app-queue"), ("a" * 70, None)],
    )
    def test_default_volume_name_is_dns_label(self, name: str, expected: str | None) -> None:
        got = default_volume_name(name)
        assert len(got) <= 63
        if expected is not None:
            assert got == expected
        else:
            assert got != default_volume_name("a" * 71)


class TestApply:
    def test_adds_only_to_named_container_and_leaves_others_alone(self) -> None:
        before = workload()
        result = plan_apply(before, entries())
        after = result.after
        app, sidecar = container(after, "app"), container(after, "sidecar")
        assert sidecar == container(before, "sidecar")
        assert [e["name"] for e in app["env"]] == [
            "LOG_LEVEL",
            "DB_PASSWORD",
            "TOPIC",
            "PROVIDER_APPLICATION_CREDENTIALS",
        ]
        assert app["envFrom"] == [
            {"configMapRef": {"name": "app-config"}},
            {"prefix": "QUEUE_", "secretRef": {"name": SECRET}},
        ]
        assert [m["mountPath"] for m in app["volumeMounts"]] == ["/data", "/var/secrets/provider"]
        assert [v["name"] for v in pod(after)["volumes"]] == ["data", "proxy-certs", "myapp-queue"]
        assert before == workload()  # input untouched

    def test_patch_uses_merge_keys_and_full_envfrom_list(self) -> None:
        patch = plan_apply(workload(), entries()).patch
        containers = patch["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in containers] == ["app"]
        assert containers[0]["envFrom"][0] == {"configMapRef": {"name": "app-config"}}
        assert patch["spec"]["template"]["spec"]["volumes"][0]["name"] == "myapp-queue"

    def test_records_owned_entries_in_annotation(self) -> None:
        after = plan_apply(workload(), entries()).after
        raw = json.loads(after["metadata"]["annotations"][MAPPINGS_ANNOTATION])
        assert raw == {
            "PodMapping/cloud-apps/myapp-queue": {
                "secret": SECRET,
                "containers": ["app"],
                "env": ["TOPIC", "PROVIDER_APPLICATION_CREDENTIALS"],
                "envFrom": {"secret": SECRET, "prefix": "QUEUE_"},
                "volume": "myapp-queue",
                "mounts": ["/var/secrets/provider"],
            }
        }

    def test_diff_lines_for_plan(self) -> None:
        lines = [str(c) for c in plan_apply(workload(), entries()).changes]
        assert lines == [
            f"+ env TOPIC (from Secret {SECRET} key topic) [container app]",
            "+ env PROVIDER_APPLICATION_CREDENTIALS"
            ' (= "/var/secrets/provider/key.json") [container app]',
            f"+ envFrom Secret/{SECRET}"
            f" (all keys of Secret {SECRET}, prefix QUEUE_) [container app]",
            "+ volumeMount /var/secrets/provider (volume myapp-queue, read-only) [container app]",
            f"+ volume myapp-queue (Secret {SECRET}, items key.json→key.json, mode 0644)",
        ]

    def test_single_container_diff_omits_container(self) -> None:
        spec = {"containers": [{"name": "only", "image": "x"}]}
        lines = [
            str(c)
            for c in plan_apply(
                workload(pod_spec=spec),
                entries(
                    {
                        "target": {"kind": "Deployment", "name": "myapp"},
                        "env": [{"name": "TOPIC", "key": "topic"}],
                    }
                ),
            ).changes
        ]
        assert lines == [f"+ env TOPIC (from Secret {SECRET} key topic)"]

    def test_all_containers_when_none_named(self) -> None:
        e = entries(
            {
                "target": {"kind": "Deployment", "name": "myapp"},
                "env": [{"name": "TOPIC", "key": "topic"}],
            }
        )
        after = plan_apply(workload(), e).after
        assert container(after, "sidecar")["env"][-1]["name"] == "TOPIC"
        assert container(after, "app")["env"][-1]["name"] == "TOPIC"

    def test_second_apply_is_a_noop(self) -> None:
        after = plan_apply(workload(), entries()).after
        again = plan_apply(after, entries())
        assert not again.changed
        assert again.changes == ()
        assert again.after == after

    @pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "CronJob"])
    def test_every_workload_kind(self, kind: str) -> None:
        spec = dict(QUEUE_MAPPING, target={"kind": kind, "name": "myapp", "containers": ["app"]})
        result = plan_apply(workload(kind), entries(spec))
        assert (
            container(result.after, "app")["env"][-1]["name"] == "PROVIDER_APPLICATION_CREDENTIALS"
        )
        path = ["spec", "jobTemplate", "spec"] if kind == "CronJob" else ["spec"]
        node: Any = result.patch
        for key in [*path, "template", "spec", "containers"]:
            node = node[key]
        assert node[0]["name"] == "app"

    def test_job_template_changes_are_refused_but_identical_entries_adopted(self) -> None:
        spec = dict(QUEUE_MAPPING, target={"kind": "Job", "name": "myapp", "containers": ["app"]})
        with pytest.raises(ImmutableWorkloadError, match=r"Job/cloud-apps/myapp: cannot map"):
            plan_apply(workload("Job"), entries(spec))
        # A Job created with the entries already in place (e.g. from rendered manifests).
        created = copy.deepcopy(workload("Job"))
        created["spec"]["template"]["spec"] = pod(plan_apply(workload(), entries()).after)
        result = plan_apply(created, entries(spec))
        assert set(result.patch) == {"metadata"}  # only the ownership record
        with pytest.raises(ImmutableWorkloadError, match="cannot unmap"):
            plan_remove(result.after, entries(spec).address)

    def test_unknown_container_is_cluster_error(self) -> None:
        spec = dict(
            QUEUE_MAPPING, target={"kind": "Deployment", "name": "myapp", "containers": ["web"]}
        )
        with pytest.raises(
            ClusterError, match=r"has no container named web \(containers: app, sidecar\)"
        ):
            plan_apply(workload(), entries(spec))

    def test_changing_the_mapping_replaces_only_owned_entries(self) -> None:
        after = plan_apply(workload(), entries()).after
        changed = dict(
            QUEUE_MAPPING,
            env=[{"name": "QUEUE_TOPIC", "key": "topic"}],
            envFrom=None,
            volume={"mountPath": "/etc/queue"},
        )
        result = plan_apply(after, entries(changed))
        app = container(result.after, "app")
        assert [e["name"] for e in app["env"]] == ["LOG_LEVEL", "DB_PASSWORD", "QUEUE_TOPIC"]
        assert app["envFrom"] == [{"configMapRef": {"name": "app-config"}}]
        assert [m["mountPath"] for m in app["volumeMounts"]] == ["/data", "/etc/queue"]
        vol = next(v for v in pod(result.after)["volumes"] if v["name"] == "myapp-queue")
        assert "items" not in vol["secret"]  # dropped field removed via explicit null
        assert {str(c)[0] for c in result.changes} == {"+", "-", "~"}

    def test_env_switching_from_key_to_literal_drops_value_from(self) -> None:
        after = plan_apply(workload(), entries()).after
        changed = dict(QUEUE_MAPPING, env=[{"name": "TOPIC", "value": "fixed"}])
        app = container(plan_apply(after, entries(changed)).after, "app")
        assert app["env"][-1] == {"name": "TOPIC", "value": "fixed"}


class TestOwnership:
    def test_refuses_to_overwrite_unowned_env(self) -> None:
        spec = dict(QUEUE_MAPPING, env=[{"name": "LOG_LEVEL", "key": "level"}])
        with pytest.raises(
            OwnershipError, match="already has env LOG_LEVEL, which catalogctl did not add"
        ):
            plan_apply(workload(), entries(spec))

    def test_adopts_identical_unowned_env(self) -> None:
        spec = dict(QUEUE_MAPPING, env=[{"name": "LOG_LEVEL", "value": "debug"}])
        result = plan_apply(workload(), entries(spec))
        assert [c for c in result.changes if c.entry == "env"] == []

    def test_refuses_unowned_volume_and_mount(self) -> None:
        spec = dict(QUEUE_MAPPING, volume={"name": "data", "mountPath": "/x"})
        with pytest.raises(OwnershipError, match="volume data already exists"):
            plan_apply(workload(), entries(spec))
        spec = dict(QUEUE_MAPPING, volume={"mountPath": "/data"})
        with pytest.raises(OwnershipError, match="already mounts something at /data"):
            plan_apply(workload(), entries(spec))

    def test_two_mappings_cannot_claim_the_same_env(self) -> None:
        after = plan_apply(workload(), entries()).after
        other = {"target": QUEUE_MAPPING["target"], "env": [{"name": "TOPIC", "key": "t"}]}
        with pytest.raises(OwnershipError, match="owned by PodMapping/cloud-apps/myapp-queue"):
            plan_apply(after, entries(other, name="other"))

    def test_two_mappings_coexist_and_removal_is_per_mapping(self) -> None:
        first = plan_apply(workload(), entries()).after
        other = {
            "target": QUEUE_MAPPING["target"],
            "env": [{"name": "CACHE_URL", "key": "url"}],
            "volume": {"mountPath": "/cache"},
        }
        both = plan_apply(first, entries(other, name="cache")).after
        assert set(read_records(both)) == {
            "PodMapping/cloud-apps/myapp-queue",
            "PodMapping/cloud-apps/cache",
        }
        only_cache = plan_remove(both, "PodMapping/cloud-apps/myapp-queue").after
        app = container(only_cache, "app")
        assert [e["name"] for e in app["env"]] == ["LOG_LEVEL", "DB_PASSWORD", "CACHE_URL"]
        assert [v["name"] for v in pod(only_cache)["volumes"]] == ["data", "proxy-certs", "cache"]
        assert set(read_records(only_cache)) == {"PodMapping/cloud-apps/cache"}


class TestRemove:
    def test_remove_restores_the_original_exactly(self) -> None:
        after = plan_apply(workload(), entries()).after
        result = plan_remove(after, "PodMapping/cloud-apps/myapp-queue")
        assert result.after == workload()
        assert all(str(c).startswith("- ") for c in result.changes)

    def test_remove_patch_deletes_by_merge_key_and_rewrites_envfrom(self) -> None:
        after = plan_apply(workload(), entries()).after
        patch = plan_remove(after, "PodMapping/cloud-apps/myapp-queue").patch
        cont = patch["spec"]["template"]["spec"]["containers"][0]
        assert cont["env"] == [
            {"name": "TOPIC", "$patch": "delete"},
            {"name": "PROVIDER_APPLICATION_CREDENTIALS", "$patch": "delete"},
        ]
        assert cont["volumeMounts"] == [{"mountPath": "/var/secrets/provider", "$patch": "delete"}]
        assert cont["envFrom"] == [{"configMapRef": {"name": "app-config"}}]
        assert patch["spec"]["template"]["spec"]["volumes"] == [
            {"name": "myapp-queue", "$patch": "delete"}
        ]
        assert patch["metadata"] == {"annotations": None}

    def test_remove_leaves_entries_the_user_changed_by_name(self) -> None:
        after = plan_apply(workload(), entries()).after
        # Somebody else removed our env var by hand: removal must not fail or touch others.
        app = container(after, "app")
        app["env"] = [e for e in app["env"] if e["name"] != "TOPIC"]
        result = plan_remove(after, "PodMapping/cloud-apps/myapp-queue")
        names = [e["name"] for e in container(result.after, "app")["env"]]
        assert names == ["LOG_LEVEL", "DB_PASSWORD"]

    def test_remove_of_unknown_mapping_is_noop(self) -> None:
        result = plan_remove(workload(), "PodMapping/cloud-apps/nope")
        assert not result.changed


class TestObserve:
    def test_observation_reports_present_missing_changed(self) -> None:
        after = plan_apply(workload(), entries()).after
        app = container(after, "app")
        app["env"] = [e for e in app["env"] if e["name"] != "TOPIC"]
        app["volumeMounts"][-1]["readOnly"] = False
        obs = observe_entries(after, "PodMapping/cloud-apps/myapp-queue", entries())
        assert "env TOPIC [app]" in obs.missing
        assert "volumeMount /var/secrets/provider [app]" in obs.changed
        assert "volume myapp-queue" in obs.present
        assert obs.recorded and not obs.in_sync
        assert any(str(c).startswith("+ env TOPIC") for c in obs.pending)

    def test_in_sync_after_apply(self) -> None:
        after = plan_apply(workload(), entries()).after
        obs = observe_entries(after, "PodMapping/cloud-apps/myapp-queue", entries())
        assert obs.in_sync and not obs.missing and not obs.changed

    def test_observe_without_desired_lists_recorded_entries(self) -> None:
        after = plan_apply(workload(), entries()).after
        obs = observe_entries(after, "PodMapping/cloud-apps/myapp-queue", None)
        assert "env TOPIC [app]" in obs.present
        assert all(c.action == "-" for c in obs.pending)


class TestStrategicMerge:
    def test_merge_rules(self) -> None:
        original = {
            "spec": {
                "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}], "args": ["x"]}]
            },
            "keep": 1,
        }
        patch = {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "env": [{"name": "X", "$patch": "delete"}, {"name": "Y", "value": "2"}],
                        "args": ["y"],
                    },
                    {"name": "b", "image": "i"},
                ]
            },
            "keep": None,
        }
        result = strategic_merge(original, patch)
        assert result == {
            "spec": {
                "containers": [
                    {"name": "a", "env": [{"name": "Y", "value": "2"}], "args": ["y"]},
                    {"name": "b", "image": "i"},
                ]
            }
        }
        assert original["keep"] == 1

    def test_volume_mounts_merge_by_mount_path(self) -> None:
        original = {"volumeMounts": [{"name": "v", "mountPath": "/a"}]}
        result = strategic_merge(original, {"volumeMounts": [{"name": "w", "mountPath": "/a"}]})
        assert result == {"volumeMounts": [{"name": "w", "mountPath": "/a"}]}

    def test_patches_are_deterministic(self) -> None:
        w = workload()
        assert plan_apply(copy.deepcopy(w), entries()).patch == plan_apply(w, entries()).patch


def test_generic_diff_hides_literal_values_unless_asked() -> None:
    from catalogctl.providers.kubernetes.mappings import diff_workloads

    before = workload()
    after = copy.deepcopy(before)
    container(after, "app")["env"][0]["value"] = "hunter2-literal"
    hidden = [str(c) for c in diff_workloads(before, after)]
    assert hidden == ["~ env LOG_LEVEL (= (literal value) -> = (literal value)) [container app]"]
    shown = [str(c) for c in diff_workloads(before, after, show_literal_values=True)]
    assert "hunter2-literal" in shown[0]


def test_two_mappings_cannot_share_one_envfrom_entry() -> None:
    first = plan_apply(workload(), entries()).after
    other = {"target": QUEUE_MAPPING["target"], "envFrom": {"prefix": "QUEUE_"}}
    with pytest.raises(
        OwnershipError, match="envFrom of Secret cloud-queue-binding in container app"
    ):
        plan_apply(first, entries(other, name="again"))
    # A different prefix is a different entry and may coexist.
    ok = {"target": QUEUE_MAPPING["target"], "envFrom": {"prefix": "Q2_"}}
    assert plan_apply(first, entries(ok, name="again")).changed


def test_moving_a_mapping_to_another_container() -> None:
    first = plan_apply(workload(), entries()).after
    moved = dict(
        QUEUE_MAPPING, target={"kind": "Deployment", "name": "myapp", "containers": ["sidecar"]}
    )
    after = plan_apply(first, entries(moved)).after
    assert container(after, "app") == container(workload(), "app")
    sidecar = container(after, "sidecar")
    assert [e["name"] for e in sidecar["env"]] == [
        "PROXY_PORT",
        "TOPIC",
        "PROVIDER_APPLICATION_CREDENTIALS",
    ]
    assert read_records(after)["PodMapping/cloud-apps/myapp-queue"].containers == ("sidecar",)
    assert plan_remove(after, "PodMapping/cloud-apps/myapp-queue").after == workload()


def test_wire_patch_names_the_order_of_every_list_it_touches() -> None:
    """The order is the locally merged one (new items last); the server would otherwise put
    the patch's new items first. Deleted items are left out of it, other fields untouched."""
    wl = workload()
    result = plan_apply(wl, mapping_entries(pod_mapping(QUEUE_MAPPING), "cloud-queue-binding"))
    wire = with_element_order(result.patch, result.after)
    pod = wire["spec"]["template"]["spec"]
    assert pod["$setElementOrder/containers"] == [{"name": "app"}, {"name": "sidecar"}]
    assert pod["$setElementOrder/volumes"] == [
        {"name": "data"}, {"name": "proxy-certs"}, {"name": "myapp-queue"}]
    [app] = pod["containers"]
    assert app["$setElementOrder/env"] == [
        {"name": n} for n in ("LOG_LEVEL", "DB_PASSWORD", "TOPIC",
                              "PROVIDER_APPLICATION_CREDENTIALS")]
    assert app["$setElementOrder/volumeMounts"] == [
        {"mountPath": "/data"}, {"mountPath": "/var/secrets/provider"}]
    assert "$setElementOrder/envFrom" not in app  # no merge key: sent whole
    assert wire["metadata"] == result.patch["metadata"]
    removal = plan_remove(result.after, "PodMapping/cloud-apps/myapp-queue")
    wire = with_element_order(removal.patch, removal.after)
    [app] = wire["spec"]["template"]["spec"]["containers"]
    assert app["$setElementOrder/env"] == [{"name": "LOG_LEVEL"}, {"name": "DB_PASSWORD"}]
    assert {"name": "TOPIC", "$patch": "delete"} in app["env"]
