"""``apply --wait``: a rotation unbinds the old binding only once the mapped Deployment rolled out.

Runs ``apply`` in-process against a real kube-apiserver and a real broker, with an injected
clock: the waits between looks at the Deployment advance the clock instead of sleeping.  The
API server runs no controllers, so the test plays the Deployment controller, writing the
Deployment's status when the clock says the rollout ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from catalogctl.engine.brokers import BrokerSettings
from catalogctl.engine.cluster import open_cluster
from catalogctl.engine.executor import ApplyOptions
from catalogctl.engine.inputs import load_inputs
from catalogctl.engine.session import Session
from catalogctl.errors import ApplyFailed
from catalogctl.plan.inputs import DiffOptions
from catalogctl.providers.osb.retrying import RetryPolicy
from catalogctl.state.local import LocalBackend
from tests.e2e.inprocess import SkipClock
from tests.e2e.test_rotation_no_downtime import DEPLOYMENT, services_yaml
from tests.engine.test_crash_recovery import HoldingBroker
from tests.fixtures.cluster import KubeApiServer


class Rotation:
    """A namespace with Deployment ``web``, services applied once, and in-process applies."""

    def __init__(self, server: KubeApiServer, tmp: Path, broker: HoldingBroker) -> None:
        self.ns = server.create_namespace("rotate-wait")
        self.apps = client.AppsV1Api(server.api_client())
        self.apps.create_namespaced_deployment(self.ns, DEPLOYMENT)
        self.kubeconfig = str(server.kubeconfig(self.ns))
        self.tmp = tmp
        (tmp / "services").mkdir()
        (tmp / "services" / "services.yaml").write_text(services_yaml(broker.url, self.ns))
        self.binding = f"ServiceBinding/{self.ns}/db-binding"
        self.mapping = f"PodMapping/{self.ns}/web-db"
        self.clock = SkipClock()
        self.lines: list[str] = []

    def apply(self, *, replace: bool = False, wait: bool = False, timeout: float = 300) -> None:
        session = Session(
            backend=LocalBackend(self.tmp / "state"),
            cluster=open_cluster(kubeconfig=self.kubeconfig),
            settings=BrokerSettings(
                catalog_cache_dir=self.tmp / "catalog-cache", retry=RetryPolicy(clock=self.clock)
            ),
            emit=self.lines.append,
            apply_options=ApplyOptions(wait=wait, wait_timeout=timeout),
        )
        inputs = load_inputs([str(self.tmp / "services")], "default", False)
        replaced = frozenset({self.binding} if replace else ())
        session.apply(inputs=inputs, options=DiffOptions(replace=replaced))

    def rolled_out(self) -> None:
        """What the Deployment controller writes once every replica runs the new template."""
        live = self.apps.read_namespaced_deployment("web", self.ns)
        live.status = client.V1DeploymentStatus(
            observed_generation=live.metadata.generation,
            replicas=2,
            updated_replicas=2,
            ready_replicas=2,
            available_replicas=2,
        )
        self.apps.replace_namespaced_deployment_status("web", self.ns, live)


@pytest.fixture
def applied(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> Iterator[tuple[Rotation, HoldingBroker, tuple[str, str]]]:
    """The services applied once: (the run, its broker, the binding at the broker)."""
    with HoldingBroker() as broker:
        run = Rotation(kube_apiserver, tmp_path, broker)
        run.apply()
        (old,) = broker.bindings
        yield run, broker, old


def test_wait_unbinds_the_old_binding_only_after_the_rollout(
    applied: tuple[Rotation, HoldingBroker, tuple[str, str]],
) -> None:
    run, broker, old = applied
    seen_while_waiting: list[int] = []

    def controller(sleeps: int) -> None:
        seen_while_waiting.append(len(broker.bindings))
        if sleeps == 3:  # three looks at an unfinished rollout, then it finishes
            run.rolled_out()

    run.clock.on_sleep = controller
    run.apply(replace=True, wait=True)
    # Waited 3 looks (2 s apart), with the old and the new binding both bound meanwhile.
    assert run.clock.sleeps == [2.0, 2.0, 2.0]
    assert seen_while_waiting == [2, 2, 2]
    ((_, new),) = broker.bindings
    assert new != old[1]
    lines = run.lines
    assert lines.index(f"{run.binding}: Waiting for rollouts...") < lines.index(
        f"{run.binding}: Unbinding..."
    )


def test_a_rollout_that_does_not_finish_in_time_keeps_the_old_binding(
    applied: tuple[Rotation, HoldingBroker, tuple[str, str]],
) -> None:
    run, broker, old = applied
    try:
        run.apply(replace=True, wait=True, timeout=10)
    except ApplyFailed as failed:
        message = str(failed)
    else:
        raise AssertionError("the apply should have failed")
    assert (
        f"{run.binding}: rollout did not finish within 10s (--wait-timeout): "
        f"Deployment/{run.ns}/web: waiting for the controller to see the new pod template"
    ) in message
    # Looks 2 s apart until the deadline (the clock also counts the real time that passed).
    assert run.clock.sleeps[:4] == [2.0, 2.0, 2.0, 2.0]
    assert sum(run.clock.sleeps) == pytest.approx(10.0, abs=0.5)
    # The old binding stays bound (pods may still use it) and recorded to retire.
    assert old in broker.bindings and len(broker.bindings) == 2
    # The next apply (without --wait) finishes the rotation.
    run.apply()
    (left,) = broker.bindings
    assert left != old


def test_wait_also_waits_for_a_rollout_that_new_credentials_start_outside_a_rotation(
    applied: tuple[Rotation, HoldingBroker, tuple[str, str]],
) -> None:
    run, broker, old = applied
    services = run.tmp / "services" / "services.yaml"
    services.write_text(services_yaml(broker.url, run.ns, rotation="destroy-first"))
    run.clock.on_sleep = lambda sleeps: run.rolled_out() if sleeps == 2 else None
    run.apply(replace=True, wait=True)
    # Unbind, bind, Secret, then the mapping rolls the Deployment: two looks until it finished.
    assert run.clock.sleeps == [2.0, 2.0]
    assert f"{run.mapping}: Waiting for rollouts..." in run.lines
    assert f"{run.binding}: Waiting for rollouts..." not in run.lines
    ((_, new),) = broker.bindings
    assert new != old[1]


def test_a_rollout_outside_a_rotation_that_does_not_finish_in_time_fails_the_mapping_step(
    applied: tuple[Rotation, HoldingBroker, tuple[str, str]],
) -> None:
    run, broker, _ = applied
    services = run.tmp / "services" / "services.yaml"
    services.write_text(services_yaml(broker.url, run.ns, rotation="destroy-first"))
    with pytest.raises(ApplyFailed) as failed:
        run.apply(replace=True, wait=True, timeout=10)
    assert (
        f"{run.mapping}: rollout did not finish within 10s (--wait-timeout): "
        f"Deployment/{run.ns}/web: waiting for the controller to see the new pod template"
    ) in str(failed.value)
    assert sum(run.clock.sleeps) == pytest.approx(10.0, abs=0.5)
