"""``catalogctl migrate service-catalog``: take over what Service Catalog runs today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import run_options


@click.group()
def migrate() -> None:
    """Move an installation from another tool to catalogctl."""


def _report(console: Console, outcome: Any, options: Any) -> None:
    dry = options.dry_run
    console.out(
        f"cluster id: {outcome.cluster_id} (from ConfigMap default/cluster-info)"
        if outcome.cluster_id
        else "cluster id: ConfigMap default/cluster-info has none; --cluster-id is used"
    )
    for address in outcome.already:
        console.out(f"{address}: already in the state with the same id")
    for skipped in outcome.skipped:
        console.err(f"Skipped {skipped.address}: {skipped.why}; {skipped.todo}.")
    verb = "Would take over" if dry else "Took over"
    console.out(
        f"{verb} {len(outcome.imported)} resources"
        + (f", released {len(outcome.released)}" if options.release and not dry else "")
        + f"; {len(outcome.skipped)} skipped."
    )
    if not dry and outcome.files:
        console.out(
            f'Next: "catalogctl plan -f {options.out}" should show No changes, '
            f'and "catalogctl drift -f {options.out}" no drift.'
        )


@migrate.command("service-catalog")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Write the desired-state YAML here (one file per namespace, one for cluster brokers).",
)
@click.option(
    "-n",
    "--namespace",
    "namespace",
    default=None,
    help="Migrate this namespace's instances and bindings (default: the kubeconfig's).",
)
@click.option("--all-namespaces", "-A", is_flag=True, help="Migrate every namespace.")
@click.option(
    "--dry-run", is_flag=True, help="Print what would be written and changed; change nothing."
)
@click.option(
    "--release",
    is_flag=True,
    help="After the import, remove Service Catalog's finalizers from the migrated objects.",
)
@run_options
@click.pass_context
def service_catalog(ctx: click.Context, /, **params: Any) -> int:
    """Take over Service Catalog's brokers, instances, bindings and binding Secrets.

    Reads servicecatalog.k8s.io/v1beta1 objects from the cluster, writes their
    desired state into DIR, imports every finished instance and binding into
    state with the ids, plan and parameter checksum Service Catalog recorded
    and its cluster id, and adopts each binding Secret as it is. No broker
    request changes anything. Unfinished objects are skipped and reported.
    Stop Service Catalog's controller first. Exit codes: 0 done (possibly
    with skipped objects, which are listed), 1 error.
    """
    from catalogctl.cli.session import build_session
    from catalogctl.engine.migrate import (
        MigrateOptions,
        migrate_service_catalog,
        open_service_catalog,
    )
    from catalogctl.errors import UsageError

    console = console_of(ctx)
    if params.get("cluster_dir"):
        raise UsageError(
            "migrate service-catalog reads Service Catalog's objects from a cluster: "
            "pass --kubeconfig/--context, not --cluster-dir"
        )
    if params["namespace"] and params["all_namespaces"]:
        raise UsageError("-n/--namespace and --all-namespaces cannot be combined")
    sc = open_service_catalog(params.get("kubeconfig"), params.get("kube_context"))
    namespace = None if params["all_namespaces"] else params["namespace"] or sc.default_namespace
    options = MigrateOptions(
        out=Path(params["out"]),
        namespace=namespace,
        dry_run=params["dry_run"],
        release=params["release"],
    )
    session = build_session(console, params, namespace or "default")
    outcome = migrate_service_catalog(session, sc, options, console.out)
    _report(console, outcome, options)
    return 0
