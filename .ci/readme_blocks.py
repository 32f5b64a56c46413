"""Print each ```sh block under a README heading, one block per line (newlines joined by ;)."""

import re
import sys

path, heading = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    text = f.read()
match = re.search(rf"^##+ {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
if not match:
    sys.exit(f"no '{heading}' heading in {path}")
for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", match.group(1), re.S):
    lines = [
        ln for ln in block.strip().splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    print(" && ".join(f"( {ln} )" for ln in lines) if len(lines) > 1 else lines[0])
