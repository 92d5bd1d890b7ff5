"""StoppingRule: MMRec's rule by name, patience after a warm-up, relative min_delta (hand-made curves)."""

from types import SimpleNamespace

import pytest
import torch

from lit_mmrec.callbacks.early_stopping import RULES, StoppingRule


def stopped_at(rule: StoppingRule, curve: list[float]) -> int | None:
    """Feed ``curve`` (one validation value per epoch) to ``rule``; the epoch it stops at, or None."""
    strategy = SimpleNamespace(reduce_boolean_decision=lambda decision, all: decision)
    for epoch, value in enumerate(curve):
        trainer = SimpleNamespace(callback_metrics={"val": torch.tensor(value)}, fast_dev_run=False,
                                  strategy=strategy, should_stop=False, current_epoch=epoch)
        rule._run_early_stopping_check(trainer)
        if trainer.should_stop:
            return epoch
    return None


# A head start: peak at epoch 0, then a dip and a flat plateau.
PEAKED = [0.20] + [0.10] * 80


def test_mmrec_rule_stops_twenty_validations_after_the_peak():
    assert stopped_at(StoppingRule("val", mode="max", rule="mmrec"), PEAKED) == 20
    assert stopped_at(StoppingRule("val", mode="max", patience=20), PEAKED) == 20  # the same, by its values


def test_patience_counts_only_after_the_warmup():
    # epochs 0-9 are the warm-up; epochs 10..29 are 20 validations without improvement
    assert stopped_at(StoppingRule("val", mode="max", patience=20, warmup=10), PEAKED) == 29
    # the best is still tracked during the warm-up: beating it after the warm-up restarts patience
    curve = [0.20] + [0.10] * 14 + [0.21] + [0.10] * 30
    rule = StoppingRule("val", mode="max", patience=20, warmup=10)
    assert stopped_at(rule, curve) == 35 and float(rule.best_score) == pytest.approx(0.21)
    assert stopped_at(StoppingRule("val", mode="max", rule="warmup50"), PEAKED) == 69
    assert stopped_at(StoppingRule("val", mode="max", rule="warmup50_patience50"), PEAKED + [0.1] * 50) == 99


def test_relative_min_delta_ignores_small_steps():
    creeping = [0.200, 0.201, 0.2015, 0.2019, 0.2019]  # +0.001 steps: under 1% of 0.2
    assert stopped_at(StoppingRule("val", mode="max", patience=3, relative_min_delta=0.01), creeping) == 3
    assert stopped_at(StoppingRule("val", mode="max", patience=3), creeping) is None  # each step counts
    jump = [0.200, 0.2025, 0.2025, 0.2025, 0.2025]  # +0.0025 > 0.002: an improvement, then 3 flat epochs
    assert stopped_at(StoppingRule("val", mode="max", patience=3, relative_min_delta=0.01), jump) == 4


def test_relative_min_delta_in_min_mode():
    rule = StoppingRule("val", mode="min", patience=1, relative_min_delta=0.01)
    assert stopped_at(rule, [1.0, 0.995]) == 1  # needs < 0.99
    rule = StoppingRule("val", mode="min", patience=1, relative_min_delta=0.01)
    assert stopped_at(rule, [1.0, 0.98, 0.975]) == 2 and float(rule.best_score) == pytest.approx(0.98)


def test_rule_overrides_the_arguments_and_bad_values_are_rejected():
    rule = StoppingRule("val", mode="max", patience=5, warmup=3, rule="patience100")
    assert (rule.patience, rule.warmup, rule.relative_min_delta) == (100, 0, 0.0)
    assert RULES["mmrec"]["patience"] == 20
    with pytest.raises(ValueError, match="unknown stopping rule"):
        StoppingRule("val", rule="fair")
    with pytest.raises(ValueError, match="warmup"):
        StoppingRule("val", warmup=-1)
    with pytest.raises(ValueError, match="relative_min_delta"):
        StoppingRule("val", relative_min_delta=-0.1)


def test_checkpoints_of_plain_early_stopping_restore_into_it():
    from lightning.pytorch.callbacks import EarlyStopping

    plain = EarlyStopping("val/recall@20", mode="max", patience=20)
    assert StoppingRule("val/recall@20", mode="max", warmup=5).state_key == plain.state_key
    plain.wait_count, plain.best_score = 7, torch.tensor(0.3)
    rule = StoppingRule("val/recall@20", mode="max", patience=20)
    rule.load_state_dict(plain.state_dict())
    assert rule.wait_count == 7 and float(rule.best_score) == pytest.approx(0.3)


def test_best_epoch_and_the_summary_line():
    rule = StoppingRule("val", mode="max", patience=2, warmup=3)
    curve = [0.1, 0.3, 0.2, 0.25, 0.2, 0.2]  # best at epoch 1; patience runs from epoch 3
    assert stopped_at(rule, curve) == 4 and rule.best_epoch == 1
    assert rule.summary(last_epoch=4) == (
        "Early stopping ended the run after epoch 4 (patience 2 after a 3-epoch warm-up): val did not improve "
        "for 2 validations after the warm-up; best val 0.3000 at epoch 1"
    )
    running = StoppingRule("val", mode="max", rule="mmrec")
    assert stopped_at(running, [0.1, 0.2, 0.15]) is None
    assert running.summary(last_epoch=2) == (
        "Training ended after epoch 2 without an early stop (rule mmrec: patience 20 from the first epoch); "
        "best val 0.2000 at epoch 1"
    )


def test_a_rule_given_by_its_numbers_is_named_and_the_best_epoch_is_resumed():
    default = StoppingRule("val", mode="max", patience=50, warmup=50)  # train.py's defaults: the default rule
    assert default.describe() == "rule warmup50_patience50: patience 50 after a 50-epoch warm-up"
    assert StoppingRule("val", mode="max", patience=7).describe() == "patience 7 from the first epoch"
    stopped_at(default, [0.1, 0.3, 0.2])
    resumed = StoppingRule("val", mode="max", patience=50, warmup=50)
    resumed.load_state_dict(default.state_dict())
    assert resumed.best_epoch == 1 and float(resumed.best_score) == pytest.approx(0.3)
