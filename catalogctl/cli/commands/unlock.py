"""``catalogctl force-unlock``: clear a state lock left behind by a run that went away.

A run killed hard (SIGKILL, a lost CI runner) cannot release its lock, and
the local backend reports such a lock instead of stealing it, because the
dead run's journal may hold steps a user should know were interrupted.  This
command is the way out, shaped like Terraform's: it needs the lock id (from
the lock error message), so an old id cannot clear a newer run's lock, and it
asks before acting unless ``--force``.  Without a terminal to ask on it
refuses, so a script cannot clear a lock by accident.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import state_location_options


@click.command("force-unlock")
@click.argument("lock_id", metavar="LOCK_ID")
@state_location_options
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def force_unlock(ctx: click.Context, /, **params: Any) -> int:
    """Release the state lock LOCK_ID held by a run that is no longer running.

    Only the current lock's id is accepted. Asks for confirmation unless
    --force (and refuses without a terminal unless --force). Exit codes:
    0 unlocked, 1 error or cancelled (the lock is kept).
    """
    from catalogctl.cli.session import state_session
    from catalogctl.errors import UsageError

    console = console_of(ctx)
    lock_id: str = params["lock_id"]
    session = state_session(console, params)
    current = session.lock_to_clear(lock_id)
    if not params["force"]:
        if not sys.stdin.isatty():
            raise UsageError(
                "force-unlock needs confirmation, but stdin is not a terminal: pass --force"
            )
        console.out(
            f"Lock {current.id} is held by {current.who} (pid {current.pid}) for "
            f"operation {current.operation!r} since "
            f"{current.created.strftime('%Y-%m-%dT%H:%M:%SZ')}."
        )
        console.out("")
        console.out("Do you really want to force-unlock?")
        console.out("  catalogctl will remove the lock on the state. This allows other runs to")
        console.out("  change the state, even though it may still be in use.")
        console.out("  Only 'yes' will be accepted to confirm.")
        answer = click.prompt("  Enter a value", default="", show_default=False)
        if answer != "yes":
            console.out("\nforce-unlock cancelled: the lock is still held.")
            return 1
    session.force_unlock(lock_id)
    console.out(
        console.style("catalogctl state has been successfully unlocked!", fg="green", bold=True)
    )
    console.out("")
    console.out("The state has been unlocked, and catalogctl commands should now be able to")
    console.out("obtain a new lock on it.")
    return 0
