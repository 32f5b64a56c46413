"""The user documentation stays true to the code.

* Every ```yaml block in README.md and docs/*.md is loaded through the real
  loader (``load_inputs``: schema, semantic checks, graph) and must be a valid
  catalogctl input that declares at least one resource and nothing else.  A
  block that is deliberately not a catalogctl input (a kustomization, a
  workflow) carries ``<!-- not-validated -->`` on the line before its fence;
  such a block must then hold no catalogctl resource.
* Every command and subcommand that ``catalogctl --help`` lists has a section
  in docs/commands.md, and the README links to every page of docs/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from catalogctl.cli.main import cli
from catalogctl.engine.inputs import load_inputs
from catalogctl.errors import ValidationFailed

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKER = "<!-- not-validated -->"
OUR_API_GROUPS = ("servicecatalog.k8s.io/", "catalogctl.io/")

#: Blocks in pages other people own that are known not to load on their own,
#: keyed by (page, index of the yaml block in the page), with the reason.
#: strict xfail: once the page is fixed the entry must be removed.
KNOWN_INCOMPLETE: dict[tuple[str, int], str] = {}


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository root
    index: int  # position among the page's yaml blocks
    line: int  # 1-based line of the opening fence
    text: str
    validated: bool

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


_FENCE_OPEN = re.compile(r"^```ya?ml\s*$")
_FENCE_CLOSE = re.compile(r"^```\s*$")


def yaml_blocks(path: Path) -> list[Block]:
    """The ```yaml blocks of a Markdown file, with the marker on the line before."""
    return yaml_blocks_from_text(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def yaml_blocks_from_text(text: str, page: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if _FENCE_OPEN.match(lines[i]):
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and not _FENCE_CLOSE.match(lines[i]):
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"{page}:{start + 1}: unclosed ```yaml fence"
            marked = start > 0 and lines[start - 1].strip() == MARKER
            blocks.append(Block(page, len(blocks), start + 1, "\n".join(body) + "\n", not marked))
        i += 1
    return blocks


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


ALL_BLOCKS = [b for p in pages() for b in yaml_blocks(p)]
VALIDATED = [b for b in ALL_BLOCKS if b.validated]
MARKED = [b for b in ALL_BLOCKS if not b.validated]


def _param(block: Block) -> object:
    reason = KNOWN_INCOMPLETE.get((block.page, block.index))
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(block, id=block.id, marks=marks)


def test_the_pages_have_yaml_examples() -> None:
    assert {b.page for b in VALIDATED} >= {"docs/reference.md"}
    assert len(VALIDATED) >= 8


@pytest.mark.parametrize("block", [_param(b) for b in VALIDATED])
def test_yaml_block_is_a_valid_catalogctl_input(block: Block, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(block.text, encoding="utf-8")
    try:
        inputs = load_inputs([str(path)])
    except ValidationFailed as exc:
        problems = "\n".join(p.render() for p in exc.problems)
        pytest.fail(f"{block.id}: the example does not validate:\n{problems}")
    assert len(inputs.desired) > 0, f"{block.id}: no catalogctl resource in the example"
    assert not inputs.desired.ignored, (
        f"{block.id}: objects catalogctl ignores: "
        + ", ".join(str(o) for o in inputs.desired.ignored)
        + f" (mark a block that is not catalogctl input with {MARKER})"
    )


def _our_objects(text: str) -> list[str]:
    """apiVersions of catalogctl resources in a YAML text (none if it does not parse)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []  # a fragment that is not even YAML cannot be a resource
    found = []
    for doc in documents:
        api_version = str(doc.get("apiVersion", "")) if isinstance(doc, dict) else ""
        if api_version.startswith(OUR_API_GROUPS):
            found.append(api_version)
    return found


def test_marked_blocks_are_not_catalogctl_resources() -> None:
    """The marker is for non-catalogctl YAML only, never to hide a broken example."""
    offenders = [
        f"{b.id} ({', '.join(_our_objects(b.text))})" for b in MARKED if _our_objects(b.text)
    ]
    assert not offenders, f"catalogctl resources marked {MARKER}: {offenders}"


def test_marker_detection() -> None:
    text = f"intro\n\n{MARKER}\n```yaml\nkind: Kustomization\n```\n\n```yaml\na: 1\n```\n"
    blocks = yaml_blocks_from_text(text, "docs/selftest.md")
    assert [(b.line, b.validated) for b in blocks] == [(4, False), (8, True)]
    assert _our_objects("apiVersion: catalogctl.io/v1alpha1\nkind: PodMapping\n")
    assert not _our_objects("apiVersion: kustomize.config.k8s.io/v1beta1\n")


def test_validate_command_accepts_the_reference_examples(tmp_path: Path) -> None:
    """The same check through the CLI, as a user would run it (exit code 0)."""
    blocks = [b for b in VALIDATED if b.page == "docs/reference.md"]
    runner = CliRunner()
    for block in blocks:
        path = tmp_path / f"block-{block.line}.yaml"
        path.write_text(block.text, encoding="utf-8")
        result = runner.invoke(cli, ["validate", "-f", str(path)])
        assert result.exit_code == 0, f"{block.id}: {result.output}"


def _listed_commands(*group: str) -> list[str]:
    result = CliRunner().invoke(cli, [*group, "--help"])
    assert result.exit_code == 0, result.output
    # the section ends at the first blank line (the examples follow it)
    section = result.output.split("Commands:", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  (\S+)", section, re.MULTILINE)]


TOP_LEVEL = _listed_commands()
GROUPS = {
    name: _listed_commands(name)
    for name in TOP_LEVEL
    if "Commands:" in CliRunner().invoke(cli, [name, "--help"]).output
}


def _headings() -> list[str]:
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if re.match(r"^#{2,4} ", line)]


def test_help_lists_the_commands() -> None:
    assert {"plan", "apply", "destroy", "drift", "validate", "state"} <= set(TOP_LEVEL)


@pytest.mark.parametrize("command", TOP_LEVEL)
def test_every_command_has_a_section(command: str) -> None:
    pattern = re.compile(rf"`catalogctl {re.escape(command)}(`| )")
    assert any(pattern.search(h) for h in _headings()), (
        f"docs/commands.md has no heading for `catalogctl {command}`"
    )


@pytest.mark.parametrize(
    "command",
    [f"{group} {sub}" for group, subs in GROUPS.items() for sub in subs],
)
def test_every_subcommand_has_a_section(command: str) -> None:
    pattern = re.compile(rf"`catalogctl {re.escape(command)}`")
    assert any(pattern.search(h) for h in _headings()), (
        f"docs/commands.md has no heading for `catalogctl {command}`"
    )


def test_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in sorted(DOCS.glob("*.md")):
        if page.name == "README.md":
            continue
        assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
        assert f"({page.name}" in index, f"docs/README.md does not link {page.name}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as '-'."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def test_relative_links_resolve() -> None:
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            linked = (page.parent / target) if target else page
            assert linked.exists(), f"{page.name}: broken link {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), (
                    f"{page.name}: no heading for #{anchor} in {linked.name}"
                )
