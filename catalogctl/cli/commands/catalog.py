"""``catalogctl catalog``: browse what brokers offer (classes, plans, parameter schemas).

Under Service Catalog, users found out what they could provision with
``kubectl get clusterserviceclasses`` or ``svcat marketplace``: the controller
had already turned every broker's ``GET /v2/catalog`` into Kubernetes objects.
catalogctl has no controller, so this command asks the brokers directly and
shows the same view: Kubernetes names (``clusterServiceClassName``, generated
from the OSB ids exactly as Service Catalog did), OSB names, effective flags and
the JSON Schemas a plan's ``parameters`` must satisfy.

Sources, one of:

* ``-f/--filename``: the brokers declared in the user's YAML, with their
  ``authInfo`` (read through the same Secret chain as ``plan``: environment,
  ``--secrets-dir``, then the cluster) and ``catalogRestrictions`` applied, so
  what is listed is exactly what instances in that YAML can resolve against;
* ``--broker-url``: one broker, ad hoc, with credentials from environment
  variables (never a password on the command line, where ``ps`` and shell
  history would keep it).

Catalogs are read through :meth:`Brokers.catalog`, i.e. through the on-disk
catalog cache in ``<state>/catalog-cache`` and its relist rules: by default a
copy younger than the broker's ``relistDuration`` (15 minutes when unset) is
reused, which keeps browsing cheap for rate-limited brokers and shows what
``plan`` would use.  ``--refresh`` fetches anew and stores the result, so a
following ``plan`` sees the same catalog that was just browsed.  The
``--broker-url`` mode never uses the disk cache: it has no broker spec whose
relist settings or fingerprint could say when a copy is stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import broker_options, output_format, output_option, state_option

if TYPE_CHECKING:
    from catalogctl.engine.catalogs import BrokerCatalog, Fetched
    from catalogctl.providers.osb.catalog import (
        SchemaOperation,
        ServiceOffering,
        ServicePlan,
    )

F = TypeVar("F", bound=Callable[..., Any])

#: ``X-Broker-API-Version`` for ``--broker-url``; the model's default, repeated here so
#: that ``--help`` does not import pydantic.
_DEFAULT_API_VERSION = "2.17"

#: A plan's three schemas, in the order of an instance's life, with their display titles.
_SCHEMA_TITLES: tuple[tuple[SchemaOperation, str], ...] = (
    ("instance_create", "Instance Create Parameter Schema"),
    ("instance_update", "Instance Update Parameter Schema"),
    ("binding_create", "Binding Create Parameter Schema"),
)


# --------------------------------------------------------------------------- options


def source_options(func: F) -> F:
    """Where catalogs come from, and how to reach brokers and their Secrets.

    These mirror ``input_options``/``run_options`` (same names, defaults and
    environment variables) rather than reusing them because ``-f`` is optional
    here (``--broker-url`` is the alternative) and state locking, cluster id
    and the other apply-time flags mean nothing to a read-only listing.
    """
    options = [
        click.option(
            "-f",
            "--filename",
            "filenames",
            multiple=True,
            help="YAML file, directory (recursive *.yaml/*.yml) or - (stdin) declaring the "
            "brokers to browse. Repeatable.",
        ),
        click.option(
            "-n",
            "--namespace",
            default="default",
            show_default=True,
            envvar="CATALOGCTL_NAMESPACE",
            help="Namespace for resources that do not set one.",
        ),
        click.option(
            "--strict-kinds",
            is_flag=True,
            help="Treat objects of kinds catalogctl does not manage as errors, not ignored.",
        ),
        click.option(
            "-b",
            "--broker",
            "broker_filter",
            metavar="NAME",
            help="Only this broker (its name or address, e.g. ClusterServiceBroker/cloud).",
        ),
        click.option(
            "--broker-url",
            metavar="URL",
            help="Browse this one broker instead of the brokers in -f files.",
        ),
        click.option(
            "--broker-username",
            metavar="USER",
            help="Basic-auth user for --broker-url (password from --broker-password-env).",
        ),
        click.option(
            "--broker-password-env",
            metavar="VAR",
            help="Environment variable holding the basic-auth password for --broker-url.",
        ),
        click.option(
            "--broker-token-env",
            metavar="VAR",
            help="Environment variable holding a bearer token for --broker-url.",
        ),
        click.option(
            "--broker-api-version",
            default=_DEFAULT_API_VERSION,
            show_default=True,
            help="X-Broker-API-Version sent to --broker-url.",
        ),
        click.option(
            "--refresh",
            is_flag=True,
            help="Fetch catalogs now instead of reusing a cached copy younger than the "
            "broker's relistDuration (default 15m); the fresh copy is cached for plan.",
        ),
        # With a local state DIR, catalogs are cached in DIR/catalog-cache.
        state_option,
        click.option("--kubeconfig", help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config)."),
        click.option("--context", "kube_context", help="Kubeconfig context to use."),
        click.option(
            "--cluster-dir",
            envvar="CATALOGCTL_CLUSTER_DIR",
            help="Read broker auth Secrets from this cluster directory instead of a cluster.",
        ),
        click.option(
            "--secrets-dir",
            envvar="CATALOGCTL_SECRETS_DIR",
            help="Read broker auth Secrets from DIR/<ns>/<name>/<key>.",
        ),
        click.option(
            "--parallelism",
            default=16,
            show_default=True,
            type=click.IntRange(1, 1024),
            help="Catalog requests in flight at once, across all brokers.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    func = output_option("human", "json", "yaml", renamed={"table": "human"})(func)
    return broker_options(func)


def _table_or_data(params: dict[str, Any]) -> None:
    """Settle ``params["output"]``: ``table`` (human) or a data format."""
    fmt = output_format(params, renamed={"table": "human"})
    params["output"] = "table" if fmt == "human" else fmt


# --------------------------------------------------------------------------- fetching


def _flag_credentials(params: Mapping[str, Any]) -> tuple[str, Callable[[str, str, str], bytes]]:
    """The auth kind and a Secret reader for ``--broker-url``, from flags and the environment.

    The reader answers the keys :class:`Brokers` asks for (``username``,
    ``password``, ``token``), so the ad-hoc broker goes through exactly the same
    client construction as a declared one.
    """
    import os

    from catalogctl.errors import UsageError

    user = params.get("broker_username")
    password_env = params.get("broker_password_env")
    token_env = params.get("broker_token_env")
    if token_env and (user or password_env):
        raise UsageError("--broker-token-env cannot be combined with basic-auth flags")
    if bool(user) != bool(password_env):
        raise UsageError("--broker-username and --broker-password-env must be given together")
    values: dict[str, bytes] = {}
    kind = "none"
    for var, key in ((password_env, "password"), (token_env, "token")):
        if var:
            value = os.environ.get(var)
            if value is None:
                raise UsageError(f"environment variable {var} is not set")
            values[key] = value.encode("utf-8")
            kind = "basic" if key == "password" else "bearer"
    if user:
        values["username"] = str(user).encode("utf-8")

    def read(_namespace: str, _name: str, key: str) -> bytes:
        return values[key]

    return kind, read


def _matches_broker(wanted: str, address: str) -> bool:
    """``cloud`` and ``ClusterServiceBroker/cloud`` both name the broker at that address."""
    return wanted in (address, address.rsplit("/", 1)[-1])


def fetch_catalogs(params: Mapping[str, Any]) -> Fetched:
    """Read every selected broker's catalog concurrently; one broker's failure spares the rest."""
    from pathlib import Path

    from catalogctl.cli.session import broker_settings
    from catalogctl.engine.brokers import ReadSecretKey
    from catalogctl.engine.catalogs import (
        LazySecrets,
        check_broker_url,
        declared_targets,
        read_catalogs,
        url_target,
    )
    from catalogctl.errors import UsageError

    url = params.get("broker_url")
    filenames: Sequence[str] = params.get("filenames") or ()
    if url and filenames:
        raise UsageError("give either -f/--filename or --broker-url, not both")
    if not url and not filenames:
        raise UsageError("give -f/--filename (brokers declared in YAML) or --broker-url URL")
    if not url and any(
        params.get(flag) for flag in ("broker_username", "broker_password_env", "broker_token_env")
    ):
        raise UsageError("--broker-username/--broker-*-env apply only with --broker-url")

    read_secret_key: ReadSecretKey
    if url:
        check_broker_url(url)
        kind, read_secret_key = _flag_credentials(params)
        api_version = params.get("broker_api_version") or _DEFAULT_API_VERSION
        targets = [url_target(url, api_version, kind)]
        cache_dir: Path | None = None
    else:
        from catalogctl.engine.inputs import load_inputs
        from catalogctl.engine.statestore import catalog_cache_dir

        namespace = params.get("namespace") or "default"
        inputs = load_inputs(filenames, namespace, bool(params.get("strict_kinds")))
        targets = declared_targets(inputs)
        read_secret_key = LazySecrets(
            kubeconfig=params.get("kubeconfig"),
            context=params.get("kube_context"),
            cluster_dir=params.get("cluster_dir"),
            secrets_dir=params.get("secrets_dir"),
            namespace=namespace,
        )
        # Browsing catalogs is not planning: it may start the local state directory.
        cache_dir = catalog_cache_dir(params.get("state_dir"), create_state_dir=True)

    wanted = params.get("broker_filter")
    if wanted:
        available = [record.address for record, _ in targets]
        targets = [(r, b) for r, b in targets if _matches_broker(wanted, r.address)]
        if not targets:
            listed = ", ".join(available) or "none"
            raise UsageError(f"--broker {wanted!r}: no such broker (brokers: {listed})")

    settings = broker_settings(params, catalog_cache_dir=cache_dir)
    return read_catalogs(
        targets,
        settings,
        read_secret_key,
        refresh=bool(params.get("refresh")),
        parallelism=int(params.get("parallelism") or 16),
    )


def _fetch_or_fail(ctx: click.Context, params: Mapping[str, Any]) -> tuple[Console, Fetched]:
    """Fetch, show catalog warnings on stderr, and fail outright when no broker answered."""
    from catalogctl.errors import BrokerError

    console = console_of(ctx)
    fetched = fetch_catalogs(params)
    if fetched.errors and not fetched.catalogs:
        # Nothing to show: every broker's error, the last one through the CLI boundary.
        for message in fetched.errors[:-1]:
            console.err(f"Error: {message}")
        raise BrokerError(fetched.errors[-1])
    for item in fetched.catalogs:
        for warning in item.catalog.warnings:
            console.err(f"Warning: {item.broker}: {warning}")
    return console, fetched


def _finish(console: Console, fetched: Fetched) -> int:
    """Report the brokers that could not be read (after the listing) and choose the exit code."""
    for message in fetched.errors:
        console.err(f"Error: {message}")
    return 1 if fetched.errors else 0


# --------------------------------------------------------------------------- selection


def _offering_matches(offering: ServiceOffering, selector: str) -> bool:
    return selector in (offering.name, offering.k8s_name, offering.id)


def _plan_matches(plan: ServicePlan, selector: str) -> bool:
    return selector in (plan.name, plan.k8s_name, plan.id)


def select_offerings(
    catalogs: Sequence[BrokerCatalog], selector: str
) -> list[tuple[str, ServiceOffering]]:
    """Offerings named by ``selector``: an external name, Kubernetes name or id.

    A selector that matches nothing as such but contains ``/`` is read as
    ``broker/offering`` (broker by name or address), the same qualification
    ``clusterServiceClassExternalName`` accepts when two brokers publish one name.
    """
    found = [
        (item.broker, offering)
        for item in catalogs
        for offering in item.catalog.services
        if _offering_matches(offering, selector)
    ]
    if found or "/" not in selector:
        return found
    broker, _, name = selector.rpartition("/")
    return [
        (item.broker, offering)
        for item in catalogs
        if _matches_broker(broker, item.broker)
        for offering in item.catalog.services
        if _offering_matches(offering, name)
    ]


def _not_found(what: str, fetched: Fetched, hint: str) -> str:
    unread = (
        f"; could not read {len(fetched.errors)} broker(s), see below" if fetched.errors else ""
    )
    return f"{what}{hint}{unread}"


# --------------------------------------------------------------------------- rendering


def _plain(value: Any) -> Any:
    """JSON/YAML-safe copy: catalogs hold read-only mappings and tuples."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def class_record(broker: str, offering: ServiceOffering) -> dict[str, Any]:
    """What ``-o json|yaml`` shows for a class (OSB field names, plus the Kubernetes name)."""
    return {
        "name": offering.k8s_name,
        "external_name": offering.name,
        "external_id": offering.id,
        "broker": broker,
        "description": offering.description,
        "bindable": offering.bindable,
        "plan_updateable": offering.plan_updateable,
        "instances_retrievable": offering.instances_retrievable,
        "bindings_retrievable": offering.bindings_retrievable,
        "allow_context_updates": offering.allow_context_updates,
        "tags": list(offering.tags),
        "requires": list(offering.requires),
        "plans": [plan.name for plan in offering.plans],
        "metadata": _plain(offering.metadata),
    }


def plan_record(broker: str, offering: ServiceOffering, plan: ServicePlan) -> dict[str, Any]:
    """What ``-o json|yaml`` shows for a plan; flags are the effective (plan-over-class) values."""
    info = plan.maintenance_info
    return {
        "name": plan.k8s_name,
        "external_name": plan.name,
        "external_id": plan.id,
        "class": offering.k8s_name,
        "class_external_name": offering.name,
        "class_external_id": offering.id,
        "broker": broker,
        "description": plan.description,
        "free": plan.free,
        "bindable": offering.effective_bindable(plan),
        "plan_updateable": offering.effective_plan_updateable(plan),
        "binding_rotatable": plan.binding_rotatable,
        "maximum_polling_duration": plan.maximum_polling_duration,
        "maintenance_info": None
        if info is None
        else {"version": info.version, "description": info.description},
        "schemas": {
            operation: _plain(plan.schemas.for_operation(operation))
            for operation, _ in _SCHEMA_TITLES
        },
        "metadata": _plain(plan.metadata),
    }


def _one_line(text: str) -> str:
    """Descriptions may hold newlines and tabs, which would break table alignment."""
    return re.sub(r"\s+", " ", text).strip()


def render_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns two spaces apart, header bold only on a colour terminal, no trailing blanks."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    head = line(headers)
    return "\n".join([console.style(head, bold=True), *(line(row) for row in rows)])


def _emit_data(console: Console, output: str, data: Any) -> None:
    if output == "json":
        console.out(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        import yaml

        console.out(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False),
            nl=False,
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def describe_text(broker: str, offering: ServiceOffering, plan: ServicePlan) -> str:
    """``svcat describe plan --show-schemas``-style text: fields, then each schema indented."""
    info = plan.maintenance_info
    maintenance = "-"
    if info is not None:
        maintenance = info.version + (f" ({info.description})" if info.description else "")
    polling = plan.maximum_polling_duration
    fields = [
        ("Name", plan.k8s_name),
        ("External Name", plan.name),
        ("External ID", plan.id),
        ("Description", _one_line(plan.description)),
        ("Class", f"{offering.k8s_name} ({offering.name})"),
        ("Broker", broker),
        ("Free", _flag(plan.free)),
        ("Bindable", _flag(offering.effective_bindable(plan))),
        ("Updateable", _flag(offering.effective_plan_updateable(plan))),
        ("Binding Rotatable", _flag(plan.binding_rotatable)),
        ("Maintenance Info", maintenance),
        ("Maximum Polling Duration", f"{polling}s" if polling is not None else "-"),
    ]
    width = max(len(label) for label, _ in fields) + 2
    lines = [f"{label + ':':<{width}}{value}" for label, value in fields]
    for operation, title in _SCHEMA_TITLES:
        schema = plan.schemas.for_operation(operation)
        lines.append("")
        if schema is None:
            lines.append(f"{title}: none")
            continue
        lines.append(f"{title}:")
        pretty = json.dumps(_plain(schema), indent=2, ensure_ascii=False)
        lines.extend(f"  {text}" for text in pretty.splitlines())
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


@click.group()
def catalog() -> None:
    """Browse broker catalogs: classes, plans and their schemas.

    Brokers come from -f YAML (authInfo and catalogRestrictions applied, as
    plan sees them) or from --broker-url. A cached catalog younger than the
    broker's relistDuration (default 15m) is reused; --refresh fetches anew.
    Exit codes: 0 success, 1 error (including any broker that could not be read).
    """


@catalog.command("classes")
@source_options
@click.pass_context
def classes(ctx: click.Context, /, **params: Any) -> int:
    """List service classes (offerings), as `kubectl get clusterserviceclasses` did.

    SERVICE NAME is the Kubernetes name Service Catalog generated from the
    offering's id (usable as clusterServiceClassName); EXTERNAL NAME is the
    OSB name (clusterServiceClassExternalName).
    """
    _table_or_data(params)
    console, fetched = _fetch_or_fail(ctx, params)
    found = [
        (item.broker, offering) for item in fetched.catalogs for offering in item.catalog.services
    ]
    if params["output"] != "table":
        _emit_data(console, params["output"], [class_record(b, o) for b, o in found])
    elif found:
        rows = [[o.k8s_name, o.name, b, _one_line(o.description)] for b, o in found]
        headers = ["SERVICE NAME", "EXTERNAL NAME", "BROKER", "DESCRIPTION"]
        console.out(render_table(console, headers, rows))
    else:
        console.err("No service classes found.")
    return _finish(console, fetched)


@catalog.command("plans")
@source_options
@click.argument("class_selector", metavar="[CLASS]", required=False)
@click.pass_context
def plans(ctx: click.Context, /, **params: Any) -> int:
    """List service plans, optionally of one CLASS.

    CLASS is an external name, a Kubernetes name or an id, or broker/offering
    when several brokers publish the same name. FREE, BINDABLE and UPDATEABLE
    are effective values: a plan's own setting overrides its class's.
    """
    from catalogctl.errors import UsageError

    _table_or_data(params)
    console, fetched = _fetch_or_fail(ctx, params)
    selector: str | None = params.get("class_selector")
    if selector:
        offerings = select_offerings(fetched.catalogs, selector)
        if not offerings:
            available = sorted(
                {
                    f"{item.broker}/{o.name}"
                    for item in fetched.catalogs
                    for o in item.catalog.services
                }
            )
            hint = f"; classes: {', '.join(available)}" if available else "; no classes found"
            _finish(console, fetched)
            raise UsageError(_not_found(f"no service class {selector!r}", fetched, hint))
    else:
        offerings = [(item.broker, o) for item in fetched.catalogs for o in item.catalog.services]
    found = [(b, o, p) for b, o in offerings for p in o.plans]
    if params["output"] != "table":
        _emit_data(console, params["output"], [plan_record(b, o, p) for b, o, p in found])
    elif found:
        headers = [
            "PLAN NAME",
            "EXTERNAL NAME",
            "CLASS",
            "BROKER",
            "FREE",
            "BINDABLE",
            "UPDATEABLE",
            "DESCRIPTION",
        ]
        rows = [
            [
                p.k8s_name,
                p.name,
                o.name,
                b,
                _flag(p.free),
                _flag(o.effective_bindable(p)),
                _flag(o.effective_plan_updateable(p)),
                _one_line(p.description),
            ]
            for b, o, p in found
        ]
        console.out(render_table(console, headers, rows))
    else:
        console.err("No service plans found.")
    return _finish(console, fetched)


@catalog.command("describe")
@source_options
@click.argument("class_plan", metavar="CLASS/PLAN")
@click.pass_context
def describe(ctx: click.Context, /, **params: Any) -> int:
    """Show one plan: flags, maintenance_info, maximum_polling_duration and parameter schemas.

    CLASS/PLAN takes the same names as `catalog plans` (external names,
    Kubernetes names or ids; CLASS may be broker/offering). The three schemas
    are those instance create, instance update and binding create parameters
    are validated against before any broker call.
    """
    from catalogctl.errors import UsageError

    text: str = params["class_plan"]
    class_selector, slash, plan_selector = text.rpartition("/")
    if not slash or not class_selector or not plan_selector:
        raise UsageError(f"{text!r}: expected CLASS/PLAN (see `catalogctl catalog plans CLASS`)")
    _table_or_data(params)
    console, fetched = _fetch_or_fail(ctx, params)
    offerings = select_offerings(fetched.catalogs, class_selector)
    if not offerings:
        _finish(console, fetched)
        raise UsageError(
            _not_found(
                f"no service class {class_selector!r}",
                fetched,
                "; list them with `catalogctl catalog classes`",
            )
        )
    matches = [(b, o, p) for b, o in offerings for p in o.plans if _plan_matches(p, plan_selector)]
    if not matches:
        listed = ", ".join(sorted({f"{o.name}/{p.name}" for _, o in offerings for p in o.plans}))
        _finish(console, fetched)
        raise UsageError(
            _not_found(
                f"no plan {plan_selector!r} in class {class_selector!r}",
                fetched,
                f"; plans: {listed or 'none'}",
            )
        )
    if len(matches) > 1:
        choices = ", ".join(f"{b}/{o.name}/{p.name}" for b, o, p in matches)
        _finish(console, fetched)
        raise UsageError(
            f"{text!r} matches {len(matches)} plans; qualify it with the broker: one of {choices}"
        )
    broker, offering, plan = matches[0]
    if params["output"] != "table":
        _emit_data(console, params["output"], plan_record(broker, offering, plan))
    else:
        console.out(describe_text(broker, offering, plan))
    return _finish(console, fetched)
