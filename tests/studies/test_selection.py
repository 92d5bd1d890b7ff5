"""The recipe selection rule by hand: complete cells only, the guard, the tie-break, no test metric read."""

import json

import pytest

from studies.selection import cells, choose, main

CANDIDATES = ("a", "b", "c")


def runs(model, variant, values, dataset="d"):
    # "test" is deliberately absurd: the rule must never read it
    return [{"dataset": dataset, "model": model, "variant": variant, "seed": s, "status": "done",
             "best_val_recall@20": v, "test": {"recall@20": 99.0}} for s, v in enumerate(values)]


def test_guard_score_and_tie_by_hand():
    records = (
        runs("m1", "random", [0.19, 0.20, 0.21])  # mean .20, std .01
        + runs("m1", "a", [0.20, 0.20, 0.20]) + runs("m1", "b", [0.22, 0.22, 0.22]) + runs("m1", "c", [0.18, 0.18, 0.18])
        + runs("m2", "random", [0.10, 0.10, 0.10])  # std 0
        + runs("m2", "a", [0.10, 0.10, 0.10]) + runs("m2", "b", [0.1006, 0.1006, 0.1006]) + runs("m2", "c", [0.2] * 3)
        + runs("m3", "random", [0.3, 0.3]) + runs("m3", "a", [0.0] * 3)  # incomplete cell: ignored
    )
    found = cells(records, CANDIDATES)
    assert [(c.dataset, c.model) for c in found] == [("d", "m1"), ("d", "m2")]
    decision = choose(found, CANDIDATES)
    # a: 0 and 0; b: +10% and +0.6%; c: -10% (below .20 - .01: guard fails) and +100%
    assert decision["scores"]["b"] == pytest.approx((0.10 + 0.006) / 2)
    assert decision["failing"] == {"a": [], "b": [], "c": ["d/m1"]} and decision["chosen"] == "b"
    # within 0.5 points of the best, the simpler candidate wins
    assert choose(found, CANDIDATES, tie=0.06)["chosen"] == "a"


def test_no_eligible_candidate_chooses_nothing_and_nothing_complete_fails(tmp_path):
    records = runs("m", "random", [0.2, 0.2, 0.2]) + runs("m", "a", [0.1] * 3) + runs("m", "b", [0.1] * 3)
    assert choose(cells(records, ("a", "b")), ("a", "b"))["chosen"] is None
    (tmp_path / "runs.json").write_text(json.dumps({"runs": records}))
    main(["--runs", str(tmp_path / "runs.json"), "--out", str(tmp_path / "s.md"), "--candidates", "a", "b",
          "--expected_cells", "1"])
    assert "No candidate passed the guard: **none is chosen, the current default stays**" in (tmp_path / "s.md").read_text()
    with pytest.raises(ValueError, match="nothing to choose on"):
        choose(cells(runs("m", "random", [0.2]), ("a",)), ("a",))


def test_report_says_partial(tmp_path):
    records = runs("m", "random", [0.2, 0.21, 0.19]) + runs("m", "a", [0.22] * 3)
    (tmp_path / "runs.json").write_text(json.dumps({"runs": records}))
    out = tmp_path / "selection.md"
    main(["--runs", str(tmp_path / "runs.json"), "--out", str(out), "--candidates", "a", "--expected_cells", "24"])
    text = out.read_text()
    assert "Partial: 1 of 24 cells" in text and "| d | m | 0.2000 ± 0.0100 | +10.00% |" in text
    # (the command echoed in the report holds pytest's tmp path, e.g. pytest-199: not part of the check)
    assert "Provisional choice on the complete cells: **a**" in text and "99" not in text.replace(str(tmp_path), "")


def test_cli_without_a_complete_cell_is_one_line(tmp_path, capsys):
    (tmp_path / "runs.json").write_text(json.dumps({"runs": runs("m", "random", [0.2])}))
    with pytest.raises(SystemExit) as exit_info:
        main(["--runs", str(tmp_path / "runs.json"), "--out", str(tmp_path / "s.md")])
    assert exit_info.value.code == 2 and "no complete cell yet" in capsys.readouterr().err
