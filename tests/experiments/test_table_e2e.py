"""One real ``table`` run: 2 initialisations x 2 seeds of 3-epoch LightGCN on the tiny data set."""

import json
import os
import re

import pytest
import torch
import yaml

from lit_mmrec.callbacks.early_stopping import DEFAULT_RULE, RULES
from lit_mmrec.experiments.__main__ import main
from lit_mmrec.experiments.runner import cold_start_record
from lit_mmrec.experiments.runs_json import read_runs


@pytest.mark.slow
def test_table_end_to_end(tiny_configs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "results" / "e2e"
    args = ["table", "--datasets", "tiny", "--models", "lightgcn", "--inits", "random", "item-sum,n_clusters=2",
            "--seeds", "1", "2", "--configs", str(tiny_configs), "--workdir", str(tmp_path), "--out", str(out),
            "--jobs", "2", "--cold_start", "0", "1"]
    assert main(args) == 0
    runs = read_runs(out / "runs.json")
    assert len(runs) == 4 and all(r["status"] == "done" for r in runs)
    for run in runs:
        folder = out / "runs" / run["name"]
        assert (folder / "config.yaml").is_file() and (folder / "metrics.csv").is_file()
        assert "seed_everything: " + str(run["seed"]) in (folder / "config.yaml").read_text()
        assert run["epochs"] == 3 and len(run["curve"]) == 3 and run["seconds_to_best"] is not None
        assert 0 <= run["test"]["recall@20"] <= 1
        assert run["code"] is None or re.fullmatch(r"[0-9a-f]{40}(\+changes)?", run["code"])  # None: not a checkout
        assert (run["sgurinit_s"] is None) == (run["variant"] == "random")
        # train.py's default, as its config resolved it (by number: no rule named on the command line)
        assert run["stopping"] == {"rule": None, "patience": 50, "warmup": 50, "min_delta": 0.0, "relative_min_delta": 0.0}
        assert {key: run["stopping"][key] for key in RULES[DEFAULT_RULE]} == RULES[DEFAULT_RULE]
        cold = run["cold_start"]
        # both protocols: ranking over all items ("N") and within the cold items only ("cold/N")
        assert set(cold) == {"0", "1", "cold/0", "cold/1"} and cold["0"]["users"] <= cold["1"]["users"]
        assert cold["cold/1"]["users"] == cold["1"]["users"]
        # the record keeps the sizes and the reported metrics of the run's cold_start.json
        assert cold == cold_start_record(json.loads((folder / "cold_start.json").read_text()))
        assert set(cold["0"]) == {"cold_items", "test_interactions", "users", "recall@10", "recall@20", "ndcg@10",
                                  "ndcg@20"}
    table = (out / "table.md").read_text()
    assert "| lightgcn | random | 2 |" in table and "*item-sum,n_clusters=2 vs random*" in table
    assert "| lightgcn | random | 2 |" in (out / "convergence.md").read_text()
    # every run wrote its test users' metrics; the init is compared with random over them, per activity group
    assert all((out / "runs" / run["name"] / "per_user.npz").is_file() for run in runs)
    # each record keeps every activity group's validation curve (one on the tiny set), one value per epoch
    for run in runs:
        groups = run["group_curves"]
        assert groups and all(len(curve) == 3 for curve in groups.values())
        lows = [int(name.split("_")[1].split("-")[0]) for name in groups]
        assert lows == sorted(lows)
    assert "## Paired over users" in table
    assert "| tiny | lightgcn | item-sum,n_clusters=2 | all |" in (out / "paired.md").read_text()
    cold_report = (out / "cold_start.md").read_text()
    assert "(N = 0)" in cold_report and "ranked among the cold items only (N = 1)" in cold_report
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass  # the PNG part is skipped without the optional extra
    else:
        assert (out / "convergence_tiny_lightgcn.png").is_file()
    capsys.readouterr()
    # the same command again: everything is done, nothing is trained
    assert main(args) == 0
    assert "4 runs: 4 already done, 0 to run" in capsys.readouterr().out


@pytest.mark.slow
def test_continue_from_an_earlier_study_equals_training_longer(tiny_configs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    results = tmp_path / "results"

    def table(study: str, epochs: int, *more: str) -> int:
        return main(["table", "--datasets", "tiny", "--models", "lightgcn", "--inits", "random", "--seeds", "1",
                     "--configs", str(tiny_configs), "--workdir", str(tmp_path), "--out", str(results / study),
                     "--cold_start", "--max_epochs", str(epochs), *more])

    # nothing to continue from: one clear error, nothing trained
    assert table("orphan", 4, "--continue_from", str(results / "short")) == 2
    assert "no runs.json" in capsys.readouterr().err
    assert table("short", 2) == 0 and table("fresh", 4) == 0
    assert table("longer", 4, "--continue_from", str(results / "short")) == 0
    assert "continue longer_tiny_lightgcn_random_s1" in capsys.readouterr().out
    short, fresh, longer = (read_runs(results / s / "runs.json")[0]
                            for s in ("short", "fresh", "longer"))
    assert longer["continued_from"] == "short_tiny_lightgcn_random_s1" and longer["epochs"] == 4
    assert longer["curve"] == pytest.approx(fresh["curve"], abs=1e-6) and longer["curve"][:2] == short["curve"]
    assert longer["test"] == pytest.approx(fresh["test"], abs=1e-6)
    assert longer["wall_s"] > short["wall_s"]
    # the earlier study's folders are untouched
    assert (tmp_path / "checkpoints" / short["name"] / "last.ckpt").is_file()
    # a continuation that never improves (learning rate 1e-30: every validation repeats the last one) keeps the
    # earlier run's best checkpoint as the best of the whole run, in its own folder; its test is the earlier one's
    assert table("frozen", 4, "--continue_from", str(results / "short"), "--", "--model.init_args.learning_rate", "1e-30",
                 "--early_stopping.rule", "mmrec") == 0
    frozen = read_runs(results / "frozen" / "runs.json")[0]
    # the continuation's own session's stopping rule is recorded, not the earlier run's (copied logs)
    assert frozen["stopping"]["rule"] == "mmrec"
    assert {key: short["stopping"][key] for key in RULES[DEFAULT_RULE]} == RULES[DEFAULT_RULE]
    # and the config copied beside its metrics is that session's too
    config = yaml.safe_load((results / "frozen" / "runs" / frozen["name"] / "config.yaml").read_text())
    assert config["early_stopping"]["rule"] == "mmrec"
    state = next(v for k, v in torch.load(tmp_path / "checkpoints" / frozen["name"] / "last.ckpt",
                                          weights_only=False)["callbacks"].items()
                 if k.startswith("ModelCheckpoint{'monitor': 'val/recall@20'"))
    assert float(state["best_model_score"]) == pytest.approx(short["best_val_recall@20"])
    assert state["best_model_path"].endswith(f"{frozen['name']}/best-epoch={short['epochs_to_best'] - 1:03d}.ckpt")
    assert frozen["test"] == short["test"] and frozen["epochs_to_best"] == short["epochs_to_best"]
    # the earlier run's checkpoints are hard-linked, not copied (atomic writes replace files, never rewrite them)
    best = f"best-epoch={short['epochs_to_best'] - 1:03d}.ckpt"
    assert os.path.samefile(tmp_path / "checkpoints" / frozen["name"] / best,
                            tmp_path / "checkpoints" / short["name"] / best)
