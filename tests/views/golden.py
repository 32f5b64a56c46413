"""Golden-file comparison for the views.

Tests compare byte for byte.  To regenerate after an intended change, run
``UPDATE_GOLDEN=1 pytest tests/views`` and review the diff of
``tests/views/golden/`` like any other code change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent / "golden"


def assert_golden(name: str, actual: str) -> None:
    """``actual`` (plus a final newline) must equal ``golden/<name>`` exactly."""
    path = GOLDEN_DIR / name
    text = actual + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"missing golden {path}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path} (UPDATE_GOLDEN=1 to accept)"


def assert_golden_json(name: str, value: Any) -> None:
    assert_golden(name, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))
