r"""Diagnosing an initialisation: the user table's geometry per epoch, logged beside validation Recall@20.

Issue 14 asks why SG-URInit's head start does not become a better optimum. What we look at, for a
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
        "--trainer.callbacks+=lit_mmrec.experiments.diagnose.UserTableDiagnostics"
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from lit_mmrec.experiments.aggregate import markdown_table, summarise_columns


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


#: Statistics shown in ``diagnosis.md`` (of the first user table a backbone declares, and its representations).
REPORTED = {
    "effective_rank": "effective rank", "common_direction": "common direction", "mean_cosine": "mean cosine",
    "nearest_cosine": "nearest-user cosine", "user_repr_nearest_cosine": "nearest-user cosine of the user repr",
    "mean_norm": "mean row norm", "drift": "drift from start", "user_repr_norm": "user repr norm",
    "item_repr_norm": "item repr norm",
}
#: When: at the start of training (after any initialisation), after epochs 1, 10, 50, and after the last epoch.
MOMENTS = {"start": "start", "1": "epoch 1", "10": "epoch 10", "50": "epoch 50", "last": "last epoch"}


def _table_name(found: dict[str, Any], statistic: str) -> str | None:
    """The logged name of ``statistic`` for the first table declared (e.g. ``user_embedding/<statistic>``), or
    the representation norms' plain name; None when not logged."""
    names = [n for n in list(found["by_epoch"]) + list(found["start"]) if n.split("/")[-1] == statistic]
    return names[0] if names else None


def _statistic(record: dict[str, Any], statistic: str, moment: str) -> float | None:
    found = record.get("diagnostics")
    name = _table_name(found, statistic) if found else None
    if name is None:
        return None
    if moment == "start":
        return found["start"].get(name)
    values = found["by_epoch"].get(name, [])
    index = len(values) - 1 if moment == "last" else int(moment) - 1
    return values[index] if 0 <= index < len(values) else None


def diagnosis_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``diagnosis.md``: per statistic, its value at the start, after epochs 1 / 10 / 50 and at the end, mean ±
    std over seeds, per (data set, backbone, init); runs without :class:`UserTableDiagnostics` are left out."""
    sections = []
    for statistic, title in REPORTED.items():
        summary = summarise_columns(records, MOMENTS, lambda r, moment, s=statistic: _statistic(r, s, moment))
        if summary:
            sections.append(f"## {title}\n\n" + markdown_table(summary, MOMENTS, digits=3, compare=False))
    return (
        "# Diagnosis: the user table during training\n\n"
        "Statistics of the first user table each backbone declares (users with training interactions), and "
        "the mean norms of the final user and item representations, logged by "
        "`lit_mmrec.experiments.diagnose.UserTableDiagnostics` (definitions there); mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(sections)
    )


#: The statistics drawn in ``diagnosis_<dataset>_<backbone>.png`` (beside validation Recall@20).
PLOTTED = ("effective_rank", "common_direction", "drift")


def statistic_series(record: dict[str, Any], statistic: str) -> list[float] | None:
    """``statistic`` of the run's first declared table per epoch, its value at the start first (index 0 =
    before training, index e = after epoch e); None when the run has no diagnostics for it."""
    found = record.get("diagnostics")
    name = _table_name(found, statistic) if found else None
    if name is None or name not in found["by_epoch"]:
        return None
    values = found["by_epoch"][name]
    start = found["start"].get(name)
    return ([start] if start is not None else [values[0]]) + values
