"""Terminal output: colour only on a TTY (and never with --no-color)."""

from __future__ import annotations

import sys
from typing import Any

import click


class Console:
    """Writes to stdout/stderr, styling text only when colour is on."""

    def __init__(self, color: bool | None = None, verbose: int = 0) -> None:
        self._color = color
        self.verbose = verbose

    def color_enabled(self, err: bool = False) -> bool:
        if self._color is not None:
            return self._color
        stream = sys.stderr if err else sys.stdout
        return stream.isatty()

    def style(self, text: str, err: bool = False, **styles: Any) -> str:
        return click.style(text, **styles) if self.color_enabled(err) else text

    def out(self, text: str = "", nl: bool = True) -> None:
        click.echo(text, nl=nl, color=self.color_enabled())

    def err(self, text: str = "", nl: bool = True) -> None:
        click.echo(text, nl=nl, err=True, color=self.color_enabled(err=True))


def console_of(ctx: click.Context) -> Console:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Console) else Console()
