"""The ``catalogctl`` entry point: a click group whose commands load lazily.

``catalogctl --help`` must answer in well under a second on a small CI
machine, so command modules (and the heavy libraries they import: networkx,
httpx, kubernetes, pydantic models) are imported only when that command runs.
Every error that reaches this boundary is mapped to an exit code here and
nowhere else.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from catalogctl import __version__
from catalogctl.cli.exitcodes import exit_code_for

#: name -> (module, attribute, short help). The short help is repeated here so
#: that listing commands imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": (
        "catalogctl.cli.commands.validate",
        "validate",
        "Check desired-state YAML and report every problem.",
    ),
    "graph": (
        "catalogctl.cli.commands.graph",
        "graph",
        "Print the dependency graph (DOT or Mermaid).",
    ),
    "plan": (
        "catalogctl.cli.commands.plan",
        "plan",
        "Show what apply would do, without changing anything.",
    ),
    "apply": (
        "catalogctl.cli.commands.apply",
        "apply",
        "Make brokers and cluster match the desired state.",
    ),
    "rotate": (
        "catalogctl.cli.commands.rotate",
        "rotate",
        "Give bindings new credentials and roll the workloads that read them.",
    ),
    "destroy": (
        "catalogctl.cli.commands.apply",
        "destroy",
        "Delete everything catalogctl manages in this state.",
    ),
    "render": (
        "catalogctl.cli.commands.render",
        "render",
        "Render PodMappings as kustomize patches for Argo CD / Flux.",
    ),
    "drift": (
        "catalogctl.cli.commands.drift",
        "drift",
        "Report changes made outside catalogctl (exit 2 on drift).",
    ),
    "show": ("catalogctl.cli.commands.show", "show", "Show the current state or a saved plan."),
    "state": (
        "catalogctl.cli.commands.state_cmd",
        "state",
        "Inspect and repair state: list, show, rm, mv.",
    ),
    "output": (
        "catalogctl.cli.commands.output",
        "output",
        "Show binding credentials (masked unless --show-secrets).",
    ),
    "import": (
        "catalogctl.cli.commands.importing",
        "import_",
        "Adopt existing instances and bindings by their OSB ids.",
    ),
    "migrate": (
        "catalogctl.cli.commands.migrate",
        "migrate",
        "Take over a Service Catalog installation (migrate service-catalog).",
    ),
    "force-unlock": (
        "catalogctl.cli.commands.unlock",
        "force_unlock",
        "Release a state lock left by a run that died.",
    ),
    "get": (
        "catalogctl.cli.commands.get",
        "get",
        "List instances or bindings with their status (svcat get).",
    ),
    "describe": (
        "catalogctl.cli.commands.describe",
        "describe",
        "Show one instance or binding: status, operation, bindings.",
    ),
    "catalog": (
        "catalogctl.cli.commands.catalog",
        "catalog",
        "Browse broker catalogs: classes, plans and their schemas.",
    ),
}


#: Flags of the top-level group that may also be written after the command name.
GLOBAL_FLAGS = frozenset({"--no-color", "-v", "-vv", "-vvv", "--verbose"})


def globals_first(args: list[str]) -> list[str]:
    """Move global flags written after the command (``plan --no-color``) before it.

    Only up to ``--``, after which everything is an argument.
    """
    command_at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if command_at is None:
        return args
    head, tail = args[: command_at + 1], args[command_at + 1 :]
    end = tail.index("--") if "--" in tail else len(tail)
    moved = [a for a in tail[:end] if a in GLOBAL_FLAGS]
    kept = [a for a in tail[:end] if a not in GLOBAL_FLAGS] + tail[end:]
    return [*moved, *head, *kept] if moved else args


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, globals_first(list(args)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, entry[1])
        assert isinstance(command, click.Command)
        from catalogctl.cli.helptext import decorate

        decorate(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise click.UsageError(f"no such command {name!r}{hint}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExamples:\n  catalogctl plan -f services/\n"
    "  catalogctl apply -f services/ --auto-approve\n  catalogctl plan --help",
)
@click.version_option(__version__, "--version", prog_name="catalogctl")
@click.option("-v", "--verbose", count=True, help="More output (-vv for debug logs).")
@click.option("--no-color", is_flag=True, help="Disable colour output (also: NO_COLOR set).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, no_color: bool) -> None:
    """Plan and apply Open Service Broker services from declarative YAML.

    Exit codes: 0 success, 1 error, 2 changes present (with --detailed-exitcode),
    130 interrupted (state saved; the next apply resumes).
    """
    from catalogctl.cli.console import Console

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # https://no-color.org: any non-empty NO_COLOR disables colour.
    no_color = no_color or bool(os.environ.get("NO_COLOR"))
    ctx.obj = Console(color=None if not no_color else False, verbose=verbose)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the code mapped from any error."""
    from catalogctl.errors import CatalogctlError

    try:
        rv = cli.main(args=argv, prog_name="catalogctl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        # Exit 2 means "changes present" (plan --detailed-exitcode, drift), so
        # a usage error must not use click's default 2.
        sys.exit(1 if isinstance(exc, click.UsageError) else exc.exit_code)
    except (CatalogctlError, KeyboardInterrupt) as exc:
        from catalogctl.cli.errors import report_error

        report_error(exc)
        sys.exit(exit_code_for(exc))
    except Exception as exc:  # an internal bug: say so plainly, keep the traceback for -vv
        logging.getLogger("catalogctl").debug("internal error", exc_info=True)
        click.echo(
            f"Error: internal error: {type(exc).__name__}: {exc} (run with -vv for details)",
            err=True,
        )
        sys.exit(exit_code_for(exc))
    code: Any = rv
    sys.exit(code if isinstance(code, int) else 0)
