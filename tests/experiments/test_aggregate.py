import math

import pytest

from lit_mmrec.experiments.aggregate import mean_std, metric_summary, relative, table_markdown


def record(model, variant, seed, recall20, ndcg20=0.1):
    return {
        "name": f"{model}_{variant}_{seed}", "dataset": "d", "model": model, "variant": variant, "seed": seed,
        "status": "done", "test": {"recall@10": recall20 / 2, "recall@20": recall20, "ndcg@10": ndcg20, "ndcg@20": ndcg20},
    }


RECORDS = [
    record("lightgcn", "random", 1, 0.10), record("lightgcn", "random", 2, 0.12), record("lightgcn", "random", 3, 0.14),
    record("lightgcn", "item-sum", 1, 0.12), record("lightgcn", "item-sum", 2, 0.15), record("lightgcn", "item-sum", 3, 0.15),
    {**record("lightgcn", "item-sum", 4, 0.9), "status": "failed"},  # not counted
]


def test_mean_and_sample_std():
    assert mean_std([0.10, 0.12, 0.14]) == pytest.approx((0.12, 0.02))
    assert mean_std([0.5]) == (0.5, 0.0)


def test_relative_improvement():
    assert relative(0.14, 0.12) == pytest.approx(100 * 0.02 / 0.12)
    assert relative(0.1, 0.0) is None


def test_summary_and_table_from_hand_made_runs():
    summary = metric_summary(RECORDS)
    mean, std = summary[("d", "lightgcn", "item-sum")]["recall@20"]
    assert summary[("d", "lightgcn", "item-sum")]["seeds"] == 3
    assert mean == pytest.approx(0.14) and std == pytest.approx(math.sqrt(((0.02) ** 2 + 0.01**2 * 2) / 2))
    text = table_markdown(RECORDS, "python -m lit_mmrec.experiments table ...")
    assert "| lightgcn | random | 3 | 0.0600 ± 0.0100 | 0.1200 ± 0.0200 |" in text
    assert "| | *item-sum vs random* | | +16.67% | +16.67% | +0.00% | +0.00% |" in text


def test_a_single_seed_shows_the_value_without_a_spread():
    text = table_markdown([record("vbpr", "random", 1, 0.2), record("vbpr", "item-sum", 1, 0.3)], "cmd")
    assert "| vbpr | random | 1 | 0.1000 | 0.2000 | 0.1000 | 0.1000 |" in text
    assert "±" not in text.split("|---|")[1]


def test_cold_start_table_leaves_out_a_data_set_without_cold_users():
    from lit_mmrec.experiments.cold_start import cold_start_markdown

    def cold(users, recall):
        metrics = {"recall@10": recall, "recall@20": recall, "ndcg@10": recall, "ndcg@20": recall}
        return {"0": {"cold_items": users and 4, "users": users, **metrics}}

    records = [
        {**record("vbpr", "random", 1, 0.2), "cold_start": cold(3, 0.25)},
        {**record("vbpr", "random", 1, 0.2), "dataset": "warm", "cold_start": cold(0, 0.0)},
    ]
    text = cold_start_markdown(records, "cmd")
    assert "warm: 0 cold test items, 0 users (not in the table: nothing to measure)" in text
    assert "### d" in text and "### warm" not in text
    assert "| vbpr | random | 1 | 0.2500 | 0.2500 | 0.2500 | 0.2500 |" in text
