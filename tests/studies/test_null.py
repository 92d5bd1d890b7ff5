"""The null calibration of the one-std test: hand-computed splits and counts, and the report end to end on
generated run records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lit_mmrec.experiments.variants import RANDOM
from studies.null import backbones, count_distribution, main, outcome, split_rates


def run(value: float, e95: int, seed: int, variant: str = RANDOM, model: str = "lightgcn") -> dict:
    return {"name": f"{model}_{variant}_s{seed}", "dataset": "toy", "model": model, "variant": variant,
            "seed": seed, "status": "done", "test": {"recall@20": value}, "epochs_to_95": e95}


def test_outcome_is_the_done_when_test():
    reference = [run(1.0, 10, 1), run(3.0, 30, 2)]  # mean 2, sample std sqrt(2) = 1.414
    assert outcome([run(0.5, 5, 3), run(0.5, 5, 4)], reference).worse  # 0.5 < 2 - 1.414
    near = outcome([run(1.0, 40, 3), run(1.0, 40, 4)], reference)  # 1.0 > 0.586: within one std
    assert (near.worse, near.higher, near.sooner) == (False, False, False)
    above = outcome([run(2.5, 19, 3), run(2.5, 19, 4)], reference)
    assert (above.worse, above.higher, above.sooner) == (False, True, True)


def test_split_rates_by_hand():
    runs = [run(v, e, s) for v, e, s in ((1.0, 10, 1), (2.0, 20, 2), (3.0, 30, 3), (4.0, 40, 4))]
    # draws (by index): 01 worse+sooner, 02 sooner, 03 / 12 ties, 13 higher, 23 higher
    assert split_rates(runs, 2) == pytest.approx({"worse": 1 / 6, "higher": 2 / 6, "sooner": 2 / 6})
    with pytest.raises(ValueError, match="2 x size"):
        split_rates(runs[:3], 2)


def test_count_distribution():
    assert count_distribution([]) == [1.0]
    assert count_distribution([0.5, 0.5]) == pytest.approx([0.25, 0.5, 0.25])
    assert count_distribution([1.0, 0.0, 0.2]) == pytest.approx([0.0, 0.8, 0.2, 0.0])
    assert sum(count_distribution([0.1, 0.7, 0.3, 0.9])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        count_distribution([1.5])


def test_backbones_pairs_the_groups_and_refuses_a_repeated_seed():
    reference = [run(0.2, 10, s) for s in (999, 1, 2)] + [run(0.21, 8, s, "item-sum") for s in (999, 1, 2)]
    draw = [run(0.19, 12, s) for s in (3, 4, 5)]
    (found,) = backbones(reference, draw, "item-sum")
    assert [r["seed"] for r in found.draw] == [3, 4, 5] and len(found.candidate) == 3
    # a backbone the draw lacks is left out; one whose draw repeats a reference seed is an error
    assert backbones(reference, draw[:2], "item-sum") == []
    with pytest.raises(ValueError, match=r"repeats the reference's seeds \[999\]"):
        backbones(reference, [run(0.19, 12, s) for s in (999, 4, 5)], "item-sum")


def test_report_end_to_end(tmp_path: Path):
    reference, draw = [], []
    for model, shift in (("lightgcn", 0.01), ("vbpr", -0.05)):
        reference += [run(0.20 + d, 20, s, model=model) for d, s in ((0.0, 999), (0.01, 1), (0.02, 2))]
        reference += [run(0.21 + shift, 10, s, "item-sum", model) for s in (999, 1, 2)]
        draw += [run(0.20 + d, 25, s, model=model) for d, s in ((0.005, 3), (0.015, 4), (0.01, 5))]
    paths = []
    for name, records in (("ref", reference), ("draw", draw)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps({"runs": records}))
    out = tmp_path / "null.md"
    main(["--reference", str(paths[0]), "--draw", str(paths[1]), "--out", str(out)])
    text = out.read_text()
    assert "| toy | lightgcn | 0.2100 ± 0.0100 | 0.2100 ± 0.0050 | +0.0% (+0.0)" in text
    # item-sum: lightgcn 0.22 higher, vbpr 0.16 worse (below 0.21 - 0.01); both sooner (10 vs 20 epochs)
    assert "item-sum (against the study's random, the grid's verdict): worse on 1, higher on 1, sooner on 2" in text
    with pytest.raises(SystemExit):
        main(["--reference", str(paths[0]), "--draw", str(tmp_path / "missing.json"), "--out", str(out)])


def test_all_seeds_verdict_with_the_candidates_draw(tmp_path: Path):
    reference, draw, extra = [], [], []
    for model, values, more in (("lightgcn", (0.22, 0.22, 0.22), (0.22, 0.22, 0.22)),
                                ("vbpr", (0.16, 0.16, 0.16), (0.16, 0.17, 0.15))):
        reference += [run(0.20 + d, 20, s, model=model) for d, s in ((0.0, 999), (0.01, 1), (0.02, 2))]
        reference += [run(v, 10, s, "item-sum", model) for v, s in zip(values, (999, 1, 2), strict=True)]
        draw += [run(0.20 + d, 25, s, model=model) for d, s in ((0.005, 3), (0.015, 4), (0.01, 5))]
        extra += [run(v, 10, s, "item-sum", model) for v, s in zip(more, (3, 4, 5), strict=True)]
    paths = {}
    for name, records in (("ref", reference), ("draw", draw), ("extra", extra)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps({"runs": records}))
    out = tmp_path / "null.md"
    main(["--reference", str(paths["ref"]), "--draw", str(paths["draw"]), "--candidate_draw", str(paths["extra"]),
          "--out", str(out)])
    text = out.read_text()
    # random, 6 seeds: mean .21, sample std sqrt(.00025 / 5) = .00707. lightgcn's item-sum: .22 on all 6 (std 0):
    # +4.8%, +1.4 std, SE = .00707 / sqrt(6) = .00289 -> +3.5 SE. vbpr's: mean .16, std sqrt(.0002 / 5) = .00632:
    # -23.8%, -7.1 std, SE = sqrt(.00004 / 6 + .00005 / 6) = .00387 -> -12.9 SE, worse beyond one std
    assert "| +4.8% (+1.4 std; +3.5 SE) |" in text
    assert "| -23.8% (-7.1 std; -12.9 SE) ✗ |" in text
    assert ("item-sum against random over all seeds (2 backbones with the candidate's draw): worse beyond one std "
            "on 1, higher on 1, sooner to 95% on 2; below random by more than two standard errors of the difference "
            "on 1.") in text
    assert "--candidate_draw" in text  # in the command shown
    # without it the report has no all-seeds column; a candidate draw on the reference's seeds is an error
    main(["--reference", str(paths["ref"]), "--draw", str(paths["draw"]), "--out", str(out)])
    assert "SE" not in out.read_text()
    with pytest.raises(ValueError, match=r"candidate's draw repeats its reference seeds \[999\]"):
        backbones(reference, draw, "item-sum", candidate_draw=[dict(r, seed=999) for r in extra[:3]] + extra[1:3])
