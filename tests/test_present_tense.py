"""Code, configs and tests say what they do, not their history (which belongs to ``docs/decisions.md``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HISTORY = re.compile(r"(round|issue) \d|previous\sdefault")
FILES = sorted(
    path for folder in ("lit_mmrec", "configs", "tests") for path in (ROOT / folder).rglob("*")
    if path.suffix in (".py", ".yaml", ".md", ".sh")
)


def test_no_history_in_code_configs_or_tests():
    assert FILES
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in FILES for n, line in enumerate(path.read_text().splitlines(), 1) if HISTORY.search(line)
    ]
    assert not found, "\n".join(found)
