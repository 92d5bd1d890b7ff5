"""The committed runs of a study's results folder, as the study scripts read them (run from the repository
root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_mmrec.experiments.runs_json import read_runs

RESULTS = Path("docs/results")


def done_runs(folder: str, **match: Any) -> list[dict]:
    """The finished runs in ``docs/results/<folder>/runs.json`` whose fields equal ``match`` (e.g.
    ``dataset="ml100k", variant="random"``); none when the folder has no ``runs.json``."""
    path = RESULTS / folder / "runs.json"
    if not path.is_file():
        return []
    return [r for r in read_runs(path) if r.get("status") == "done" and all(r.get(k) == v for k, v in match.items())]
