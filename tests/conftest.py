"""Shared fixtures (plain helpers live in helpers.py, importable from tests).

- ``isolated_cache``: generated data sets and cached graphs go to a fresh ``<tmp>/cache``, not to
  ``~/.cache/lit_mmrec``; a module asks for it with ``pytestmark = pytest.mark.usefixtures("isolated_cache")``.
- ``single_thread``: torch runs on one intra-op thread for the module (tiny tensors: threads only add
  synchronisation, which costs seconds when the machine is busy with other jobs); restored afterwards.
- ``fixed_batch_loss``: the :class:`FixedBatchLoss` callback class (a training-progress probe).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import make_tiny_dataset

warnings.filterwarnings("ignore", message=".*Sparse.*")


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A 6-user, 10-item data set with image (8-d) and text (4-d) features."""
    return make_tiny_dataset(tmp_path)


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$LIT_MMREC_CACHE`` set to ``<tmp>/cache`` for one test; returns that folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LIT_MMREC_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One torch intra-op thread while the module's tests run."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class FixedBatchLoss(L.Callback):
    """The model's loss on one fixed batch at the end of every training epoch (``losses``).

    A fixed batch takes the sampling noise out of "the loss goes down".

    Args:
        batch: ``(users, positives, negatives)``.
        eval_mode: compute in evaluation mode (no dropout, FREEDOM's full graph, DRAGON's deterministic
            user-graph weights), then return to training mode.
        seed: fix the random generator for the call (e.g. LGMRec's Gumbel noise), without disturbing the
            training's own random stream.
    """

    def __init__(
        self, batch: tuple[torch.Tensor, ...], eval_mode: bool = False, seed: int | None = None
    ) -> None:
        self.batch, self.eval_mode, self.seed = batch, eval_mode, seed
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.eval_mode:
            module.eval()
        with torch.no_grad(), torch.random.fork_rng(enabled=self.seed is not None):
            if self.seed is not None:
                torch.manual_seed(self.seed)
            self.losses.append(float(sum(module.loss(*self.batch).values())))
        if self.eval_mode:
            module.train()


@pytest.fixture
def fixed_batch_loss() -> type[FixedBatchLoss]:
    """The :class:`FixedBatchLoss` class: ``probe = fixed_batch_loss(batch, eval_mode=True)``."""
    return FixedBatchLoss
