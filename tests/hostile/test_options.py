"""Callback options accepted and then ignored, clipped or failing deep inside: each refused when the callback is
built, with one line naming the option; SG-URInit's clipping of ``n_clusters`` said aloud, and a table it set no
row of an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile.support import Run, model_config

SGURINIT = "lit_mmrec.callbacks.SGURInit"


def with_callback(data: Path, class_path: str, **init_args: object) -> dict:
    config = model_config(data)
    config["trainer"]["callbacks"] = [{"class_path": class_path, "init_args": init_args}]
    return config


CALLBACK_CASES = {
    "SG-URInit NaN weight": (SGURINIT, {"weight": float("nan")}, "SG-URInit: weight must be a finite number"),
    "SG-URInit infinite temperature": (SGURINIT, {"temperature": float("inf")}, "SG-URInit: temperature must be a finite"),
    "SG-URInit NaN local weight": (SGURINIT, {"local_weight": float("nan")}, "SG-URInit: local_weight must be a finite"),
    "SG-URInit negative weight": (SGURINIT, {"weight": -1.0}, "SG-URInit: weight and local_weight must be >= 0"),
    "SG-URInit infinite residual": (SGURINIT, {"residual": float("inf")}, "SG-URInit: residual must be a finite"),
    "SG-URInit empty modality list": (SGURINIT, {"modalities": []}, "SG-URInit: modalities must be a non-empty list"),
    "ColdItems zero neighbours": ("lit_mmrec.callbacks.ColdItems", {"k": 0}, "ColdItems: k must be an integer >= 1"),
    "ColdItems unknown weighting": ("lit_mmrec.callbacks.ColdItems", {"weighting": "median"}, "ColdItems: weighting"),
    "ColdItems empty modality list": ("lit_mmrec.callbacks.ColdItems", {"modalities": []}, "ColdItems: modalities"),
    "ColdStartEvaluation no thresholds": ("lit_mmrec.callbacks.ColdStartEvaluation", {"thresholds": []},
                                          "ColdStartEvaluation: thresholds is an empty list"),
    "ColdStartEvaluation negative threshold": ("lit_mmrec.callbacks.ColdStartEvaluation", {"thresholds": [0, -1]},
                                               "ColdStartEvaluation: every threshold must be an integer >= 0"),
    "ColdStartEvaluation zero chunk": ("lit_mmrec.callbacks.ColdStartEvaluation", {"chunk_size": 0},
                                       "ColdStartEvaluation: chunk_size must be an integer >= 1"),
    "UserTableDiagnostics no users": ("lit_mmrec.callbacks.UserTableDiagnostics", {"max_users": 0},
                                      "UserTableDiagnostics: max_users must be an integer >= 1"),
    "EpochSeed negative seed": ("lit_mmrec.callbacks.EpochSeed", {"seed": -5}, "EpochSeed: seed must be an integer >= 0"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CALLBACK_CASES))
def test_callback_option_refused_at_construction(run: Run, tiny: Path, case: str) -> None:
    class_path, init_args, message = CALLBACK_CASES[case]
    config = run.config(with_callback(tiny, class_path, **init_args))
    run.refused(run.train, "fit", "--config", str(config), names=("config.yaml", message))


BUILT_IN_CASES = {
    "negative patience": ("early_stopping", "patience", -1, "early_stopping: patience must be an integer >= 0"),
    "NaN min_delta": ("early_stopping", "min_delta", float("nan"), "early_stopping: min_delta must be a finite number"),
    "infinite relative_min_delta": ("early_stopping", "relative_min_delta", float("inf"),
                                    "early_stopping: relative_min_delta must be a finite"),
    "NaN stopping threshold": ("early_stopping", "stopping_threshold", float("nan"),
                               "early_stopping: stopping_threshold must be a finite"),
    "empty predictions folder": ("predictions", "output_dir", " ", "predictions: output_dir is empty"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BUILT_IN_CASES))
def test_built_in_callback_option_refused(run: Run, tiny: Path, case: str) -> None:
    """Values a configuration file can hold (YAML's .nan, .inf) that the command line's parser already refuses."""
    section, option, value, message = BUILT_IN_CASES[case]
    config = run.config({**model_config(tiny), section: {option: value}})
    run.refused(run.train, "fit", "--config", str(config), names=("config.yaml", message))


def test_sgurinit_says_it_clips_n_clusters(run: Run, tiny: Path) -> None:
    """n_clusters 50 on 10 items is lowered to 10, and the warning says so."""
    config = run.config(with_callback(tiny, SGURINIT, n_clusters=50))
    with pytest.warns(UserWarning, match="n_clusters 50 is above the 10 items .* it uses 10 clusters"):
        run.succeeds("fit", "--config", str(config), "--trainer.max_epochs", "0", "--test_after_fit", "false")


def test_sgurinit_that_sets_no_row_fails(run: Run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recipe whose rows all fail (e.g. every norm check) is an error, not a run that trains on random rows."""
    import lit_mmrec.callbacks.sgurinit as callback

    def nothing_set(table, features, *args, report, **kwargs):
        report.extend({"cluster_sizes": [len(f)]} for f in features)
        return table.clone()

    monkeypatch.setattr(callback, "initialise_user_table", nothing_set)
    config = run.config(with_callback(tiny, SGURINIT, n_clusters=2))
    run.refused(run.train, "fit", "--config", str(config),
                names=("SG-URInit: set no row of user table user_embedding", "6 users have training interactions"))  # fmt: skip
    assert not (run.folder / "checkpoints").exists()
