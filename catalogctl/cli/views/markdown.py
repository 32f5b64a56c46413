"""Markdown building blocks shared by the plan and drift reports.

Pull-request comments are rendered by GitHub/GitLab, so anything that came
from a broker or a manifest is escaped: a reason containing ``|`` must not
break the table, one containing ``<img ...>`` must not become HTML, and a plan
containing a backtick fence must not close ours.
"""

from __future__ import annotations

import re

from catalogctl.cli.views.values import clean_text

_SYMBOL_LINE = re.compile(r"^( *)(-/\+|\+/-|[+~-])( .*)?$")
_TABLE_ESCAPES = str.maketrans(
    {
        "|": "\\|",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\n": " ",
        "\r": " ",
        "`": "'",
    }
)


def cell(text: str) -> str:
    """Text made safe for one cell of a Markdown table."""
    return clean_text(text.translate(_TABLE_ESCAPES))


def code(text: str) -> str:
    """Inline code for a cell: backticks cannot occur inside, pipes escaped."""
    return "`" + clean_text(text.replace("`", "'").replace("|", "\\|").replace("\n", " ")) + "`"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def diff_fence(text: str) -> str:
    """Plan text in a ```diff fence, symbols moved to column 0 for highlighting.

    Diff highlighters colour only lines that *start* with ``+``/``-``, so the
    action symbol moves to the front (``~`` becomes ``!``, which they show as
    changed).  The fence is longer than any backtick run in the text.
    """
    lines = [_diff_line(line) for line in text.splitlines()]
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "diff", *lines, fence])


def _diff_line(line: str) -> str:
    match = _SYMBOL_LINE.match(line)
    if not match:
        return line
    indent, symbol, rest = match.group(1), match.group(2), match.group(3) or ""
    mark = "!" if symbol in ("~", "-/+", "+/-") else symbol
    return mark + indent + " " * (len(symbol) - 1) + rest


def details(summary: str, body: str) -> str:
    return f"<details><summary>{cell(summary)}</summary>\n\n{body}\n\n</details>"
