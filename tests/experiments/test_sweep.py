import pytest

from lit_mmrec.experiments import plots
from lit_mmrec.experiments.__main__ import main
from lit_mmrec.experiments.runner import RunStore
from lit_mmrec.experiments.sweep import sweep_specs
from lit_mmrec.experiments.variants import parse_variant


def test_sweep_specs_include_random_and_every_value():
    specs = sweep_specs("s", "d", "m", parse_variant("item-sum"), "local_weight", ["0", "1"], [1, 2])
    assert [s.variant.name for s in specs[::2]] == ["random", "item-sum,local_weight=0", "item-sum,local_weight=1"]
    assert [s.seed for s in specs[:2]] == [1, 2]
    assert specs[2].variant.callback_args(1)[-4:] == [
        "--trainer.callbacks.init_args.local_weight", "0", "--trainer.callbacks.init_args.seed", "1"]


def hand_made_sweep(out, configs):
    """runs.json of a 2-value n_clusters sweep (+ random) over 2 seeds; returns the report-only command."""
    store = RunStore(out / "runs.json")
    recall = {"random": [0.10, 0.12], "item-sum,n_clusters=2": [0.12, 0.14], "item-sum,n_clusters=5": [0.2, 0.2]}
    for spec in sweep_specs("sweep", "tiny", "lightgcn", parse_variant("item-sum"), "n_clusters", ["2", "5"], [1, 2]):
        value = recall[spec.variant.name][spec.seed - 1]
        store.put({"name": spec.name, "dataset": "tiny", "model": "lightgcn", "variant": spec.variant.name,
                   "seed": spec.seed, "status": "done", "curve": [value / 2, value], "epochs": 2,
                   "epochs_to_best": 2, "epochs_to_95": 2, "seconds_to_best": 1.0, "seconds_to_95": 1.0,
                   "test": {"recall@10": value, "recall@20": value, "ndcg@10": value, "ndcg@20": value}})
    return ["sweep", "--dataset", "tiny", "--model", "lightgcn", "--param", "n_clusters", "2", "5",
            "--seeds", "1", "2", "--out", str(out), "--configs", str(configs), "--report_only"]


def test_sweep_reports_from_hand_made_runs(tmp_path, tiny_configs):
    out = tmp_path / "sweep"
    assert main(hand_made_sweep(out, tiny_configs)) == 0
    text = (out / "sweep.md").read_text()
    assert "| | *item-sum,n_clusters=5 vs random* | | +81.82% |" in text
    # the command shown is the one that makes the runs, not the report-only rewrite
    assert "--param n_clusters 2 5 --seeds 1 2" in text and "--report_only" not in text
    pytest.importorskip("matplotlib", reason=plots.MISSING)
    assert (out / "sweep_tiny_lightgcn_n_clusters.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "convergence_tiny_lightgcn.png").is_file()


def test_without_matplotlib_the_markdown_is_still_written(tmp_path, tiny_configs, monkeypatch, capsys):
    def missing():
        raise ImportError(plots.MISSING)

    monkeypatch.setattr(plots, "pyplot", missing)
    out = tmp_path / "sweep"
    assert main(hand_made_sweep(out, tiny_configs)) == 0
    assert (out / "sweep.md").is_file() and not list(out.glob("*.png"))
    assert plots.MISSING in capsys.readouterr().out
