"""Per-epoch reseeding of the global random generators, so that a resumed run replays the same epochs.

The training batches already depend only on ``(seed, epoch)`` (:class:`lit_mmrec.data.sampling.BPRTrainLoader`
draws from its own generator). Backbones that draw from the *global* generators during training
(FREEDOM's per-epoch edge pruning, LGMRec's and DRAGON's dropout or sampling) would otherwise
continue from whatever state the process happens to be in: a run resumed from a checkpoint at
epoch ``e`` starts from a freshly seeded process, not from the state the uninterrupted run had
reached. Reseeding from ``(seed, epoch)`` at every epoch start removes that dependence on history.

Every DDP rank uses the same epoch seed: the full-graph forward pass (and its dropout mask or
pruned graph) is the same on every rank, as it is in a single process; the ranks differ only in
their share of the batch.
"""

from __future__ import annotations

import os
import random

import lightning as L
import numpy as np
import torch

from lit_mmrec.errors import check_integer


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch`` (distinct from the batch sampler's ``seed * 100_003 + epoch``)."""
    return (seed * 1_000_003 + epoch + 1) % 2**32


class EpochSeed(L.Callback):
    """Reseed ``torch``, ``numpy`` and ``random`` at the start of every training epoch from ``(seed, epoch)``.

    Args:
        seed: base seed; None takes the run's ``seed_everything`` value (``PL_GLOBAL_SEED``) and does
            nothing when the run is not seeded.
    """

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None:
            check_integer("EpochSeed", "seed", seed, 0)
        self.seed = seed

    def base_seed(self) -> int | None:
        if self.seed is not None:
            return self.seed
        value = os.environ.get("PL_GLOBAL_SEED")
        return int(value) if value is not None else None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        base = self.base_seed()
        if base is None:
            return
        seed = epoch_seed(base, trainer.current_epoch)
        torch.manual_seed(seed)  # also every CUDA device's generator
        np.random.seed(seed)
        random.seed(seed)
