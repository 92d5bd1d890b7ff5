r"""Mirror Gradient (Zhong, Huang, Li, Wen, Qin, Lin, "Mirror Gradient: Towards Robust Multimodal Recommender
Systems via Exploring Flat Local Minima", WWW 2024; MMRec ``src/common/trainer.py``, ``Trainer._train_epoch``
with ``mg=True``, and ``src/configs/mg.yaml``): a training option of every backbone.

Every ``beta``-th batch of an epoch (``batch_idx % beta == 0``: the first batch of each epoch included), with
``L(θ)`` the batch's loss and ``step(g)`` one optimiser step with gradient ``g``:

    θ'  = step(α1 ∇L(θ))            (no gradient clipping: MMRec clips only before its usual step)
    θ'' = step(-α2 ∇L(θ'))          (the same batch's loss recomputed at θ'; clipped as configured)

and every other batch the plain ``θ' = step(∇L(θ))``. The second step climbs the loss the first one went
down, so minima whose loss rises steeply around them are left: the training drifts to flat minima. With Adam
a mirrored batch is two Adam steps (moments and step count advance twice), as in MMRec.

The callback switches the module to Lightning's manual optimisation for the fit it is part of (``setup``;
back in ``teardown``) and hands it these options; :meth:`RecommenderModule.training_step
<lit_mmrec.models.base.RecommenderModule.training_step>` takes the steps. Without the callback training is
Lightning's automatic optimisation, unchanged. Since Lightning leaves both to the module under manual
optimisation, the module clips with the Trainer's ``gradient_clip_val`` / ``gradient_clip_algorithm`` before
its usual step, and this callback steps the learning-rate schedulers as Lightning's automatic loop does
(``interval`` ``"step"`` after each batch, ``"epoch"`` at each epoch end, every ``frequency``-th one;
``ReduceLROnPlateau`` with its monitored metric). Refused: gradient accumulation, multi-process training
(the second backward of a mirrored batch runs outside DDP's forward, so its gradient would not be synchronised),
and a backbone with its own training step or more than one optimiser.

Defaults (MMRec ``mg.yaml``): ``alpha1`` 1.0 (its only value), ``beta`` 3 (its only value), ``alpha2`` 0.1 (the
first point of its grid 0.1, 0.2, 0.3). Compose with ``--config configs/mirror_gradient.yaml``.
"""

from __future__ import annotations

import math

import lightning as L

from lit_mmrec.errors import InputError
from lit_mmrec.models.base import RecommenderModule


class MirrorGradient(L.Callback):
    """Train with Mirror Gradient: every ``beta``-th batch a step on ``alpha1 x loss``, then one on
    ``-alpha2 x loss`` recomputed at the new parameters.

    Args:
        alpha1: scale of the first (descent) step's loss, > 0 (MMRec ``alpha1``).
        alpha2: scale of the second (mirrored, ascent) step's loss, >= 0 (MMRec ``alpha2``).
        beta: every ``beta``-th batch of an epoch is mirrored, >= 1 (MMRec ``beta``; 1: every batch).
    """

    def __init__(self, alpha1: float = 1.0, alpha2: float = 0.1, beta: int = 3) -> None:
        if not (math.isfinite(alpha1) and alpha1 > 0):
            raise ValueError(f"MirrorGradient: alpha1 must be a positive finite number, got {alpha1}")
        if not (math.isfinite(alpha2) and alpha2 >= 0):
            raise ValueError(f"MirrorGradient: alpha2 must be a non-negative finite number, got {alpha2}")
        if isinstance(beta, bool) or not isinstance(beta, int) or beta < 1:
            raise ValueError(f"MirrorGradient: beta must be an integer >= 1, got {beta!r}")
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.beta = beta

    def mirrored(self, batch_idx: int) -> bool:
        """Whether batch ``batch_idx`` of an epoch takes the two mirrored steps."""
        return batch_idx % self.beta == 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if not isinstance(pl_module, RecommenderModule):
            raise InputError(f"MirrorGradient trains lit-mmrec backbones, not {type(pl_module).__name__}")
        if type(pl_module).training_step is not RecommenderModule.training_step or not pl_module.automatic_optimization:
            raise InputError(f"MirrorGradient cannot train {type(pl_module).__name__}: it runs its own training step")
        if trainer.accumulate_grad_batches != 1:
            raise InputError("MirrorGradient steps every batch: remove Trainer(accumulate_grad_batches=...)")
        if trainer.world_size > 1:
            raise InputError("MirrorGradient runs in one process: its second backward is not synchronised by DDP")
        pl_module.mirror_gradient = self
        pl_module.automatic_optimization = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if len(trainer.optimizers) != 1:
            raise InputError(f"MirrorGradient steps one optimiser, {type(pl_module).__name__} has {len(trainer.optimizers)}")

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and getattr(pl_module, "mirror_gradient", None) is self:
            pl_module.mirror_gradient = None
            pl_module.automatic_optimization = True

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        self.step_schedulers(trainer, "step", batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.step_schedulers(trainer, "epoch", trainer.current_epoch)

    @staticmethod
    def step_schedulers(trainer: L.Trainer, interval: str, index: int) -> None:
        """Step the schedulers of ``interval`` whose ``frequency`` divides ``index + 1`` (Lightning's rule)."""
        for config in trainer.lr_scheduler_configs:
            if config.interval != interval or (index + 1) % config.frequency:
                continue
            if config.reduce_on_plateau:
                monitored = trainer.callback_metrics.get(config.monitor)
                if monitored is None:
                    if config.strict:
                        raise InputError(f"ReduceLROnPlateau monitors {config.monitor!r}, which is not logged")
                    continue
                config.scheduler.step(monitored)
            else:
                config.scheduler.step()
