"""The committed study reports under ``docs/results/`` are what their scripts print from the committed runs.

Each report names the command that produced it; running that command again on the committed ``runs.json`` files
must give the committed file byte for byte, so a report cannot drift from its runs (or a script from its report)
unnoticed.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: (script, its arguments, the report it writes), paths under docs/results/, as each report's command gives them
REPORTS = [
    ("headstart/headstart.py", [], "headstart/README.md"),
    ("round4_bm3/analyse.py", ["round4_bm3", "round4_lightgcn"], "round4_bm3/round4.md"),
    ("round4_bm3/analyse.py", ["round4b_bm3", "round4b_scaled141", "round4b_scaled224"], "round4b_bm3/round4b.md"),
    ("round5_ml100k/analyse.py", [], "round5_ml100k/round5.md"),
    ("round6_ml100k/analyse.py", [], "round6_ml100k/round6.md"),
    ("round7_synthetic/analyse.py", [], "round7_synthetic/round7.md"),
    ("six_centre_synthetic/analyse.py", [], "six_centre_synthetic/six.md"),
    ("round8_grid/analyse.py", [], "round8_grid/round8.md"),
    ("round8_mmrec/analyse.py", [], "round8_mmrec/mmrec.md"),
]


@pytest.mark.parametrize(("script", "args", "report"), REPORTS, ids=[r[2] for r in REPORTS])
def test_report_is_what_its_script_prints(script, args, report, monkeypatch, capsys):
    results = ROOT / "docs" / "results"
    monkeypatch.chdir(ROOT)  # the scripts read docs/results/ relative to the repository root
    monkeypatch.setattr(sys, "argv", [str(results / script), *args])
    monkeypatch.syspath_prepend(str(ROOT))
    runpy.run_path(str(results / script), run_name="__main__")
    assert capsys.readouterr().out == (results / report).read_text()
