"""How errors are shown: one clear message, never a traceback, never a secret."""

from __future__ import annotations

import click

from catalogctl.errors import ValidationFailed


def report_error(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        return
    if isinstance(exc, ValidationFailed):
        for problem in exc.problems:
            click.echo(problem.render(), err=True)
        click.echo(f"Error: {exc}", err=True)
        return
    click.echo(f"Error: {exc}", err=True)
