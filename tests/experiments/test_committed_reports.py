"""The runner's reports of a committed study are what ``--report_only`` writes from what the study folder tracks.

A study folder under ``docs/results/`` that tracks every finished run's ``per_user.npz`` (and so its paired
tests) is made again from its ``runs.json`` and those files alone, with the command its ``table.md`` names, into a
copy of the folder: the Markdown reports must be the committed ones byte for byte (the copy's path put back).
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from lit_mmrec.experiments.__main__ import main
from lit_mmrec.experiments.runner import PER_USER
from lit_mmrec.experiments.runs_json import read_runs

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
COMMAND = re.compile(r"```bash\n(python -m lit_mmrec\.experiments table [^\n]*)\n```")
REPORTS = ("table.md", "paired.md", "anytime.md", "anytime_groups.md", "convergence.md", "cold_start.md")


def self_contained_studies() -> list[Path]:
    """The runner's study folders (a ``table.md`` naming its command) whose every finished run has its tracked
    ``per_user.npz``."""
    found = []
    for table in sorted(RESULTS.glob("*/table.md")):
        folder = table.parent
        if not COMMAND.search(table.read_text()) or not (folder / "runs.json").is_file():
            continue
        done = [r for r in read_runs(folder / "runs.json") if r.get("status") == "done"]
        if done and all((folder / "runs" / r["name"] / PER_USER).is_file() for r in done):
            found.append(folder)
    return found


@pytest.mark.parametrize("folder", self_contained_studies(), ids=lambda f: f.name)
def test_reports_are_made_again_from_the_tracked_files(folder, tmp_path, monkeypatch, capsys):
    command = COMMAND.search((folder / "table.md").read_text())
    assert command, f"{folder / 'table.md'} names no runner command"
    argv = shlex.split(command[1])[3:]
    out = argv[argv.index("--out") + 1]
    copy = tmp_path / folder.name
    copy.mkdir()
    shutil.copy2(folder / "runs.json", copy / "runs.json")
    for per_user in (folder / "runs").glob(f"*/{PER_USER}"):
        (copy / "runs" / per_user.parent.name).mkdir(parents=True)
        shutil.copy2(per_user, copy / "runs" / per_user.parent.name / PER_USER)
    argv[argv.index("--out") + 1] = str(copy)
    monkeypatch.chdir(ROOT)
    assert main([*argv, "--report_only"]) == 0
    capsys.readouterr()
    for name in REPORTS:
        if (folder / name).is_file():
            made = (copy / name).read_text().replace(str(copy), out)
            assert made == (folder / name).read_text(), f"{folder.name}/{name} differs from what its runs make"
