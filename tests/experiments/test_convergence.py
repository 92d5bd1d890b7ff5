import pytest

from lit_mmrec.experiments import logs, plots
from lit_mmrec.experiments.convergence import (
    PLOT_BUDGETS,
    anytime_relative,
    convergence,
    convergence_markdown,
    mean_curve,
)
from lit_mmrec.experiments.reports import anytime_plots, convergence_plots

HEADER = "epoch,step,test/recall@20,time/elapsed_s,train/loss,val/recall@20\n"


def write(path, rows):
    path.mkdir(parents=True)
    (path / "metrics.csv").write_text(HEADER + "".join(rows))


def test_curve_and_convergence_from_hand_made_metrics_csv(tmp_path):
    # version_0 ran epochs 0-2 and was killed during epoch 3; version_1 resumed from the epoch-2 checkpoint
    write(tmp_path / "version_0", ["0,3,,1.0,,0.10\n", "0,3,,,0.7,\n", "1,7,,2.0,,0.50\n", "2,11,,3.0,,0.40\n"])
    write(tmp_path / "version_1", ["3,15,,4.5,,0.96\n", "4,19,,5.5,,1.00\n", "5,23,,6.5,,0.99\n", "5,23,0.3,,,\n"])
    (tmp_path / "version_10").mkdir()  # sorted by number, not as text; no metrics.csv: skipped
    rows = logs.read_rows(tmp_path)
    curve = logs.validation_curve(rows)
    assert [p["epoch"] for p in curve] == [0, 1, 2, 3, 4, 5]
    result = convergence(curve)
    assert result["epochs"] == 6 and result["best_val_recall@20"] == 1.0
    assert result["epochs_to_best"] == 5 and result["seconds_to_best"] == 5.5
    assert result["epochs_to_95"] == 4 and result["seconds_to_95"] == 4.5  # 0.96 >= 0.95, 0.50 is not
    assert logs.test_metrics(rows) == {"recall@20": 0.3}


def test_ties_keep_the_first_best_epoch_and_time_may_be_absent():
    result = convergence([{"epoch": 0, "val": 0.2}, {"epoch": 1, "val": 0.4}, {"epoch": 2, "val": 0.4}])
    assert result["epochs_to_best"] == 2 and result["epochs_to_95"] == 2 and result["seconds_to_best"] is None
    with pytest.raises(ValueError):
        convergence([])


def test_mean_curve_over_seeds_of_different_lengths():
    assert mean_curve([[0.1, 0.3], [0.3, 0.5, 0.6]]) == pytest.approx([0.2, 0.4, 0.6])


def runs():
    def run(variant, seed, epochs_to_95, curve):
        return {"name": f"{variant}{seed}", "dataset": "d", "model": "m", "variant": variant, "status": "done",
                "epochs_to_best": 10, "epochs_to_95": epochs_to_95, "seconds_to_best": 1.0, "seconds_to_95": 0.5,
                "epochs": 30, "curve": curve}
    return [run("random", 1, 8, [0.1, 0.2]), run("random", 2, 12, [0.1, 0.3]), run("item-sum", 1, 6, [0.2, 0.3])]


def test_convergence_markdown():
    text = convergence_markdown(runs(), "cmd")
    assert "| m | random | 2 | 10.0 ± 0.0 | 10.0 ± 2.8 |" in text
    assert "| | *item-sum vs random* | | +0.00% | -40.00% |" in text
    assert "Cost of SG-URInit" not in text  # no run recorded SG-URInit seconds


def test_convergence_markdown_reports_the_head_start():
    records = runs()
    for record, best in zip(records, (0.2, 0.3, 0.3), strict=True):
        record["best_val_recall@20"] = best
    text = convergence_markdown(records, "cmd").split("## Head start")[1]
    assert "| m | random | 2 | 0.1000 ± 0.0000 | 0.2500 ± 0.0707 |" in text
    assert "|  | item-sum | 1 | 0.2000 | 0.3000 |" in text
    assert "| | *item-sum vs random* | | +100.00% | +20.00% |" in text


def test_convergence_markdown_reports_the_cost_of_sgurinit():
    records = runs()
    records[0].update(sgurinit_s=0.0, wall_s=100.0)  # random: no SG-URInit, left out
    records[2].update(sgurinit_s=0.5, wall_s=200.0)
    text = convergence_markdown(records, "cmd").split("## Cost of SG-URInit")[1]
    assert "| m | item-sum | 1 | 0.500 | 0.250 |" in text and "random" not in text.split("|---|")[1]
    assert "Relative change" not in text  # nothing compared with random in this table


def test_convergence_plot(tmp_path):
    pytest.importorskip("matplotlib", reason=plots.MISSING)
    [path] = convergence_plots(runs(), tmp_path)
    assert path.name == "convergence_d_m.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_anytime_best_within_a_budget_by_hand():
    from lit_mmrec.experiments.convergence import anytime_markdown, best_within

    record = {"curve": [0.1, 0.3, 0.2] + [0.25] * 10 + [0.4]}  # 14 epochs, best at epoch 14
    assert best_within(record, "<=1") == 0.1 and best_within(record, "<=5") == 0.3
    assert best_within(record, "<=10") == 0.3 and best_within(record, "<=25") == 0.4
    assert best_within({"curve": []}, "<=5") is None
    records = [
        {"dataset": "d", "model": "m", "variant": "random", "curve": [0.1] * 4 + [0.2] * 100},
        {"dataset": "d", "model": "m", "variant": "random", "curve": [0.3] * 8},  # stopped early: counts its best
    ]
    text = anytime_markdown(records, "cmd")
    # <= 5: 0.2 and 0.3 -> mean 0.25, std 0.0707; <= 100: the same
    assert "| m | random | 2 | 0.2500 ± 0.0707 |" in text and "```bash\ncmd\n```" in text


def test_anytime_relative_by_hand(tmp_path):
    def run(model, variant, curve):
        return {"dataset": "d", "model": model, "variant": variant, "curve": curve}
    records = [
        run("a", "random", [0.1, 0.2, 0.4]), run("a", "random", [0.2, 0.2, 0.2, 0.2]),  # final best: mean .3
        run("a", "item-sum", [0.3, 0.3, 0.3]),
        run("b", "random", [0.5]), run("b", "item-sum", [0.25, 1.0]),
        run("c", "item-sum", [0.9]),  # no random run on c: not averaged
        run("e", "random", [0.05]),  # no item-sum run on e: not averaged either (every line, the same backbones)
    ]
    lines = anytime_relative(records)["d"]
    assert set(lines) == {"random", "item-sum"}
    at = {budget: i for i, budget in enumerate(PLOT_BUDGETS)}
    # E = 1: random a (.1 + .2) / 2 / .3 = .5, b 1.0 -> .75; item-sum a .3 / .3 = 1, b .25 / .5 = .5 -> .75
    assert lines["random"][at[1]] == pytest.approx(0.75) and lines["item-sum"][at[1]] == pytest.approx(0.75)
    # E = 3: random a (.4 + .2) / 2 / .3 = 1, b 1 -> 1; item-sum a 1, b 2 -> 1.5 (a stopped run keeps its best)
    assert lines["random"][at[3]] == pytest.approx(1.0) and lines["item-sum"][at[1000]] == pytest.approx(1.5)
    pytest.importorskip("matplotlib", reason=plots.MISSING)
    [path] = anytime_plots(records, tmp_path)
    assert path.name == "anytime_d.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_anytime_by_user_group_by_hand(tmp_path):
    from lit_mmrec.experiments.convergence import anytime_groups_markdown, group_curves

    def write(name, rows):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        columns = ["epoch", "step", "val/recall@20", "val/users_12-40/recall@20", "val/users_1-5/recall@20",
                   "val/users_1-5/ndcg@20", "train/loss"]
        lines = [",".join(columns)] + [",".join(str(row.get(c, "")) for c in columns) for row in rows]
        (folder / "metrics.csv").write_text("\n".join(lines) + "\n")

    def epoch(e, low, high):
        return {"epoch": e, "val/users_1-5/recall@20": low, "val/users_12-40/recall@20": high, "val/recall@20": 0.5}

    # a training-loss row between epochs, and epoch 1 logged twice (a resumed run): the last row wins
    write("r1", [epoch(0, 0.1, 0.3), {"epoch": 0, "train/loss": 1.0}, epoch(1, 0.05, 0.2), epoch(1, 0.2, 0.4)])
    write("r2", [epoch(0, 0.3, 0.1)])
    write("d1", [epoch(0, 0.4, 0.2), epoch(1, 0.1, 0.6)])
    curves = group_curves(tmp_path / "runs" / "r1" / "metrics.csv")
    assert list(curves) == ["users_1-5", "users_12-40"]  # lowest activity first, not by string order
    assert curves == {"users_1-5": [0.1, 0.2], "users_12-40": [0.3, 0.4]}

    def record(name, variant, seed):
        return {"name": name, "dataset": "d", "model": "m", "variant": variant, "seed": seed, "status": "done"}
    records = [record("r1", "random", 1), record("r2", "random", 2), record("d1", "default", 1),
               record("gone", "default", 2)]  # a run without its folder is left out
    text = anytime_groups_markdown(records, tmp_path / "runs", "cmd")
    # users_1-5 within 5 epochs: random .2 (r1) and .3 (r2) -> .25 ± .0707; default .4 (one seed) -> +60%
    assert "| m · users_1-5 | random | 2 | 0.2500 ± 0.0707 |" in text
    assert "|  | default | 1 | 0.4000 |" in text and "| | *default vs random* | | +60.00% |" in text
    # users_12-40: random .4 and .1 -> .25; default .6 -> +140%
    assert "| m · users_12-40 | random | 2 | 0.2500 ± 0.2121 |" in text and "+140.00%" in text
    assert text.index("users_1-5 |") < text.index("users_12-40 |") and "```bash\ncmd\n```" in text
    assert anytime_groups_markdown([record("gone", "random", 1)], tmp_path / "runs", "cmd") is None
    # a record that keeps its curves needs no run folder, and its curves win over the folder's
    kept = [{**record("gone", "random", 1), "group_curves": {"users_1-5": [0.1, 0.3]}},
            {**record("d1", "default", 1), "group_curves": {"users_1-5": [0.15]}}]
    text = anytime_groups_markdown(kept, tmp_path / "runs", "cmd")
    assert "| m · users_1-5 | random | 1 | 0.3000 |" in text and "| | *default vs random* | | -50.00% |" in text
    assert "users_12-40" not in text
