"""A control for the user-table diagnoses (``docs/results/whitened_offsets_random_x*``): every user table scaled once."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch


class ScaledUserTables(L.Callback):
    """A control for diagnoses, not a recipe: multiplies every user table the backbone declares
    (``user_init_targets()``) by ``factor`` once, before the first epoch of a fresh fit (never on resume), to
    separate the effect of a start's row norm from that of its direction (e.g. a ``residual`` start without
    ``residual_rescale`` has rows about ``sqrt(1 + alpha^2)`` times a random row's norm). With SG-URInit, it scales
    what the callbacks listed before it wrote (list it after SG-URInit to scale the semantic start).

    Args:
        factor: the multiplier (> 0).
    """

    def __init__(self, factor: float = 1.0) -> None:
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self.factor = factor
        self.done = False

    @torch.no_grad()
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.done or trainer.ckpt_path is not None:
            return
        declare = getattr(pl_module, "user_init_targets", None)
        for target in declare() if callable(declare) else []:
            target.table.mul_(self.factor)
        self.done = True

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.done = bool(state_dict.get("done", False))
