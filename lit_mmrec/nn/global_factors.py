r"""LOBSTER's global factor embeddings (Xu et al., "LOBSTER: Bilateral global semantic enhancement for multimedia
recommendation", Information Fusion 2026; Jinfeng-Xu/Multimodal-Recommendation-Library ``src/models/lobster.py``:
``factor_u``, ``factor_i`` and their use in its ``LayerGCN.forward``).

``K`` learned rows ``F [K, D]`` (xavier-uniform, as the original) shared by every node of one side (users or
items) and every modality: a table ``x [N, D]`` becomes

    x_n + g,        g = F_1 + ... + F_K,

a common ("global semantic") component added to every row before propagation. Only the sum ``g`` enters the
model, so every row of ``F`` receives the same gradient ``sum_n dL/dx_n``; ``K`` changes the initial scale of
``g`` and, under Adam (equal per-row updates), how fast it moves: ``K`` times one row's step.
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalFactors(nn.Module):
    """``K`` shared factor rows whose sum is added to every row of a table.

    Args:
        num_factors: ``K >= 1`` (LOBSTER ``factor_num_u`` / ``factor_num_i``).
        dim: the width ``D`` of the table.
    """

    def __init__(self, num_factors: int, dim: int) -> None:
        super().__init__()
        if num_factors < 1 or dim < 1:
            raise ValueError(f"num_factors and dim must be >= 1, got {num_factors}, {dim}")
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_factors, dim)))

    def forward(self, table: torch.Tensor) -> torch.Tensor:
        """``[N, D] -> [N, D]``: every row plus the sum of the factors."""
        return table + self.weight.sum(0)

    def extra_repr(self) -> str:
        return f"num_factors={self.weight.shape[0]}, dim={self.weight.shape[1]}"
