"""Options shared by commands that read desired state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def input_options(func: F) -> F:
    """``-f/--filename`` (repeatable), ``-n/--namespace`` and ``--strict-kinds``, like kubectl."""
    func = click.option(
        "--strict-kinds",
        is_flag=True,
        help="Treat objects of kinds catalogctl does not manage as errors, not ignored.",
    )(func)
    func = click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        envvar="CATALOGCTL_NAMESPACE",
        help="Namespace for resources that do not set one.",
    )(func)
    func = click.option(
        "-f",
        "--filename",
        "filenames",
        multiple=True,
        required=True,
        help="File, directory (recursive *.yaml/*.yml) or - for stdin. Repeatable.",
    )(func)
    return func


def run_options(func: F) -> F:
    """State, cluster and broker flags shared by plan, apply, destroy and drift."""
    options = [
        click.option(
            "--state",
            "state_dir",
            default="state",
            show_default=True,
            envvar="CATALOGCTL_STATE",
            help="Directory of the local state backend.",
        ),
        click.option(
            "--lock-timeout",
            default="0s",
            show_default=True,
            help="How long to wait for the state lock (e.g. 30s, 5m).",
        ),
        click.option("--kubeconfig", help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config)."),
        click.option("--context", "kube_context", help="Kubeconfig context to use."),
        click.option(
            "--cluster-dir",
            envvar="CATALOGCTL_CLUSTER_DIR",
            help="Write Secrets and workload patches as YAML files in DIR instead of a cluster.",
        ),
        click.option(
            "--secrets-dir",
            envvar="CATALOGCTL_SECRETS_DIR",
            help="Read input Secrets (parametersFrom, broker auth) from DIR/<ns>/<name>/<key>.",
        ),
        click.option(
            "--cluster-id",
            envvar="CATALOGCTL_CLUSTER_ID",
            default="catalogctl",
            show_default=True,
            help="Sent to brokers as context.clusterid and organization_guid.",
        ),
        click.option(
            "--parallelism",
            default=16,
            show_default=True,
            type=click.IntRange(1, 1024),
            help="Broker requests in flight at once, across all brokers.",
        ),
        click.option(
            "--broker-timeout",
            default=60.0,
            show_default=True,
            type=float,
            help="Seconds before a broker request times out.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def plan_options(func: F) -> F:
    """Flags that shape a plan (plan, apply, destroy)."""
    options = [
        click.option(
            "--refresh/--no-refresh",
            default=True,
            show_default=True,
            help="Read live broker and cluster state before diffing.",
        ),
        click.option(
            "--target",
            "targets",
            multiple=True,
            metavar="ADDR",
            help="Limit the plan to ADDR and what it depends on. Repeatable.",
        ),
        click.option(
            "--replace",
            "replace",
            multiple=True,
            metavar="ADDR",
            help="Force replacement of ADDR. Repeatable.",
        ),
        click.option(
            "--upgrade",
            is_flag=True,
            help="Apply newer maintenance_info versions offered by brokers.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
