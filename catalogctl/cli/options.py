"""Options shared by commands that read desired state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


STATE_HELP = (
    "Where the state lives: a directory (local), "
    "postgresql://USER@HOST:PORT/DB#NAME or kubernetes://NAMESPACE/NAME."
)


def state_option(func: F) -> F:
    """``--state`` / ``CATALOGCTL_STATE``: the one way every command names its state."""
    return click.option(
        "--state",
        "state_dir",
        default="state",
        show_default=True,
        envvar="CATALOGCTL_STATE",
        metavar="STATE",
        help=STATE_HELP,
    )(func)


def state_location_options(func: F) -> F:
    """``--state`` plus the ``--kubeconfig``/``--context`` a ``kubernetes://`` state is reached by.

    For commands that touch only state (show, state list, force-unlock, ...);
    commands with :func:`run_options` have these already.
    """
    func = click.option(
        "--context", "kube_context", help="Kubeconfig context (for a kubernetes:// state)."
    )(func)
    func = click.option("--kubeconfig", help="Kubeconfig file (for a kubernetes:// state).")(func)
    return state_option(func)


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
        envvar="CATALOGCTL_NAMESPACE",
        help="Namespace for resources that do not set one [default: default; for commands "
        "that reach a cluster, the kubeconfig context's namespace if it sets one].",
    )(func)
    func = click.option(
        "-f",
        "--filename",
        "filenames",
        multiple=True,
        required=True,
        help="File, directory (recursive *.yaml/*.yml/*.json) or - for stdin. Repeatable.",
    )(func)
    return func


def run_options(func: F) -> F:
    """State, cluster and broker flags shared by plan, apply, destroy and drift."""
    options = [
        state_option,
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
            "--poll-timeout",
            metavar="DURATION",
            envvar="CATALOGCTL_POLL_TIMEOUT",
            help="Longest wait for one asynchronous broker operation (e.g. 30m) "
            "[default: the plan's maximum_polling_duration, else 1h].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return broker_options(func)


def broker_options(func: F) -> F:
    """How broker requests are sent: timeout, answer size limit and retries."""
    options = [
        click.option(
            "--broker-timeout",
            default=60.0,
            show_default=True,
            type=float,
            envvar="CATALOGCTL_BROKER_TIMEOUT",
            help="Seconds before a broker request times out (each phase and the whole exchange).",
        ),
        click.option(
            "--max-response-size",
            default="10Mi",
            show_default=True,
            metavar="SIZE",
            envvar="CATALOGCTL_MAX_RESPONSE_SIZE",
            help="Largest answer body read from a broker (bytes, or with Ki/Mi/Gi).",
        ),
        click.option(
            "--retry-timeout",
            default="5m",
            show_default=True,
            metavar="DURATION",
            envvar="CATALOGCTL_RETRY_TIMEOUT",
            help="How long a broker request is retried after connection errors, timeouts, "
            "408, 429 and 5xx; 0 turns retries off.",
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


def allow_empty_option(func: F) -> F:
    """``--allow-empty``: accept an input without managed resources (plan, apply)."""
    return click.option(
        "--allow-empty",
        is_flag=True,
        help="Plan to delete everything in state when the input holds no managed "
        "resource (refused otherwise; `destroy` is the usual way).",
    )(func)


def rotation_options(func: F) -> F:
    """``--rotate-older-than`` (plan and apply): scheduled credential rotation."""
    return click.option(
        "--rotate-older-than",
        "rotate_older_than",
        metavar="AGE",
        help="Also replace bindings whose credentials are older than AGE (e.g. 30d, 12h, 1w).",
    )(func)


def wait_options(func: F) -> F:
    """``--wait`` and ``--wait-timeout`` (apply, rotate): wait for rollouts of new credentials."""
    func = click.option(
        "--wait-timeout",
        "wait_timeout",
        default="5m",
        show_default=True,
        metavar="DURATION",
        envvar="CATALOGCTL_WAIT_TIMEOUT",
        help="Longest wait for the rollouts of one rotation under --wait (e.g. 10m).",
    )(func)
    return click.option(
        "--wait",
        is_flag=True,
        help="Wait until workloads rolled by new credentials finished rolling out (in a "
        "rotation, before the old binding is unbound).",
    )(func)


def output_option(
    *formats: str,
    flags: tuple[str, ...] = (),
    format_flag: bool = False,
    renamed: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """``-o/--output FORMAT`` (the first format is the default), the one output convention.

    Older spellings stay for one release as deprecated aliases: boolean
    ``flags`` (``--json`` means ``-o json``), ``--format FORMAT`` with
    ``format_flag``, and ``renamed`` values (``table`` for ``human``).  Read
    the choice with :func:`output_format`, which warns about old spellings.
    """

    def decorate(func: F) -> F:
        for flag in reversed(flags):
            name = flag.removeprefix("--")
            func = click.option(
                flag,
                f"deprecated_{name}",
                is_flag=True,
                help=f"Deprecated: use -o {name}.",
            )(func)
        if format_flag:
            func = click.option(
                "--format",
                "deprecated_format",
                type=click.Choice(formats),
                help="Deprecated: use -o.",
            )(func)
        func = click.option(
            "-o",
            "--output",
            "output",
            type=click.Choice([*formats, *(renamed or {})]),
            default=None,
            metavar="|".join(formats),
            help=f"Output format [default: {formats[0]}].",
        )(func)
        return func

    return decorate


def output_format(
    params: dict[str, Any], default: str = "human", renamed: dict[str, str] | None = None
) -> str:
    """The format chosen with ``-o`` or an old spelling (which earns a warning on stderr)."""
    from catalogctl.errors import UsageError

    chosen: str | None = params.pop("output", None)
    if chosen in (renamed or {}):
        assert chosen is not None
        new = (renamed or {})[chosen]
        click.echo(f"Warning: -o {chosen} is deprecated; use -o {new}.", err=True)
        chosen = new
    for key in [k for k in params if k.startswith("deprecated_")]:
        value = params.pop(key)
        if not value:
            continue
        name = key.removeprefix("deprecated_")
        wanted = str(value) if name == "format" else name
        old = f"--format {value}" if name == "format" else f"--{name}"
        click.echo(f"Warning: {old} is deprecated; use -o {wanted}.", err=True)
        if chosen is not None and chosen != wanted:
            raise UsageError(f"{old} contradicts -o {chosen}: pass one of them")
        chosen = wanted
    return chosen or default


def run_options_only(*names: str) -> Callable[[F], F]:
    """Those of :func:`run_options` (by parameter name) a command really uses.

    A command's help must not list flags it ignores.
    """

    def decorate(func: F) -> F:
        def probe() -> None: ...

        wanted = [
            p for p in getattr(run_options(probe), "__click_params__", []) if p.name in names
        ]
        func.__click_params__ = [*getattr(func, "__click_params__", []), *wanted]  # type: ignore[attr-defined]
        return func

    return decorate


def namespace_option(help_text: str) -> Callable[[F], F]:
    """``-n/--namespace NS`` for commands that read state only (default ``default``)."""
    return click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        metavar="NS",
        envvar="CATALOGCTL_NAMESPACE",
        help=help_text,
    )
