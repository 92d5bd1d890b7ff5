"""The committed study reports under ``docs/results/`` are what their scripts print from the committed runs.

Each report names the command that produced it (``python -m studies.<script> [folders]``); running it again on the
committed ``runs.json`` files must give the committed file byte for byte, so a report cannot drift from its runs
(or a script from its report) unnoticed.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from studies import rule2_check_continued

ROOT = Path(__file__).resolve().parents[2]
#: (script under studies/, its arguments, the report it writes under docs/results/), as each report's command gives them
REPORTS = [
    ("headstart", [], "headstart/README.md"),
    ("whitened_offsets", ["whitened_offsets_bm3", "whitened_offsets_lightgcn"], "whitened_offsets_bm3/nearest_user.md"),
    ("whitened_offsets", ["whitened_offsets_norm_matched_bm3", "whitened_offsets_random_x141", "whitened_offsets_random_x224"],
     "whitened_offsets_norm_matched_bm3/nearest_user.md"),
    ("centre_ml100k_late_start", [], "centre_ml100k_late_start/late_start.md"),
    ("centre_ml100k_grid", [], "centre_ml100k_grid/epochs_to_95.md"),
    ("centre_as_default", [], "centre_synthetic/decision.md"),
    ("six_centre", [], "six_centre_synthetic/six.md"),
    ("default_choice_grid", [], "default_choice_grid/decision.md"),
    ("default_mmrec_rule", [], "default_mmrec_rule/mmrec.md"),
]


@pytest.mark.parametrize(("script", "args", "report"), REPORTS, ids=[r[2] for r in REPORTS])
def test_report_is_what_its_script_prints(script, args, report, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the scripts read docs/results/ relative to the repository root
    monkeypatch.setattr(sys, "argv", [f"studies/{script}.py", *args])
    runpy.run_module(f"studies.{script}", run_name="__main__")
    assert capsys.readouterr().out == (ROOT / "docs" / "results" / report).read_text()


def test_every_continued_run_replays_its_earlier_run(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert rule2_check_continued.main() == 0, capsys.readouterr().out
    assert " 0 of them with a different test" in capsys.readouterr().out


RESULTS = "docs/results"
#: the cold-item comparison reports: (--inputs, --runs folders, the report, the command it shows)
COLD_ITEMS = [
    (["cold_items_all/cold_items", "cold_items_all/cold_items_study"], ["cold_items_all", "diagnosis_ml100k"],
     "cold_items_all/cold_items.md",
     "python -m studies.cold_items_compare report --inputs docs/results/cold_items_all/cold_items "
     "docs/results/cold_items_all/cold_items_study --runs docs/results/cold_items_all/runs.json "
     "docs/results/diagnosis_ml100k/runs.json --out docs/results/cold_items_all/cold_items.md"),
    (["default_choice_grid/cold_items"],
     ["centre_ml100k_late_start", "centre_ml100k_grid", "default_choice_grid", "rule2_ml100k", "six_ml100k_mgcn"],
     "default_choice_grid/cold_items.md", "bash studies/cold_items_evaluate_default.sh /work/grid/checkpoints"),
]


@pytest.mark.parametrize(("inputs", "runs", "report", "shown"), COLD_ITEMS, ids=[c[2] for c in COLD_ITEMS])
def test_cold_items_report_is_what_its_script_writes(inputs, runs, report, shown, monkeypatch, tmp_path):
    from studies.cold_items_compare import main

    monkeypatch.chdir(ROOT)
    main(["report", "--inputs", *(f"{RESULTS}/{i}" for i in inputs), "--runs", *(f"{RESULTS}/{r}/runs.json" for r in runs),
          "--out", str(tmp_path / "cold_items.md"), "--command", shown])
    assert (tmp_path / "cold_items.md").read_text() == (ROOT / RESULTS / report).read_text()
