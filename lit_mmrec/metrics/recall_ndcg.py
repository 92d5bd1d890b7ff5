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
        keep = num_relevant > 0
        hits, num_relevant = hits[keep].double(), num_relevant[keep].double()
        if hits.shape[0] == 0:
            return
        length = hits.shape[1]
        ranks = torch.arange(1, length + 1, device=hits.device, dtype=torch.float64)
        discounts = 1.0 / torch.log2(ranks + 1.0)
        cum_hits = torch.cumsum(hits, 1)
        cum_dcg = torch.cumsum(hits * discounts, 1)
        cum_ideal = torch.cumsum(discounts, 0)
        cum_ap = torch.cumsum(hits * cum_hits / ranks, 1)
        rows = []
        for k in self.ks:
            last = min(k, length) - 1
            bounded = torch.clamp(num_relevant, max=k)
            ideal = cum_ideal[(bounded.long() - 1).clamp(max=length - 1)]
            rows.append(
                torch.stack(
                    [
                        (cum_hits[:, last] / num_relevant).sum(),
                        (cum_dcg[:, last] / ideal).sum(),
                        (cum_hits[:, last] / k).sum(),
                        (cum_ap[:, last] / bounded).sum(),
                    ]
                )
            )
        self.sums += torch.stack(rows, dim=1)
        self.users += hits.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        values = self.sums / self.users.clamp(min=1)
        return {
            f"{name}@{k}": values[m, j].float()
            for m, name in enumerate(METRIC_NAMES)
            for j, k in enumerate(self.ks)
        }
