"""``catalogctl apply`` and ``catalogctl destroy``."""

from __future__ import annotations

import sys
from typing import Any

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import (
    allow_empty_option,
    plan_options,
    rotation_options,
    run_options,
    wait_options,
)


class _Prompt:
    """Shows the plan and asks for ``yes``; ``declined`` tells the command to exit 1.

    Without a terminal to ask on (and without --auto-approve) it refuses with a
    usage error before anything is changed.
    """

    def __init__(
        self,
        console: Console,
        auto_approve: bool,
        destroy: bool,
        where: str = "",
        targeted: bool = False,
    ) -> None:
        self.console = console
        self.where = where
        self.targeted = targeted
        self.auto_approve = auto_approve
        self.destroy = destroy
        self.declined = False

    def __call__(self, plan: Any) -> bool:
        from catalogctl.cli.commands.plan import plan_notices
        from catalogctl.cli.views.plan_human import render_plan
        from catalogctl.errors import UsageError

        console = self.console
        for notice in plan_notices(plan, self.where, self.targeted):
            console.out(notice)
        console.out(render_plan(plan, color=console.color_enabled(), show_footer=False))
        if self.auto_approve:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "apply needs confirmation, but stdin is not a terminal: pass --auto-approve "
                "(or apply a saved plan file)"
            )
        from catalogctl.plan.model import Mode

        refresh_only = plan.mode is Mode.REFRESH_ONLY
        console.out("")
        if refresh_only:
            console.out("Would you like to update the catalogctl state to reflect these changes?")
            console.out("  catalogctl will write these changes to the state without changing")
            console.out("  any broker or cluster object.")
        else:
            console.out(
                "Do you really want to destroy all resources?"
                if self.destroy
                else "Do you want to perform these actions?"
            )
            console.out(
                "  catalogctl will perform the actions described above."
                + (" There is no undo." if self.destroy else "")
            )
        console.out("  Only 'yes' will be accepted to approve.")
        answer = click.prompt("  Enter a value", default="", show_default=False)
        if answer != "yes":
            console.out("\nDestroy cancelled." if self.destroy else "\nApply cancelled.")
            self.declined = True
            return False
        return True


def _summary(console: Console, plan: Any, state_before: Any, destroy: bool) -> None:
    counts = plan.counts()
    from catalogctl.plan.model import Action

    replaced = counts[Action.REPLACE] + counts[Action.CREATE_THEN_DELETE]
    added = counts[Action.CREATE] + replaced
    changed = counts[Action.UPDATE]
    destroyed = counts[Action.DELETE] + replaced
    word = "Destroy" if destroy else "Apply"
    console.out("")
    console.out(
        console.style(
            f"{word} complete! Resources: {added} added, {changed} changed, {destroyed} destroyed.",
            fg="green",
            bold=True,
        )
    )


def _run(ctx: click.Context, params: dict[str, Any], *, destroy: bool) -> int:
    from catalogctl.cli.commands.plan import diff_options, expand_targets
    from catalogctl.cli.session import build_session
    from catalogctl.engine.executor import ApplyOptions
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.engine.session import read_plan_file
    from catalogctl.errors import UsageError

    console = console_of(ctx)
    from catalogctl.cli.namespaces import resolve_namespace

    resolve_namespace(ctx, params)
    plan_file = params.get("plan_file")
    saved = None
    inputs = None
    if plan_file:
        if params.get("filenames"):
            raise UsageError("a saved plan is applied as it is: do not pass -f with a plan file")
        saved = read_plan_file(plan_file)
    elif params.get("filenames"):
        inputs = load_inputs(params["filenames"], params["namespace"], params["strict_kinds"])
    elif not destroy:
        raise UsageError("pass -f/--filename with the desired state, or a saved plan file")
    options = diff_options(params, destroy=destroy, refresh_only=bool(params.get("refresh_only")))
    if options.refresh_only and saved is not None:
        raise UsageError("--refresh-only plans anew: do not pass a saved plan with it")
    if inputs is not None:
        options = expand_targets(inputs, None, options)
    session = build_session(console, params, params["namespace"])
    session.apply_options = ApplyOptions(
        orphan_mitigation=not params.get("no_orphan_mitigation", False),
        wait=bool(params.get("wait")),
        wait_timeout=_wait_timeout(params),
    )
    # A saved plan was approved when it was made: show it (once it is known
    # to be fresh) and apply it without asking again.
    where = session.backend.describe()
    approved = params["auto_approve"] or saved is not None
    confirm = _Prompt(console, approved, destroy, where, bool(params.get("targets")))
    applied, _ = session.apply(
        inputs=inputs, options=options, refresh=params["refresh"], saved=saved, confirm=confirm
    )
    if confirm.declined:
        # Nothing was changed: the cancellation is the whole answer (Terraform exits 1).
        return 1
    from catalogctl.plan.model import Mode

    if applied.mode is Mode.REFRESH_ONLY and applied.drift:
        from catalogctl.plan.accept import not_accepted

        _summary(console, applied, None, destroy)
        left = not_accepted(applied.drift)
        if left:
            console.out(
                "Not accepted (the next apply repairs them): "
                + ", ".join(sorted({d.address for d in left}))
            )
        return 0
    if not applied.actionable:
        # Nothing to do, so confirm never ran: say so.
        from catalogctl.cli.commands.plan import plan_notices
        from catalogctl.cli.views.plan_human import render_plan

        for notice in plan_notices(applied, where, bool(params.get("targets"))):
            console.out(notice)
        console.out(render_plan(applied, color=console.color_enabled(), show_footer=False))
        return 0
    _summary(console, applied, None, destroy)
    return 0


def _wait_timeout(params: dict[str, Any]) -> float:
    from catalogctl.cli.session import parse_timeout
    from catalogctl.errors import UsageError

    seconds = parse_timeout(str(params.get("wait_timeout") or "5m"))
    if seconds <= 0:
        raise UsageError(f"--wait-timeout must be positive, got {seconds:g}s")
    return seconds


def _approval(func: Any) -> Any:
    func = click.option(
        "--auto-approve", is_flag=True, help="Apply without asking for confirmation."
    )(func)
    return click.option(
        "--no-orphan-mitigation",
        is_flag=True,
        help="Do not delete resources whose creation failed uncertainly; leave them tainted.",
    )(func)


def _namespace_and_kinds(func: Any) -> Any:
    func = click.option(
        "--strict-kinds", is_flag=True, help="Treat objects of unmanaged kinds as errors."
    )(func)
    return click.option(
        "-n",
        "--namespace",
        default="default",
        envvar="CATALOGCTL_NAMESPACE",
        help="Namespace for resources that do not set one "
        "[default: the kubeconfig context's namespace, else default].",
    )(func)


def _common(func: Any) -> Any:
    return _approval(plan_options(run_options(func)))


def _destroy_common(func: Any) -> Any:
    """destroy's flags: no --replace or --upgrade, and --target grows the other way."""
    func = click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDR",
        help="Destroy only ADDR and everything that depends on it. Repeatable.",
    )(func)
    func = click.option(
        "--refresh/--no-refresh",
        default=True,
        show_default=True,
        help="Read live broker and cluster state before planning.",
    )(func)
    return _approval(run_options(func))


@click.command()
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    help="File, directory (recursive *.yaml/*.yml/*.json) or - for stdin. Repeatable.",
)
@_namespace_and_kinds
@click.option(
    "--refresh-only",
    is_flag=True,
    help="Show changes made outside catalogctl and accept them into state; change nothing else.",
)
@allow_empty_option
@_common
@rotation_options
@wait_options
@click.pass_context
def apply(ctx: click.Context, /, **params: Any) -> int:
    """Provision, bind, write Secrets and map credentials to match the desired state.

    With PLAN_FILE (from `plan --out`), applies exactly that plan, and refuses
    it if the state changed since. Without it, plans first and asks for
    confirmation (unless --auto-approve). Ctrl-C stops starting new work, lets
    requests in flight finish, saves state and exits 130; a third Ctrl-C stops
    waiting for them. The next apply resumes.
    """
    return _run(ctx, params, destroy=False)


@click.command()
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    help="Desired state (optional: what is destroyed is what the state holds).",
)
@_namespace_and_kinds
@_destroy_common
@click.pass_context
def destroy(ctx: click.Context, /, **params: Any) -> int:
    """Delete everything catalogctl manages in this state.

    Unmaps, deletes Secrets, unbinds and deprovisions, in reverse dependency order.
    """
    params.setdefault("plan_file", None)
    return _run(ctx, params, destroy=True)
