"""What every command's ``--help`` shows beyond its own options: examples and value types.

Kept in one table so that a new command cannot ship without examples (a test
walks every command) and so that flags shared by many commands show the same
type name (``DIR``, ``DURATION``) wherever they appear.
"""

from __future__ import annotations

import click

#: command path (without ``catalogctl``) -> example command lines
EXAMPLES: dict[str, tuple[str, ...]] = {
    "validate": (
        "catalogctl validate -f services/",
        "kustomize build . | catalogctl validate -f -",
    ),
    "graph": (
        "catalogctl graph -f services/ | dot -Tsvg > graph.svg",
        "catalogctl graph -f services/ --format mermaid",
    ),
    "plan": (
        "catalogctl plan -f services/",
        "catalogctl plan -f services/ --out plan.json --lock-timeout 5m",
        "catalogctl plan -f services/ -o markdown > plan.md",
        "catalogctl plan -f services/ --target ServiceBinding/cloud-apps/cloud-queue-binding",
    ),
    "apply": (
        "catalogctl apply -f services/",
        "catalogctl apply plan.json",
        "catalogctl apply -f services/ --auto-approve --lock-timeout 10m",
    ),
    "rotate": (
        "catalogctl rotate -f services/ ServiceBinding/cloud-apps/cloud-queue-binding",
        "catalogctl plan -f services/ --rotate-older-than 30d --detailed-exitcode",
    ),
    "destroy": (
        "catalogctl destroy",
        "catalogctl destroy --target ServiceInstance/cloud-apps/old-queue --auto-approve",
    ),
    "drift": (
        "catalogctl drift -f services/",
        "catalogctl drift -f services/ -o markdown > drift.md",
    ),
    "show": (
        "catalogctl show",
        "catalogctl show plan.json -o markdown",
        "catalogctl show -o json | jq '.resources | keys'",
    ),
    "state": ("catalogctl state list", "catalogctl state show ServiceInstance/cloud-apps/queue"),
    "state list": ("catalogctl state list", "catalogctl state list ServiceBinding/ -o json"),
    "state show": (
        "catalogctl state show ServiceInstance/cloud-apps/queue",
        "catalogctl state show -n cloud-apps ServiceInstance/queue -o json",
    ),
    "state rm": ("catalogctl state rm ServiceBinding/cloud-apps/old-binding --dry-run",),
    "state mv": (
        "catalogctl state mv ServiceInstance/cloud-apps/queue ServiceInstance/cloud-apps/orders",
    ),
    "state migrate": (
        "catalogctl state migrate --state ./state "
        "--to 'postgresql://ci@db.internal:5432/infra#platform'",
        "catalogctl state migrate --to kubernetes://catalogctl-system/platform",
    ),
    "output": (
        "catalogctl output",
        "catalogctl output ServiceBinding/cloud-apps/cloud-queue-binding --show-secrets",
    ),
    "import": (
        "catalogctl import -f services/",
        "catalogctl import -f services/ ServiceInstance/cloud-apps/queue "
        "8b4e0a52-5c1e-4a87-9a77-3c1f2e9d7a10",
    ),
    "migrate": ("catalogctl migrate service-catalog --out services/ -A --dry-run",),
    "migrate service-catalog": (
        "catalogctl migrate service-catalog --out services/ -A --dry-run",
        "catalogctl migrate service-catalog --out services/ -n cloud-apps --release",
    ),
    "get": (
        "catalogctl get instances -n cloud-apps",
        "catalogctl get bindings -A --refresh",
    ),
    "describe": (
        "catalogctl describe ServiceInstance/cloud-apps/queue",
        "catalogctl describe -n cloud-apps ServiceBinding/queue-binding --refresh",
    ),
    "force-unlock": ("catalogctl force-unlock 0b9d7f4e-8d1c-4c49-a7b5-2f8f0a6c9e11",),
    "catalog": ("catalogctl catalog classes -f services/",),
    "catalog classes": ("catalogctl catalog classes -f services/",),
    "catalog plans": (
        "catalogctl catalog plans -f services/ cloud-queue",
        "catalogctl catalog plans --broker-url http://127.0.0.1:18089 -o json",
    ),
    "catalog describe": ("catalogctl catalog describe -f services/ cloud-queue/standard",),
    "render": ("catalogctl render mappings -f services/ --output-dir deploy/catalogctl",),
    "render mappings": ("catalogctl render mappings -f services/ --output-dir deploy/catalogctl",),
}

#: parameter name -> the type shown in help, for values click would call TEXT
METAVARS: dict[str, str] = {
    "filenames": "PATH",
    "state_dir": "STATE",
    "lock_timeout": "DURATION",
    "kubeconfig": "FILE",
    "kube_context": "NAME",
    "cluster_dir": "DIR",
    "secrets_dir": "DIR",
    "cluster_id": "ID",
    "broker_timeout": "SECONDS",
    "namespace": "NS",
    "out": "FILE",
    "output_dir": "DIR",
    "rotate_older_than": "AGE",
}


def decorate(command: click.Command, path: str) -> None:
    """Add the examples and value types to ``command`` (and its subcommands), once."""
    if getattr(command, "_catalogctl_help", False):
        return
    command._catalogctl_help = True  # type: ignore[attr-defined]
    examples = EXAMPLES.get(path)
    if examples and not command.epilog:
        command.epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in examples)
    for param in command.params:
        if (
            isinstance(param, click.Option)
            and param.metavar is None
            and param.name in METAVARS
            and not param.is_flag
            and param.type in (click.STRING, click.FLOAT)
        ):
            param.metavar = METAVARS[param.name]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            decorate(sub, f"{path} {name}")
