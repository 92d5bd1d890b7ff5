r"""In-batch InfoNCE between two views of the same rows (SMORE's and MGCN's contrastive term).

For ``v, o [B, d]`` (row ``b`` of each is the same user or item) and temperature ``t``, with cosine
logits ``s_bc = cos(v_b, o_c) / t``:

    InfoNCE(v, o) = mean_b [ log Σ_c exp(s_bc) - s_bb ],

the other rows of the batch being the negatives. The logits are at most ``1 / t``, so the exponent
is shifted by that constant instead of a row maximum: the same value, no overflow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(view: torch.Tensor, other: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch InfoNCE of ``view [B, d]`` against ``other [B, d]`` (positives on the diagonal).

    Args:
        view: the anchor rows.
        other: the rows of the other view, ``other[b]`` the positive of ``view[b]``.
        temperature: the temperature ``t`` dividing the cosines.
    """
    view, other = F.normalize(view, dim=1), F.normalize(other, dim=1)
    shift = 1.0 / temperature
    logits = view @ (other.T / temperature)
    positive = (view * other).sum(-1) / temperature
    return ((logits - shift).exp().sum(1).log() + shift - positive).mean()
