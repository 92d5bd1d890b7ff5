"""``diagnosis.md`` and the diagnosis plots from the ``diag/*`` columns the runner reads out of a run's logs."""

import pytest


def test_diagnostics_read_from_the_logs_and_reported():
    from lit_mmrec.experiments import logs
    from lit_mmrec.experiments.diagnosis import diagnosis_markdown

    rows = [
        {"step": "0", "diag/user_embedding/effective_rank_start": "60.0", "diag/user_repr_norm_start": "1.0"},
        {"epoch": "0", "step": "40", "diag/user_embedding/effective_rank": "50.0", "diag/user_repr_norm": "2.0"},
        {"epoch": "1", "step": "80", "diag/user_embedding/effective_rank": "40.0", "diag/user_repr_norm": "3.0"},
        {"epoch": "1", "step": "80", "val/recall@20": "0.1"},
    ]
    found = logs.diagnostics(rows)
    assert found == {"start": {"user_embedding/effective_rank": 60.0, "user_repr_norm": 1.0},
                     "by_epoch": {"user_embedding/effective_rank": [50.0, 40.0], "user_repr_norm": [2.0, 3.0]}}
    assert logs.diagnostics([{"epoch": "0", "val/recall@20": "0.1"}]) is None
    records = [
        {"dataset": "d", "model": "m", "variant": "random", "diagnostics": found},
        {"dataset": "d", "model": "m", "variant": "item-sum", "diagnostics": {
            "start": {"user_embedding/effective_rank": 30.0}, "by_epoch": {"user_embedding/effective_rank": [20.0]}}},
        {"dataset": "d", "model": "m", "variant": "random", "seed": 2},  # no diagnostics: left out
    ]
    text = diagnosis_markdown(records, "cmd")
    rank = text.split("## effective rank")[1].split("\n## ")[0]
    # start, epoch 1, epoch 10 (not reached), epoch 50, last
    assert "| m | random | 1 | 60.000 | 50.000 | n/a | n/a | 40.000 |" in rank
    assert "|  | item-sum | 1 | 30.000 | 20.000 | n/a | n/a | 20.000 |" in rank
    assert "vs random" not in text  # no "better" direction for a statistic
    assert "| m | random | 1 | 1.000 | 2.000 | n/a | n/a | 3.000 |" in text.split("## user repr norm")[1]


def test_statistic_series_and_diagnosis_plot(tmp_path):
    from lit_mmrec.experiments import plots
    from lit_mmrec.experiments.diagnosis import statistic_series
    from lit_mmrec.experiments.reports import diagnosis_plots

    def run(variant, rank):
        return {"dataset": "d", "model": "m", "variant": variant, "curve": [0.1, 0.2],
                "diagnostics": {"start": {"user/effective_rank": rank, "user/common_direction": 0.5},
                                "by_epoch": {"user/effective_rank": [rank + 1, rank + 2],
                                             "user/common_direction": [0.4, 0.3], "user/drift": [0.1, 0.2]}}}
    record = run("random", 60.0)
    assert statistic_series(record, "effective_rank") == [60.0, 61.0, 62.0]
    assert statistic_series(record, "drift") == [0.1, 0.1, 0.2]  # no start value: the first epoch's stands in
    assert statistic_series(record, "mean_cosine") is None and statistic_series({"curve": []}, "drift") is None
    pytest.importorskip("matplotlib", reason=plots.MISSING)
    [path] = diagnosis_plots([record, run("item-sum", 30.0), {**run("x", 1.0), "model": "n", "diagnostics": None}],
                             tmp_path)
    assert path.name == "diagnosis_d_m.png" and path.read_bytes()[:4] == b"\x89PNG"
