r"""InfoNCE with intra- and inter-view negatives (GRACE's loss, Zhu et al. 2020), one direction, as MMSSL's
``batched_contrastive_loss`` (HKUDS/MMSSL ``main.py``) computes it.

With ``a_b, c_b`` the L2-normalised rows ``b`` of the two views ``[B, D]``, ``s(x, y) = exp(<x, y> / τ)``:

    loss = mean_b -log( s(a_b, c_b) / (Σ_j s(a_b, a_j) + Σ_j s(a_b, c_j) - s(a_b, a_b)) + 1e-8 )

(the ``1e-8`` inside the logarithm is the original's). The other rows of both views are negatives;
:mod:`lit_mmrec.nn.info_nce` uses the other view's rows only. ``exp`` of a cosine over ``τ`` overflows
float32 only for ``τ < 0.012``; smaller temperatures are refused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: below this temperature exp(1 / τ) overflows float32
MIN_TEMPERATURE = 0.0125


def cross_view_info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The loss above of row ``b`` of ``view1`` against row ``b`` of ``view2`` (both ``[B, D]``), averaged."""
    if view1.shape != view2.shape or view1.dim() != 2:
        raise ValueError(f"the two views must be equal-shaped [B, D], got {tuple(view1.shape)} and {tuple(view2.shape)}")
    if not temperature >= MIN_TEMPERATURE:
        raise ValueError(f"temperature must be at least {MIN_TEMPERATURE}, got {temperature}")
    a, c = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    within = torch.exp(a @ a.T / temperature)
    between = torch.exp(a @ c.T / temperature)
    denominator = within.sum(1) + between.sum(1) - within.diagonal()
    return -torch.log(between.diagonal() / denominator + 1e-8).mean()
