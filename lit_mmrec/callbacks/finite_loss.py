"""Stop training at the first non-finite loss, before a diverged model is validated or checkpointed.

A NaN or Inf loss (a learning rate too large, features far out of scale) turns every weight into
NaN at the next optimiser step; the run would go on, rank items by NaN scores, and could save
that model as its best checkpoint. :class:`FiniteLoss` records, on the loss's device and without
a host synchronisation per step, the first batch whose loss is not finite, and checks it (one
synchronisation) before validation, at the end of every training epoch and before any checkpoint
is written: the run ends with :class:`NonFiniteLossError` naming the epoch and step, and the
checkpoints on disk are those of the epochs before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch

from lit_mmrec.errors import InputError


class NonFiniteLossError(InputError):
    """The training loss became NaN or Inf; the message names the epoch and step."""


class FiniteLoss(L.Callback):
    """Raise :class:`NonFiniteLossError` as soon as a training loss was NaN or Inf (checked lazily,
    at the latest before validation, at each epoch end and before any checkpoint is saved).

    Every DDP rank checks at the same points and the decision is shared, so all ranks stop together.
    """

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []  # since the last check, on the loss's device
        self._positions: list[tuple[int, int, int]] = []  # (epoch, batch, global step) of each

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            self._losses.append(loss.detach().reshape(()))
            self._positions.append((trainer.current_epoch, batch_idx, trainer.global_step))

    def check(self, trainer: L.Trainer) -> None:
        """Raise if any rank saw a non-finite loss since the last check (one host synchronisation)."""
        losses = torch.stack(self._losses).cpu() if self._losses else torch.zeros(0)
        bad = torch.nonzero(~torch.isfinite(losses)).flatten()
        positions, self._losses, self._positions = self._positions, [], []
        if not trainer.strategy.reduce_boolean_decision(bool(bad.numel()), all=False):
            return
        if not bad.numel():
            raise NonFiniteLossError(
                f"the training loss became NaN or Inf on another process in epoch {trainer.current_epoch}"
            )
        epoch, batch, step = positions[int(bad[0])]
        raise NonFiniteLossError(
            f"the training loss is {float(losses[bad[0]])} at epoch {epoch}, batch {batch} (global step {step}): "
            f"training diverged (learning rate too large? features far out of scale?); checkpoints written "
            f"before it are kept, none after"
        )

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self.check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.check(trainer)
