"""Recall@K, NDCG@K, Precision@K and MAP@K as one sum-reduced torchmetrics ``Metric``.

Definitions (``../shared/reference/PROTOCOL.md``, MMRec's): for a user with ground-truth
set G (|G| >= 1) and ranked list r_1, r_2, ... (training items excluded), hit_j = [r_j in G]:

- Recall@K    = sum_{j<=K} hit_j / |G|
- Precision@K = sum_{j<=K} hit_j / K
- NDCG@K      = (sum_{j<=K} hit_j / log2(j + 1)) / (sum_{j<=min(|G|,K)} 1 / log2(j + 1))
- MAP@K       = (sum_{j<=K} hit_j * Precision@j) / min(|G|, K)

Each user weighs equally; users without ground truth are not counted. The state is a
sum per (metric, K) and a user count, reduced by summation across DDP ranks, so the
distributed result is exactly the single-process one when every user is evaluated once.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

METRIC_NAMES = ("recall", "ndcg", "precision", "map")


def per_user_metrics(hits: torch.Tensor, num_relevant: torch.Tensor, ks: list[int]) -> torch.Tensor:
    """Every metric at every cut-off for each user with ground truth (float64).

    Args:
        hits: ``[B, L]`` boolean, ``hits[b, j]`` = the item at rank ``j + 1`` is relevant.
        num_relevant: ``[B]`` size of each user's ground truth; users with 0 are dropped.
        ks: ascending cut-offs.

    Returns:
        ``[B', len(METRIC_NAMES), len(ks)]`` for the ``B'`` users with ``num_relevant > 0``, in order.
    """
    keep = num_relevant > 0
    hits, num_relevant = hits[keep].double(), num_relevant[keep].double()
    length = hits.shape[1]
    if hits.shape[0] == 0 or length == 0:
        return torch.zeros(hits.shape[0], len(METRIC_NAMES), len(ks), dtype=torch.float64, device=hits.device)
    ranks = torch.arange(1, length + 1, device=hits.device, dtype=torch.float64)
    discounts = 1.0 / torch.log2(ranks + 1.0)
    cum_hits = torch.cumsum(hits, 1)
    cum_dcg = torch.cumsum(hits * discounts, 1)
    cum_ideal = torch.cumsum(discounts, 0)
    cum_ap = torch.cumsum(hits * cum_hits / ranks, 1)
    columns = []
    for k in ks:
        last = min(k, length) - 1
        bounded = torch.clamp(num_relevant, max=k)
        ideal = cum_ideal[(bounded.long() - 1).clamp(max=length - 1)]
        columns.append(torch.stack([
            cum_hits[:, last] / num_relevant,
            cum_dcg[:, last] / ideal,
            cum_hits[:, last] / k,
            cum_ap[:, last] / bounded,
        ], dim=1))
    return torch.stack(columns, dim=2)


class TopKMetrics(Metric):
    """Ranking metrics at several cut-offs from per-user hit vectors.

    Args:
        ks: cut-offs, e.g. ``(10, 20, 50)``.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, ks: list[int] | tuple[int, ...] = (10, 20, 50)) -> None:
        super().__init__()
        ks = sorted(set(int(k) for k in ks))
        if not ks or ks[0] <= 0:
            raise ValueError(f"top-k cut-offs must be positive integers, got {ks}")
        self.ks = ks
        self.add_state("sums", default=torch.zeros(len(METRIC_NAMES), len(ks), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("users", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    @property
    def max_k(self) -> int:
        return self.ks[-1]

    def update(self, hits: torch.Tensor, num_relevant: torch.Tensor) -> None:
        """Add a chunk of users.

        Args:
            hits: ``[B, L]`` boolean, ``hits[b, j]`` = the item at rank ``j + 1`` is relevant; ``L`` may be
                smaller than ``max_k`` only when the catalogue is.
            num_relevant: ``[B]`` size of each user's ground truth; users with 0 are skipped.
        """
        values = per_user_metrics(hits, num_relevant, self.ks)
        if values.shape[0] == 0:
            return
        self.sums += values.sum(0)
        self.users += values.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        values = self.sums / self.users.clamp(min=1)
        return {
            f"{name}@{k}": values[m, j].float()
            for m, name in enumerate(METRIC_NAMES)
            for j, k in enumerate(self.ks)
        }


class GroupedTopKMetrics(Metric):
    """:class:`TopKMetrics` per group of users (e.g. by training activity), in one sum-reduced state.

    The state is a sum per (group, metric, K) and a user count per group, reduced by summation across DDP ranks:
    exact when every user is evaluated once, as for :class:`TopKMetrics`.

    Args:
        num_groups: number of groups; ``update`` gives each user's group in ``0 .. num_groups - 1``.
        ks: cut-offs, e.g. ``(10, 20, 50)``.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_groups: int, ks: list[int] | tuple[int, ...] = (10, 20, 50)) -> None:
        super().__init__()
        if num_groups < 1:
            raise ValueError(f"num_groups must be >= 1, got {num_groups}")
        ks = sorted(set(int(k) for k in ks))
        if not ks or ks[0] <= 0:
            raise ValueError(f"top-k cut-offs must be positive integers, got {ks}")
        self.ks = ks
        self.num_groups = num_groups
        shape = (num_groups, len(METRIC_NAMES), len(ks))
        self.add_state("sums", default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("users", default=torch.zeros(num_groups, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, hits: torch.Tensor, num_relevant: torch.Tensor, groups: torch.Tensor) -> None:
        """Add a chunk of users: ``hits`` and ``num_relevant`` as :meth:`TopKMetrics.update`, ``groups`` ``[B]``."""
        groups = groups[num_relevant > 0].to(self.sums.device)
        values = per_user_metrics(hits, num_relevant, self.ks)
        self.sums.index_add_(0, groups, values)
        self.users.index_add_(0, groups, torch.ones_like(groups, dtype=torch.float64))

    def compute(self) -> list[dict[str, torch.Tensor]]:
        """Per group, ``{"recall@20": ..., ...}`` and ``"users"``: the number of users counted."""
        values = self.sums / self.users.clamp(min=1).view(-1, 1, 1)
        return [
            {"users": self.users[g].float(), **{
                f"{name}@{k}": values[g, m, j].float()
                for m, name in enumerate(METRIC_NAMES) for j, k in enumerate(self.ks)
            }}
            for g in range(self.num_groups)
        ]

