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
        help="Treat objects of kinds catalogctl does not manage as errors instead of ignoring them.",
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
