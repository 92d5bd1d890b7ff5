r"""Mean/variance alignment of several representations (MENTOR's coarse-grained "distribution"
alignment; Xu et al., AAAI 2025, ``calculate_loss`` of ``Jinfeng-Xu/MENTOR`` ``src/models/mentor.py``).

Each representation ``R_k`` (any shape) is summarised by two scalars over all its entries, the mean
``μ_k`` and the unbiased variance ``σ²_k`` (:func:`torch.var`, ``n - 1`` in the denominator, as the
original); the loss sums the absolute gaps over every unordered pair:

    L = Σ_{k < l} ( |σ²_k - σ²_l| + |μ_k - μ_l| )

With MENTOR's four representations (fused, ID-guide, image, text) that is its six pairs.
"""

from __future__ import annotations

from itertools import combinations

import torch


def mean_variance_alignment(representations: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_{k<l} |var(R_k) - var(R_l)| + |mean(R_k) - mean(R_l)|`` over at least two tensors."""
    if len(representations) < 2:
        raise ValueError(f"alignment needs at least two representations, got {len(representations)}")
    stats = [(r.var(), r.mean()) for r in representations]
    return sum(
        (var_a - var_b).abs() + (mean_a - mean_b).abs() for (var_a, mean_a), (var_b, mean_b) in combinations(stats, 2)
    )
