import numpy as np
import pytest

from lit_mmrec.experiments.paired import compare, compare_runs, paired_markdown


def write(path, users, degrees, recall):
    np.savez_compressed(path, users=np.asarray(users), train_interactions=np.asarray(degrees),
                        **{"recall@20": np.asarray(recall, dtype=np.float32)})
    return path


def test_a_constant_gain_is_better_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    base = rng.random(200)
    result = compare(base, base + 0.05)
    assert result.mean_difference == pytest.approx(0.05)
    assert result.low == pytest.approx(0.05) and result.high == pytest.approx(0.05)
    assert result.verdict == "better" and result.p_value < 1e-6


def test_identical_runs_show_no_difference_and_noise_is_not_called_a_difference():
    base = np.random.default_rng(1).random(300)
    same = compare(base, base.copy())
    assert same.verdict == "no difference" and same.p_value == 1.0
    noise = compare(base, base + np.random.default_rng(2).normal(0, 0.1, 300), test="wilcoxon")
    assert noise.low < 0 < noise.high and noise.verdict == "no difference"


def test_runs_are_paired_by_user_pooled_over_seeds_and_split_by_activity(tmp_path):
    users = np.arange(10)
    degrees = np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    base = np.linspace(0, 0.9, 10)
    gain = np.where(degrees <= 2, 0.2, 0.0)  # only the least active users gain
    baseline = [write(tmp_path / f"b{s}.npz", users, degrees, base) for s in range(2)]
    # the candidate's file lists the users in another order: pairing is by user id
    order = users[::-1]
    candidate = [write(tmp_path / f"c{s}.npz", order, degrees[order], (base + gain)[order]) for s in range(2)]
    result = compare_runs(baseline, candidate, groups=5)
    assert result["all"].users == 20
    assert result["all"].mean_difference == pytest.approx(0.08, abs=1e-6)
    assert result["users_1-1"].mean_difference == pytest.approx(0.2, abs=1e-6)
    assert result["users_5-5"].mean_difference == pytest.approx(0.0, abs=1e-6)
    assert "| ml100k | lightgcn | default | users_1-1 | 4 |" in paired_markdown(
        [("ml100k", "lightgcn", "default", result)], "recall@20", "t")


def test_unpaired_inputs_are_refused(tmp_path):
    a = write(tmp_path / "a.npz", [0, 1], [1, 2], [0.1, 0.2])
    b = write(tmp_path / "b.npz", [5, 6], [1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="share no test user"):
        compare_runs([a], [b])
    with pytest.raises(ValueError, match="one candidate run per baseline run"):
        compare_runs([a, a], [b])


def test_a_study_compares_each_init_with_random_over_the_seeds_both_have(tmp_path):
    from lit_mmrec.experiments.paired import paired_summary, study_comparisons

    users, degrees = np.arange(6), np.array([1, 2, 3, 4, 5, 6])
    records = []
    for variant, gain in (("random", 0.0), ("default", 0.1)):
        for seed in (1, 2, 3):
            name = f"ml100k_lightgcn_{variant}_s{seed}"
            if variant == "default" and seed == 3:
                continue  # a candidate seed still missing: seed 3 of random is left unpaired
            (tmp_path / name).mkdir()
            write(tmp_path / name / "per_user.npz", users, degrees, np.linspace(0, 0.5, 6) + gain)
            records.append({"name": name, "status": "done", "dataset": "ml100k", "model": "lightgcn",
                            "variant": variant, "seed": seed})
    (row,) = study_comparisons(records, tmp_path)
    assert row[:3] == ("ml100k", "lightgcn", "default")
    assert row[3]["all"].users == 12 and row[3]["all"].verdict == "better"
    assert "| ml100k | lightgcn | default | +0.1000 [+0.1000, +0.1000] |" in paired_summary([row])
