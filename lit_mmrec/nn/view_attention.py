r"""Attention over several views of the same nodes, one weight per node and view (MSCA's "multi-view
adaptive fusion"; the same form as GUME's coarse gating of its modal representations).

With ``z_k [N, d]`` the ``K`` views and a shared scorer ``c(z) = v^T tanh(W z + b)`` (``W [d, d]``, ``b [d]``,
``v [d]``, no bias after ``v``):

    w_{n,k} = softmax_k c(z_{k,n}),        attend(z) = Σ_k w_{:,k} ⊙ z_k          ([N, K] weights, [N, d] out)

MSCA keeps what the attention does not explain: ``Σ_k z_k - attend(z)`` (:meth:`ViewAttention.residual`).
"""

from __future__ import annotations

import torch
from torch import nn


class ViewAttention(nn.Module):
    """Per-node softmax attention over ``K`` views ``[N, d]`` with a shared two-layer scorer.

    Args:
        dim: width ``d`` of every view.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))

    def weights(self, views: list[torch.Tensor]) -> torch.Tensor:
        """``w [N, K]``: the softmax over the views of each node's scores."""
        if not views:
            raise ValueError("ViewAttention needs at least one view")
        return torch.softmax(torch.cat([self.score(view) for view in views], dim=1), dim=1)

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """``Σ_k w_{:,k} ⊙ z_k``, ``[N, d]``."""
        weights = self.weights(views)
        return sum(weights[:, k : k + 1] * view for k, view in enumerate(views))

    def residual(self, views: list[torch.Tensor]) -> torch.Tensor:
        """``Σ_k z_k - Σ_k w_{:,k} ⊙ z_k = Σ_k (1 - w_{:,k}) ⊙ z_k``, ``[N, d]`` (MSCA's fused views)."""
        weights = self.weights(views)
        return sum((1 - weights[:, k : k + 1]) * view for k, view in enumerate(views))
