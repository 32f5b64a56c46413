"""When a workload counts as rolled out (pure: objects as the API returns them)."""

from __future__ import annotations

from typing import Any

import pytest

from catalogctl.providers.kubernetes.rollouts import rollout_status


def _deployment(status: dict[str, Any], generation: int = 2, replicas: int = 2) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 2, **status},
    }


def test_a_deployment_is_done_when_every_replica_runs_the_new_template_and_is_available() -> None:
    done = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert rollout_status(_deployment(done)).done


@pytest.mark.parametrize(
    ("status", "generation", "detail"),
    [
        ({}, 3, "waiting for the controller to see the new pod template"),
        ({"replicas": 2, "updatedReplicas": 1}, 2, "1 of 2 replicas run the new pod template"),
        ({"replicas": 3, "updatedReplicas": 2}, 2, "1 old replicas are still terminating"),
        (
            {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
            2,
            "1 of 2 updated replicas are available",
        ),
    ],
)
def test_a_deployment_still_rolling_says_why(
    status: dict[str, Any], generation: int, detail: str
) -> None:
    seen = rollout_status(_deployment(status, generation))
    assert (seen.done, seen.failed, seen.detail) == (False, False, detail)


def test_a_deployment_past_its_progress_deadline_has_failed() -> None:
    stuck = {
        "replicas": 2,
        "updatedReplicas": 1,
        "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
    }
    seen = rollout_status(_deployment(stuck))
    assert seen.failed and not seen.done


def test_stateful_sets_and_daemon_sets() -> None:
    sts: dict[str, Any] = {
        "kind": "StatefulSet",
        "metadata": {"generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 2,
            "currentRevision": "a",
            "updateRevision": "b",
            "updatedReplicas": 1,
        },
    }
    assert rollout_status(sts).detail == "1 of 2 replicas run the new pod template"
    sts["status"]["currentRevision"] = "b"
    assert rollout_status(sts).done
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    sts["status"]["readyReplicas"] = 0
    assert rollout_status(sts).done  # nothing replaces its pods but someone deleting them
    ds: dict[str, Any] = {
        "kind": "DaemonSet",
        "metadata": {"generation": 4},
        "spec": {},
        "status": {
            "observedGeneration": 4,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert rollout_status(ds).detail == "2 of 3 updated pods are available"
    ds["status"]["numberAvailable"] = 3
    assert rollout_status(ds).done


def test_a_cron_job_has_nothing_to_wait_for() -> None:
    assert rollout_status({"kind": "CronJob", "metadata": {"generation": 5}}).done
