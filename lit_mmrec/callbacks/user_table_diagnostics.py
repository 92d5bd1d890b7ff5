r"""Diagnosing an initialisation: the user table's geometry per epoch, logged beside validation Recall@20.

Why does SG-URInit's head start not become a better optimum? What this callback looks at, for a
table :math:`T \in \mathbb{R}^{n \times d}` (users with a training interaction only, so the untouched
random rows of cold users do not dilute it):

* effective rank (Roy & Vetterli, 2007): :math:`\exp(-\sum_j p_j \log p_j)` with
  :math:`p_j = \sigma_j / \sum_k \sigma_k` the normalised singular values; :math:`d` for an isotropic
  table, 1 for a rank-one one;
* common-direction ratio: :math:`\lVert \frac{1}{n}\sum_u T_u \rVert / (\frac{1}{n}\sum_u \lVert T_u
  \rVert)`, the norm of the mean row over the mean row norm; about :math:`1/\sqrt n` for random rows,
  1 when every row points the same way;
* mean pairwise cosine :math:`\frac{1}{n(n-1)}\sum_{u \ne v} \cos(T_u, T_v) = (\lVert \sum_u \hat T_u
  \rVert^2 - n) / (n(n-1))`;
* nearest-user cosine :math:`\frac{1}{n}\sum_u \max_{v \ne u} \cos(T_u, T_v)`: how close each user's row is
  to the closest other user's (about :math:`\sqrt{2 \ln n / d}` for random rows, 1 when users share rows),
  of the table and of the user representations the backbone scores with;
* mean row norm of the user table and of the final (propagated) user and item representations;
* drift from the rows at the start of training (after SG-URInit):
  :math:`\frac{1}{n}\sum_u \lVert T_u - T^0_u \rVert / \frac{1}{n}\sum_u \lVert T^0_u \rVert`.

:class:`UserTableDiagnostics` logs them as ``diag/<name>`` at the end of every training epoch (and the
values at the start of training, once, at step 0), so they land in the run's ``metrics.csv`` next to
``val/recall@20`` and ``train/loss``. With the experiment runner, add it to every run::

    python -m lit_mmrec.experiments table --datasets ml100k --models lightgcn --inits random item-sum \
        --seeds 999 --out docs/results/diagnosis -- \
        "--trainer.callbacks+=lit_mmrec.callbacks.user_table_diagnostics.UserTableDiagnostics"
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from lit_mmrec.errors import check_integer, require_dense_representations


def effective_rank(x: Tensor) -> float:
    """Entropy-based effective rank of the rows of ``x`` (``[n, d]``); 0.0 for an all-zero matrix."""
    singular = torch.linalg.svdvals(x.double())
    total = singular.sum()
    if total <= 0:
        return 0.0
    p = singular / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def common_direction_ratio(x: Tensor) -> float:
    """Norm of the mean row over the mean row norm (0.0 for an all-zero matrix)."""
    x = x.double()
    mean_norm = x.norm(dim=1).mean()
    return float(x.mean(dim=0).norm() / mean_norm) if mean_norm > 0 else 0.0


def mean_pairwise_cosine(x: Tensor) -> float:
    """Mean cosine over ordered pairs of distinct rows (zero rows count as cosine 0); needs >= 2 rows."""
    n = x.shape[0]
    if n < 2:
        raise ValueError("mean_pairwise_cosine needs at least two rows")
    unit = F.normalize(x.double(), dim=1)
    nonzero = float((unit.norm(dim=1) > 0).sum())
    return float((unit.sum(dim=0).square().sum() - nonzero) / (n * (n - 1)))


def nearest_cosine(x: Tensor, max_rows: int = 4096, chunk_size: int = 1024) -> float:
    """Mean over rows of the largest cosine with another row (zero rows count as cosine 0); needs >= 2 rows.

    The mean is over the first ``max_rows`` rows (all of them when there are fewer), each compared with every
    row, ``chunk_size`` rows at a time in float32: never the full ``[n, n]`` matrix, and ``O(max_rows n d)`` per
    call, so it stays a small part of an epoch on large user sets."""
    n = x.shape[0]
    if n < 2:
        raise ValueError("nearest_cosine needs at least two rows")
    unit = F.normalize(x.float(), dim=1)
    queries = min(n, max_rows)
    total = 0.0
    for start in range(0, queries, chunk_size):
        block = unit[start : min(start + chunk_size, queries)] @ unit.T
        rows = torch.arange(block.shape[0], device=block.device)
        block[rows, rows + start] = -math.inf
        total += float(block.max(dim=1).values.double().sum())
    return total / queries


def table_statistics(table: Tensor, initial: Tensor | None = None) -> dict[str, float]:
    """The statistics above for one table (``initial``: the rows at the start, for the drift)."""
    stats = {
        "effective_rank": effective_rank(table),
        "common_direction": common_direction_ratio(table),
        "mean_cosine": mean_pairwise_cosine(table),
        "nearest_cosine": nearest_cosine(table),
        "mean_norm": float(table.double().norm(dim=1).mean()),
    }
    if initial is not None:
        start = initial.double().norm(dim=1).mean()
        stats["drift"] = float((table.double() - initial.double()).norm(dim=1).mean() / start) if start > 0 else 0.0
    return stats


class UserTableDiagnostics(L.Callback):
    """Logs :func:`table_statistics` of every user table SG-URInit may initialise (``user_init_targets()``,
    whether or not SG-URInit is on), over the users with training interactions, plus the mean norms of the
    final user and item representations and the users' :func:`nearest_cosine` in the representations the
    backbone scores with, as ``diag/<table>/<statistic>``, ``diag/{user,item}_repr_norm`` and
    ``diag/user_repr_nearest_cosine``.

    Args:
        max_users: statistics on at most this many users (the first ones with interactions; the SVD of the
            effective rank costs ``O(n d^2)``), so the cost stays a small part of an epoch.
    """

    def __init__(self, max_users: int = 20000) -> None:
        check_integer("UserTableDiagnostics", "max_users", max_users, 1)
        self.max_users = max_users
        self.initial: dict[str, Tensor] = {}
        self.users: Tensor | None = None

    def _tables(self, pl_module: L.LightningModule) -> dict[str, Tensor]:
        declare = getattr(pl_module, "user_init_targets", None)
        targets = declare() if callable(declare) else []
        return {t.name: t.table.detach()[self.users.to(t.table.device)] for t in targets}

    @torch.no_grad()
    def _statistics(self, pl_module: L.LightningModule) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, table in self._tables(pl_module).items():
            for key, value in table_statistics(table, self.initial.get(name)).items():
                metrics[f"diag/{name}/{key}"] = value
        was_training = pl_module.training
        pl_module.eval()
        try:
            user_repr, item_repr = pl_module.representations()
        finally:
            pl_module.train(was_training)
        active = user_repr[self.users.to(user_repr.device)]
        metrics["diag/user_repr_norm"] = float(active.norm(dim=1).mean())
        metrics["diag/user_repr_nearest_cosine"] = nearest_cosine(active)
        metrics["diag/item_repr_norm"] = float(item_repr.norm(dim=1).mean())
        return metrics

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_dense_representations("UserTableDiagnostics", pl_module)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        train = trainer.datamodule.dataset.split("train")
        self.users = torch.unique(train.users.long())[: self.max_users]
        if not self.initial:
            self.initial = {name: table.clone() for name, table in self._tables(pl_module).items()}
            if trainer.logger is not None and trainer.is_global_zero:
                start = {f"{k}_start": v for k, v in self._statistics(pl_module).items() if not k.endswith("drift")}
                trainer.logger.log_metrics(start, step=0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log_dict(self._statistics(pl_module), on_step=False, on_epoch=True)

    def state_dict(self) -> dict[str, Any]:
        return {"initial": self.initial}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.initial = dict(state_dict.get("initial", {}))
