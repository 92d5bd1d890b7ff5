"""UserGroupMetrics: Recall/NDCG/Precision@K per group of users by training activity, at validation and test,
and in ``predict``'s summary.

Users are grouped by their number of training interactions. By default five groups with about equal numbers of
users, lowest activity first (the boundaries are degree quantiles, so users with the same number of interactions
always share a group); or explicit upper bounds (``thresholds: [5, 10, 20]`` gives 1-5, 6-10, 11-20, 21 and
more). Each group's metrics are logged as ``<split>/users_<lo>-<hi>/<metric>@K`` (its degree range in the name),
with ``<split>/users_<lo>-<hi>/users``, the number of users counted. Switch it on by composing
``configs/user_groups.yaml`` after a config.

It reads each evaluation step's output (the ranked hits the backbone's own metrics use, see
:meth:`lit_mmrec.models.base.RecommenderModule._evaluate`): no second ranking pass, and nothing at all when the
callback is absent. Its state is sums per (group, metric, K), reduced across DDP ranks by summation, so the
per-group numbers are exactly the single-process ones.

In ``predict``, the written top-K lists are scored against each user's test items, per group, and printed as
one table after the predictions are written (``test/users_<lo>-<hi>/<metric>@K``, K up to the lists' length).
With the writer's default exclusion (training items only) these are the lists ``test`` ranks, so the table
repeats ``test``'s per-group numbers for the checkpoint the predictions come from. When the writer excludes the
test items, no table is printed (every hit would be zero).

With ``per_user`` set, ``test`` also writes one compressed ``.npz`` with every test user's id, training
interactions and metrics (``recall@K``, ``ndcg@K``, ``precision@K`` for each K): the input of a paired comparison
of two runs over the same users.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from lit_mmrec.console import metrics_table
from lit_mmrec.metrics.recall_ndcg import METRIC_NAMES, GroupedTopKMetrics, per_user_metrics

#: the metrics logged per group and written per user
REPORTED = ("recall", "ndcg", "precision")


def activity_groups(degrees: torch.Tensor, groups: int = 5, thresholds: list[int] | None = None) -> torch.Tensor:
    """Upper bounds (inclusive) of the activity groups of users with these training-interaction counts.

    Args:
        degrees: ``[num_users]`` training interactions per user.
        groups: number of quantile groups (about equal numbers of users; fewer when many users share a degree).
        thresholds: explicit upper bounds instead, ascending; a last group takes every larger degree.

    Returns:
        Ascending upper bounds; the last is the largest degree. A user's group is the first bound >= its degree.
    """
    top = int(degrees.max()) if degrees.numel() else 0
    if thresholds is not None:
        bounds = sorted(set(int(t) for t in thresholds if t < top)) + [top]
    else:
        active = torch.sort(degrees[degrees > 0]).values
        if active.numel() == 0:
            return torch.tensor([top])
        cuts = [int(active[min(active.numel() - 1, math.ceil(g * active.numel() / groups) - 1)])
                for g in range(1, groups)]
        bounds = sorted(set(cuts) | {top})
    return torch.tensor(bounds, dtype=torch.long)


class UserGroupMetrics(L.Callback):
    """Ranking metrics per group of users by training activity (see the module docstring).

    Args:
        groups: number of quantile groups of about equal size, lowest activity first.
        thresholds: explicit upper bounds of the groups instead (training interactions, inclusive), ascending.
        per_user: ``.npz`` file for every test user's metrics (``None``: not written).
    """

    def __init__(self, groups: int = 5, thresholds: list[int] | None = None, per_user: str | None = None) -> None:
        if groups < 1:
            raise ValueError(f"UserGroupMetrics: groups must be >= 1, got {groups}")
        if thresholds is not None and (not thresholds or any(t < 0 for t in thresholds)
                                       or list(thresholds) != sorted(set(thresholds))):
            raise ValueError(f"UserGroupMetrics: thresholds must be non-negative, ascending and distinct, got "
                             f"{thresholds}")
        self.groups = groups
        self.thresholds = None if thresholds is None else list(thresholds)
        self.per_user = per_user
        self.degrees: torch.Tensor | None = None
        self.bounds: torch.Tensor | None = None
        self.names: list[str] = []
        self.metrics: dict[str, GroupedTopKMetrics] = {}
        self._rows: list[torch.Tensor] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dataset = trainer.datamodule.dataset
        train = dataset.split("train")
        self.degrees = torch.bincount(train.users.long(), minlength=dataset.num_users)
        self.bounds = activity_groups(self.degrees, self.groups, self.thresholds)
        lows = [int(self.degrees.min())] + [int(b) + 1 for b in self.bounds[:-1]]
        self.names = [f"users_{lo}-{int(hi)}" for lo, hi in zip(lows, self.bounds, strict=True)]
        ks = pl_module.val_metrics.ks
        self.metrics = {split: GroupedTopKMetrics(len(self.names), ks).to(pl_module.device)
                        for split in ("valid", "test")}

    def _group_of(self, users: torch.Tensor) -> torch.Tensor:
        degrees = self.degrees.to(users.device)[users]
        return torch.searchsorted(self.bounds.to(users.device), degrees)

    def _update(self, split: str, outputs: Any) -> None:
        if not isinstance(outputs, dict) or "hits" not in outputs:
            return
        users, hits, relevant = outputs["users"], outputs["hits"], outputs["num_relevant"]
        self.metrics[split].update(hits, relevant, self._group_of(users))
        if split == "test" and self.per_user:
            keep = relevant > 0
            values = per_user_metrics(hits, relevant, self.metrics[split].ks)
            picked = [METRIC_NAMES.index(m) for m in REPORTED]
            self._rows.append(torch.cat([users[keep].double().view(-1, 1), values[:, picked].flatten(1)], 1).cpu())

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._update("valid", outputs)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update("test", outputs)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not isinstance(outputs, dict) or "items" not in outputs or "test" in pl_module.predict_exclude:
            return
        users, items, scores = outputs["users"], outputs["items"], outputs["scores"]
        if "predict" not in self.metrics:
            width = items.shape[1]
            ks = sorted({k for k in pl_module.val_metrics.ks if k <= width} | {width})
            self.metrics["predict"] = GroupedTopKMetrics(len(self.names), ks).to(pl_module.device)
        truth = pl_module.index("test")
        hits = truth.contains(users, items) & torch.isfinite(scores)  # an excluded item (-inf) is no hit
        self.metrics["predict"].update(hits, truth.counts(users), self._group_of(users))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metric = self.metrics.pop("predict", None)
        if metric is None:
            return
        table = {f"test/{name}/{key}": float(value)
                 for name, values in zip(self.names, metric.compute(), strict=True)  # reduced across ranks
                 for key, value in values.items() if key == "users" or key.split("@")[0] in REPORTED}
        if trainer.is_global_zero:
            excluded = " + ".join(pl_module.predict_exclude) or "nothing"
            print(metrics_table(f"Per-group metrics of the written top-{max(metric.ks)} lists against each user's "
                                f"test items ({excluded} excluded):", table))

    def _log(self, split: str, prefix: str, pl_module: L.LightningModule) -> None:
        metric = self.metrics[split]
        for name, values in zip(self.names, metric.compute(), strict=True):
            for key, value in values.items():
                if key == "users" or key.split("@")[0] in REPORTED:
                    pl_module.log(f"{prefix}/{name}/{key}", value)
        metric.reset()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log("valid", "val", pl_module)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log("test", "test", pl_module)
        if self.per_user:
            self._write_per_user(trainer, pl_module)

    def _write_per_user(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Every test user's row, gathered from all ranks into one array (dense per user, summed: each user is
        evaluated on one rank only)."""
        ks = self.metrics["test"].ks
        width = len(REPORTED) * len(ks)
        rows = torch.cat(self._rows) if self._rows else torch.zeros(0, 1 + width, dtype=torch.float64)
        self._rows = []
        table = torch.zeros(pl_module.num_users, width, dtype=torch.float64, device=pl_module.device)
        counted = torch.zeros(pl_module.num_users, dtype=torch.float64, device=pl_module.device)
        users = rows[:, 0].long().to(pl_module.device)
        table[users] = rows[:, 1:].to(pl_module.device)
        counted[users] = 1.0
        table = trainer.strategy.reduce(table, reduce_op="sum")
        counted = trainer.strategy.reduce(counted, reduce_op="sum")
        if not trainer.is_global_zero:
            return
        evaluated = torch.nonzero(counted.cpu() > 0).squeeze(1)
        columns = {f"{m}@{k}": table[evaluated, i * len(ks) + j].cpu().float().numpy()
                   for i, m in enumerate(REPORTED) for j, k in enumerate(ks)}
        path = Path(self.per_user)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, users=evaluated.numpy(), train_interactions=self.degrees[evaluated].numpy(),
                            **columns)
