"""Colour for the human views, off unless asked for.

Views return plain strings; whether a terminal gets ANSI codes is decided by
the caller (``--no-color``, TTY detection in :mod:`catalogctl.cli.console`)
and passed in as ``color``.  Everything goes through :class:`Painter` so a
view never calls ``click.style`` directly and cannot forget the switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

SYMBOL_COLORS = {"+": "green", "~": "yellow", "-": "red"}


@dataclass(frozen=True)
class Painter:
    color: bool

    def __call__(self, text: str, **styles: Any) -> str:
        if not self.color or not text:
            return text
        return click.style(text, **styles)

    def bold(self, text: str) -> str:
        return self(text, bold=True)

    def dim(self, text: str) -> str:
        return self(text, dim=True)

    def symbol(self, symbol: str) -> str:
        """An action symbol, each character in its own colour (``-/+``)."""
        return "".join(
            self(ch, fg=SYMBOL_COLORS[ch]) if ch in SYMBOL_COLORS else ch for ch in symbol
        )

    def symbol_column(self, symbol: str) -> str:
        """The 4-wide column that starts every diff line: ``  + ``, ``-/+ ``."""
        return " " * (3 - len(symbol)) + self.symbol(symbol) + " "
