"""``catalogctl render``: write catalogctl's cluster edits as files for GitOps tools.

``render mappings`` turns PodMappings into kustomize strategic-merge patches,
for workloads that Argo CD or Flux own (a direct patch would be reverted on
their next sync).  It reads only the desired-state YAML: no broker, no cluster.
"""

from __future__ import annotations

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import input_options


@click.group()
def render() -> None:
    """Render catalogctl's cluster changes as files (for Argo CD / Flux)."""


@render.command("mappings")
@input_options
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, writable=True),
    help="Directory for the patch files and kustomization.yaml (created if missing).",
)
@click.option(
    "-o",
    "old_output_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, writable=True),
    help="Deprecated: use --output-dir (-o is the output format everywhere else).",
)
@click.option(
    "--component",
    is_flag=True,
    help="Write a kustomize Component (kind: Component) instead of a Kustomization.",
)
@click.pass_context
def mappings(
    ctx: click.Context,
    filenames: tuple[str, ...],
    namespace: str,
    strict_kinds: bool,
    output_dir: str | None,
    old_output_dir: str | None,
    component: bool,
) -> None:
    """Write PodMappings as kustomize strategic-merge patches.

    One patch file per target workload (every mapping that targets it merged)
    plus a kustomization.yaml listing them under patches:. Reference the
    directory from the overlay your GitOps tool builds. Each mapping must list
    spec.target.containers. Note that envFrom has no merge key: a patch that
    adds envFrom replaces that container's envFrom list.
    """
    from pathlib import Path

    import yaml

    from catalogctl.errors import UsageError

    if old_output_dir is not None:
        click.echo("Warning: -o DIR is deprecated; use --output-dir DIR.", err=True)
        if output_dir is not None and output_dir != old_output_dir:
            raise UsageError("-o and --output-dir name different directories: pass one")
        output_dir = old_output_dir
    if output_dir is None:
        raise UsageError("pass --output-dir DIR: where the patches and kustomization.yaml go")

    from catalogctl.engine.gitops import kustomization, mapping_patches
    from catalogctl.engine.inputs import load_inputs

    console = console_of(ctx)
    patches = mapping_patches(load_inputs(filenames, namespace, strict_kinds))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for patch in patches:
        header = "# Rendered by catalogctl render mappings; do not edit by hand.\n"
        if patch.replaces_env_from:
            header += (
                "# envFrom has no merge key: this patch replaces the container's envFrom list.\n"
            )
        text = header + yaml.safe_dump(patch.body, sort_keys=False)
        (out / patch.filename).write_text(text, encoding="utf-8")
    (out / "kustomization.yaml").write_text(
        yaml.safe_dump(kustomization(patches, component), sort_keys=False), encoding="utf-8"
    )
    n = len(patches)
    console.out(
        f"Wrote {n} patch{'es' if n != 1 else ''} and kustomization.yaml to {out}"
        + (f" ({', '.join(p.filename for p in patches)})." if patches else ".")
    )
