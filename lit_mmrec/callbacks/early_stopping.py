"""Early stopping that is fair to a head start: patience counted after a warm-up, relative ``min_delta``.

MMRec's rule stops after 20 validations without a strict improvement of validation Recall@20. A run
that starts high (SG-URInit's head start) can peak in its first epochs, dip while the optimiser leaves
the initial point, and be stopped on a plateau 20 epochs later, before it ever climbs again; a random
start, low and rising, is not exposed to that.

:class:`StoppingRule` is Lightning's :class:`~lightning.pytorch.callbacks.EarlyStopping` plus:

* ``warmup`` W: during the first W epochs the best value is still tracked, but the patience counter is
  held at 0, so the earliest stop is after epoch ``W + patience``; every initialisation gets at least
  W epochs before patience starts to run;
* ``relative_min_delta`` r: an improvement must exceed ``r * |best|`` (on top of the absolute
  ``min_delta``), so a noisy plateau's +0.001 steps do not restart patience for a run at 0.2 when
  ``r = 0.01``;
* ``rule``: a named preset (:data:`RULES`) that sets ``patience``, ``warmup``, ``min_delta`` and
  ``relative_min_delta`` together: ``mmrec`` is MMRec's rule (patience 20, no warm-up, any strict
  improvement, for reproducing published numbers); :data:`DEFAULT_RULE` (``warmup50_patience50``) is
  ``train.py``'s default (its patience and warm-up are the CLI's defaults); why it is the default is in
  ``docs/decisions.md`` and ``docs/results/sgurinit_selection_rule.md``.

After ``fit``, :meth:`StoppingRule.summary` says in one line whether and why the rule ended the run, and
the best value and its epoch (``train.py`` prints it with the best checkpoint's path).

On the command line (``train.py``'s ``--early_stopping.*``)::

    python train.py fit --config configs/ml100k/lightgcn.yaml --early_stopping.rule mmrec
    python train.py fit --config configs/ml100k/lightgcn.yaml --early_stopping.warmup 30 \\
        --early_stopping.relative_min_delta 0.005
"""

from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.utilities import rank_zero_warn

from lit_mmrec.console import format_metric
from lit_mmrec.errors import check_integer, check_number

#: Named stopping rules: patience, warm-up epochs, absolute and relative min_delta.
RULES: dict[str, dict[str, Any]] = {
    # MMRec (overall.yaml): stop after 20 validations without a strict improvement.
    "mmrec": {"patience": 20, "warmup": 0, "min_delta": 0.0, "relative_min_delta": 0.0},
    # MMRec's patience, counted only after 50 epochs (the head start's dip is over by then on ml100k).
    "warmup50": {"patience": 20, "warmup": 50, "min_delta": 0.0, "relative_min_delta": 0.0},
    # A long patience without a warm-up.
    "patience100": {"patience": 100, "warmup": 0, "min_delta": 0.0, "relative_min_delta": 0.0},
    # Patience 50 counted after 50 epochs: for backbones that climb slowly after a plateau (train.py's default).
    "warmup50_patience50": {"patience": 50, "warmup": 50, "min_delta": 0.0, "relative_min_delta": 0.0},
}

#: ``train.py``'s stopping rule when none is given.
DEFAULT_RULE = "warmup50_patience50"


class StoppingRule(EarlyStopping):
    """EarlyStopping with a warm-up, a relative ``min_delta`` and named rules (see the module docstring).

    Args:
        monitor: the metric (``val/recall@20`` in ``train.py``).
        min_delta: absolute improvement required (Lightning's).
        patience: validations without improvement, counted after the warm-up, before stopping.
        verbose: log every improvement / stop.
        mode: ``max`` or ``min``.
        strict: fail when the monitored metric is missing.
        check_finite: stop on a non-finite metric.
        stopping_threshold: stop once the metric is this good.
        divergence_threshold: stop once the metric is this bad.
        check_on_train_epoch_end: check at the end of the training epoch instead of validation.
        log_rank_zero_only: log on rank 0 only.
        warmup: epochs (``trainer.current_epoch < warmup``) during which patience does not run.
        relative_min_delta: improvement required as a fraction of ``|best|``, added to ``min_delta``.
        rule: a name in :data:`RULES`; sets ``patience``, ``warmup``, ``min_delta`` and
            ``relative_min_delta`` (overriding those arguments). ``None``: use the arguments.
    """

    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: str = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool | None = None,
        log_rank_zero_only: bool = False,
        warmup: int = 0,
        relative_min_delta: float = 0.0,
        rule: str | None = None,
    ) -> None:
        if rule is not None:
            if rule not in RULES:
                raise ValueError(f"unknown stopping rule {rule!r}; known: {', '.join(RULES)}")
            preset = RULES[rule]
            patience, warmup = preset["patience"], preset["warmup"]
            min_delta, relative_min_delta = preset["min_delta"], preset["relative_min_delta"]
        check_integer("early_stopping", "warmup", warmup, 0)
        check_integer("early_stopping", "patience", patience, 0)
        check_number("early_stopping", "min_delta", min_delta, 0)
        check_number("early_stopping", "relative_min_delta", relative_min_delta, 0)
        for name, threshold in (("stopping_threshold", stopping_threshold), ("divergence_threshold", divergence_threshold)):
            if threshold is not None:
                check_number("early_stopping", name, threshold)
        if mode not in ("min", "max"):
            raise ValueError(f"early_stopping: mode must be 'min' or 'max', got {mode!r}")
        super().__init__(
            monitor=monitor, min_delta=min_delta, patience=patience, verbose=verbose, mode=mode, strict=strict,
            check_finite=check_finite, stopping_threshold=stopping_threshold,
            divergence_threshold=divergence_threshold, check_on_train_epoch_end=check_on_train_epoch_end,
            log_rank_zero_only=log_rank_zero_only,
        )
        self.rule = rule
        self.warmup = warmup
        self.relative_min_delta = relative_min_delta
        self._absolute_min_delta = self.min_delta  # signed by Lightning: + for max, - for min
        self._epoch = 0
        #: the epoch of ``best_score`` (None before the first validation)
        self.best_epoch: int | None = None
        self._stage: str | None = None

    @property
    def rule_name(self) -> str | None:
        """``rule``, or the name in :data:`RULES` whose settings equal this callback's (None if none does)."""
        settings = {"patience": self.patience, "warmup": self.warmup, "min_delta": abs(self._absolute_min_delta),
                    "relative_min_delta": self.relative_min_delta}
        return self.rule or next((name for name, preset in RULES.items() if preset == settings), None)

    def describe(self) -> str:
        """The rule in words, e.g. ``rule warmup50_patience50: patience 50 after a 50-epoch warm-up``."""
        words = f"patience {self.patience} " + (
            f"after a {self.warmup}-epoch warm-up" if self.warmup else "from the first epoch"
        )
        if self._absolute_min_delta:
            words += f", min_delta {abs(self._absolute_min_delta):g}"
        if self.relative_min_delta:
            words += f", relative_min_delta {self.relative_min_delta:g}"
        name = self.rule_name
        return f"rule {name}: {words}" if name else words

    def summary(self, last_epoch: int) -> str:
        """One line after ``fit``: whether and why this rule ended the run, and the best value with its epoch.

        Args:
            last_epoch: the last epoch the run trained (0-based, as the progress bar and checkpoint names).
        """
        best = (
            f"best {self.monitor} {format_metric(float(self.best_score))} at epoch {self.best_epoch}"
            if self.best_epoch is not None
            else f"no {self.monitor} was recorded"
        )
        if self.stopping_reason == EarlyStoppingReason.NOT_STOPPED:
            return f"Training ended after epoch {last_epoch} without an early stop ({self.describe()}); {best}"
        if self.stopping_reason == EarlyStoppingReason.PATIENCE_EXHAUSTED:
            why = f"{self.monitor} did not improve for {self.patience} validation{'s' if self.patience != 1 else ''}"
            why += " after the warm-up" if self.warmup else ""
        else:
            why = (self.stopping_reason_message or self.stopping_reason.name).removesuffix(
                " Signaling Trainer to stop."
            ).rstrip(".")
        return f"Early stopping ended the run after epoch {self.stopped_epoch} ({self.describe()}): {why}; {best}"

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_epoch": self.best_epoch}

    @property
    def state_key(self) -> str:
        # EarlyStopping's key, so that checkpoints written before this class (or by plain EarlyStopping)
        # restore its best score and patience counter on --ckpt_path resume
        return f"EarlyStopping{ {'monitor': self.monitor, 'mode': self.mode}!r}"

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters (best value, validations without improvement) from a checkpoint, but keep the
        patience this run was configured with: Lightning would restore the checkpoint's, so that a run resumed
        (or a finished run extended) with ``--early_stopping.patience 100`` or ``--early_stopping.rule
        patience100`` would silently go on with the old patience. A changed patience is reported when ``fit``
        resumes (``validate`` and ``test`` load the counters too, but stop nothing)."""
        configured = self.patience
        super().load_state_dict(state_dict)
        self.patience = configured
        self.best_epoch = state_dict.get("best_epoch")
        saved = state_dict.get("patience", configured)
        if saved != configured and self._stage == "fit":
            rank_zero_warn(f"resuming with patience {configured}; the checkpoint was trained with patience {saved} "
                           f"({self.wait_count} validations without improvement so far count against the new one)")

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._stage = stage  # Lightning calls setup before it restores a checkpoint's callback states

    def _run_early_stopping_check(self, trainer) -> None:
        self._epoch = trainer.current_epoch
        super()._run_early_stopping_check(trainer)

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> tuple[bool, str | None]:
        # Lightning's test is `monitor_op(current - min_delta, best)` with min_delta signed by the mode (+ for
        # max, - for min); the relative part, scaled by the best value so far, is added with the same sign.
        best = self.best_score.to(current.device)
        relative = float(self.relative_min_delta * best.abs()) if bool(torch.isfinite(best)) else 0.0
        sign = 1.0 if self.monitor_op == torch.gt else -1.0
        in_warmup, patience = self._epoch < self.warmup, self.patience
        self.min_delta = self._absolute_min_delta + sign * relative
        if in_warmup:
            self.patience = math.inf  # never exhausted during the warm-up
        try:
            should_stop, reason = super()._evaluate_stopping_criteria(current)
        finally:
            self.min_delta, self.patience = self._absolute_min_delta, patience
        if self.best_score is current:  # Lightning keeps the improving value itself
            self.best_epoch = self._epoch
        if in_warmup:
            self.wait_count = 0  # patience starts counting after the warm-up; the best is still tracked
        return should_stop, reason
