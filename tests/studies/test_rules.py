"""Stopping rules replayed on validation curves: hand-made curves, and the repository's own recorded runs (a
rule replayed on a later-stopping run must land where a run trained under that rule stopped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lit_mmrec.experiments.convergence import anytime_relative
from lit_mmrec.experiments.runner import STOPPING_KEYS
from lit_mmrec.experiments.variants import RANDOM
from studies.rules import (
    RULE_SETTINGS,
    check_recorded,
    main,
    recorded_rule,
    replay,
    verdict_markdown,
    verdicts,
)

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def test_patience_counts_validations_without_strict_improvement():
    curve = [0.1, 0.3] + [0.2] * 25
    # epochs 3..22 are the 20 validations without improvement: stop after epoch 22
    assert replay(curve, patience=20) == replay(curve[:22], patience=20)
    found = replay(curve, patience=20)
    assert (found.epochs, found.best_epoch, found.best, found.epochs_to_95) == (22, 2, 0.3, 2)
    # a tie is not an improvement, and the best is the first epoch with the highest value
    tied = replay([0.2, 0.2, 0.2, 0.1], patience=3)
    assert (tied.epochs, tied.best_epoch) == (4, 1)


def test_warmup_holds_patience_until_its_end():
    curve = [0.1, 0.3] + [0.2] * 40
    found = replay(curve, patience=20, warmup=5)
    # patience counts from epoch index 5: indices 5..24 -> 25 epochs trained
    assert (found.epochs, found.best_epoch) == (25, 2)
    # improvements after the warm-up reset the counter as usual
    rising = [0.1] * 10 + [0.2] + [0.15] * 30
    assert replay(rising, patience=20, warmup=5).epochs == 31


def test_epochs_to_95_are_of_the_best_the_rule_kept():
    # the later peak (0.5) is never seen by patience 2: 95% of 0.3 is first reached at epoch 2
    curve = [0.1, 0.29, 0.3, 0.2, 0.2, 0.5]
    found = replay(curve, patience=2)
    assert (found.epochs, found.best, found.epochs_to_95) == (5, 0.3, 2)


def test_a_curve_that_ends_before_the_rule_stops_is_not_replayed():
    curve = [0.1, 0.2, 0.3]
    assert replay(curve, patience=20) is None
    # unless the budget ended it: then the rule stopped with the budget
    assert replay(curve, patience=20, max_epochs=3).epochs == 3
    with pytest.raises(ValueError, match="patience"):
        replay(curve, patience=0)
    with pytest.raises(ValueError, match="empty"):
        replay([], patience=20)


def _record(model: str, variant: str, seed: int, curve: list[float], test: float, rule: str | None = None) -> dict:
    found = replay(curve, 20, 0 if rule == "mmrec" else 50, max_epochs=len(curve) + 1000) or replay(curve, 1)
    options = ["--early_stopping.rule", rule] if rule else []
    return {"name": f"{model}_{variant}_{seed}", "dataset": "d", "model": model, "variant": variant, "seed": seed,
            "status": "done", "options": options, "curve": curve, "epochs": found.epochs,
            "epochs_to_best": found.best_epoch, "best_val_recall@20": found.best, "test": {"recall@20": test}}


def _warmup50_curve(peak_at: int, peak: float, later: float) -> list[float]:
    """Rises to ``peak`` at ``peak_at``, dips, then climbs to ``later`` at epoch 60; stops 20 epochs after."""
    curve = [peak * (i + 1) / peak_at for i in range(peak_at)] + [peak * 0.9] * (59 - peak_at) + [later]
    return curve + [later * 0.99] * 20


def test_verdict_counts_worse_beyond_one_std_and_sooner():
    records = []
    for seed, (test_random, test_candidate) in enumerate([(0.20, 0.17), (0.21, 0.18), (0.22, 0.19)]):
        # the candidate peaks early (MMRec's rule would stop it at .25) and climbs later to .28 (warmup50 sees it)
        records.append(_record("m", RANDOM, seed, _warmup50_curve(40, 0.26, 0.27 + 0.001 * seed), test_random))
        records.append(_record("m", "item-sum", seed, _warmup50_curve(3, 0.25, 0.28 + 0.001 * seed), test_candidate))
    found = verdicts(records, "item-sum", ("mmrec", "warmup50"), max_epochs=1000)
    assert len(found) == 1
    verdict = found[0]
    assert verdict.test[RANDOM][0] == pytest.approx(0.21)
    assert verdict.val["mmrec"]["item-sum"][0] == pytest.approx(0.25)
    assert verdict.val["warmup50"]["item-sum"][0] == pytest.approx(0.281)
    text = verdict_markdown(found, "item-sum", ("mmrec", "warmup50"), "warmup50", "cmd", anytime_relative(records))
    # after one epoch: random .26 / 40 and item-sum .25 / 3 of random's final mean best (.271)
    assert "within E = 1 / 10 / 50 / 100 / 1000 epochs" in text
    assert "item-sum 0.31 / " in text and "random 0.02 / " in text
    # the table: random's test .21 ± .01, item-sum -14.3%; under mmrec random climbs on to .271 (its epoch-60
    # step comes within patience) and item-sum stops on .25 (-7.7%); under warmup50 item-sum reaches .281 (+3.7%),
    # 95% of which it first reaches at epoch 60
    assert "| d | m | 0.2100 ± 0.0100 | -14.3% ✗ | -7.7% ✗ | 40 -> 3 | +3.7% ✓ | 40 -> 60 |" in text
    # test: .18 against .21 ± .01 is worse beyond one std; replayed validation: worse under mmrec, better after
    assert "worse than random beyond one std on 1 of 1 backbones, better (higher mean) on 0" in text
    assert "under mmrec: best validation worse beyond one std on 1, fewer epochs to 95% on 1" in text
    assert "under warmup50: best validation worse beyond one std on 0" in text
    # cost: under mmrec random's runs train 80 epochs (the epoch-60 step, then 20 without), item-sum's 23 (epoch-3
    # peak, then 20 without); under warmup50 both train 80
    assert verdict.epochs == {"mmrec": pytest.approx((3 * 80 + 3 * 23) / 6), "warmup50": pytest.approx(80.0)}
    assert "fewer epochs to 95% on 1, 52 epochs a run on average" in text
    assert "fewer epochs to 95% on 0, 80 epochs a run on average" in text
    # a backbone without all seeds of both inits is left out
    assert verdicts(records[:-1], "item-sum", ("mmrec",)) == []
    # the same (backbone, init, seed) again (a second study's runs.json): the first record counts
    repeated = dict(records[0], test={"recall@20": 0.9}, name="again")
    assert verdicts(records + [repeated], "item-sum", ("mmrec",))[0].test == verdict.test


def test_a_run_not_trained_under_the_named_rule_is_refused():
    curve = _warmup50_curve(3, 0.25, 0.28)[:23]  # what MMRec's rule trained: stopped at epoch 23
    record = _record("m", RANDOM, 0, curve, 0.2, rule=None)
    record["epochs"], record["epochs_to_best"] = 23, 3
    with pytest.raises(ValueError, match="was not trained under 'warmup50'"):
        check_recorded(record, "warmup50", 1000)
    check_recorded(record, "mmrec", 1000)


def test_the_recorded_stopping_settings_name_the_rule_before_options_and_default():
    record = _record("m", RANDOM, 0, [0.1] * 80, 0.1)  # its options name no rule
    assert recorded_rule(record, "warmup50") == "warmup50" and recorded_rule(record, "mmrec") == "mmrec"
    # what the runner writes: the resolved settings of the last session (a named rule overrides the numbers)
    record["stopping"] = {"rule": "warmup50_patience50", "patience": 20, "warmup": 50, "min_delta": 0.0,
                          "relative_min_delta": 0.0}
    assert recorded_rule(record, "mmrec") == "warmup50_patience50"
    # no name: the named rule with the same numbers, or an error naming the settings
    record["stopping"].update(rule=None, patience=50)
    assert recorded_rule(record) == "warmup50_patience50"
    record["stopping"]["patience"] = 30
    with pytest.raises(ValueError, match="'patience': 30.*which no named rule has"):
        recorded_rule(record)
    # a record whose own settings disagree with its curve is refused, saying so
    record["stopping"]["rule"] = "mmrec"
    with pytest.raises(ValueError, match="not trained under 'mmrec' .*record does not match its own run"):
        check_recorded(record, "warmup50", 1000)
    record["stopping"]["rule"] = "unheard_of"
    with pytest.raises(ValueError, match="'unheard_of', not one of"):
        recorded_rule(record)


def test_the_runner_records_every_setting_a_named_rule_fixes():
    # the runner cannot import Lightning, so it lists the keys itself; a preset gaining a setting must reach it
    assert STOPPING_KEYS == ("rule", *RULE_SETTINGS)


def test_cli_refuses_mixed_rules_and_missing_files(tmp_path, capsys):
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps({"runs": [_record("m", RANDOM, 0, [0.1] * 30, 0.1, rule="mmrec"),
                                         _record("m", "item-sum", 0, [0.1] * 80, 0.1)]}))
    with pytest.raises(SystemExit):
        main(["--runs", str(runs), "--out", str(tmp_path / "v.md"), "--seeds", "1"])
    assert "one rule per report" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--runs", str(tmp_path / "absent.json"), "--out", str(tmp_path / "v.md")])
    assert "no such runs.json" in capsys.readouterr().err


def _runs(folder: str) -> dict[tuple[str, str, int], dict]:
    path = RESULTS / folder / "runs.json"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    return {(r["model"], r["variant"], r["seed"]): r for r in json.loads(path.read_text())["runs"]}


def test_replayed_mmrec_rule_matches_runs_trained_under_it():
    """diagnosis_ml100k was trained under MMRec's rule, diagnosis_ml100k_warmup50 under warmup50 (same
    backbones, inits and seeds): MMRec's rule replayed on the longer runs stops where the real runs stopped."""
    mmrec, warmup = _runs("diagnosis_ml100k"), _runs("diagnosis_ml100k_warmup50")
    shared = [key for key in mmrec if key in warmup]
    assert len(shared) >= 12
    for key in shared:
        found = replay(warmup[key]["curve"], patience=20, max_epochs=1000)
        assert (found.epochs, found.best) == (mmrec[key]["epochs"], mmrec[key]["best_val_recall@20"]), key
        check_recorded(mmrec[key], "mmrec", 1000)
        check_recorded(warmup[key], "mmrec", 1000)  # its options name warmup50


def test_measured_test_under_another_rule():
    records, under_mmrec = [], []
    for seed in range(3):
        records.append(_record("m", RANDOM, seed, _warmup50_curve(40, 0.26, 0.27), 0.20))
        candidate = _record("m", "item-sum", seed, _warmup50_curve(3, 0.25, 0.28), 0.21)
        records.append(candidate)
        # the item-sum run MMRec's rule trains: the same curve up to its stop after epoch 23, another test value
        early = _record("m", "item-sum", seed, candidate["curve"][:23], 0.15 + 0.01 * seed, rule="mmrec")
        early.update(epochs=23, epochs_to_best=3)
        under_mmrec.append(early)
    [verdict] = verdicts(records, "item-sum", ("mmrec",), measured={"mmrec": under_mmrec})
    # random: MMRec's rule stops where warmup50 did (the same run, its own test); item-sum: the mmrec runs' test
    assert verdict.measured["mmrec"][RANDOM] == pytest.approx((0.20, 0.0))
    assert verdict.measured["mmrec"]["item-sum"][0] == pytest.approx(0.16)
    text = verdict_markdown([verdict], "item-sum", ("mmrec",), "warmup50", "cmd")
    assert "under mmrec (measured on 1 backbones): test Recall@20 worse beyond one std on 1, better on 0" in text
    # one mmrec run missing: no measured value for the backbone, said so
    [partial] = verdicts(records, "item-sum", ("mmrec",), measured={"mmrec": under_mmrec[:2]})
    assert partial.measured["mmrec"] is None
    assert "n/a (runs missing)" in verdict_markdown([partial], "item-sum", ("mmrec",), "warmup50", "cmd")
    # a run said to be trained under mmrec that did not stop where the rule stops is refused
    under_mmrec[0]["epochs"] = 30
    with pytest.raises(ValueError, match="was not trained under 'mmrec'"):
        verdicts(records, "item-sum", ("mmrec",), measured={"mmrec": under_mmrec})
