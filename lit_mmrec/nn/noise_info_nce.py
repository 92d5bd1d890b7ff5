r"""SimGCL-style noise views and their InfoNCE (Yu et al., "Are Graph Augmentations Necessary? Simple
Graph Contrastive Learning for Recommendation", SIGIR 2022; GUME's ``cal_noise_loss``,
``NanGongNingYi/GUME`` ``src/models/gume.py``).

A view of the rows ``x [B, D]`` adds, per row, a random direction of length ``ε`` in ``x``'s own orthant:

    x̃ = x + ε sign(x) ⊙ normalize(U),      U ~ Uniform[0, 1)^D per row,  normalize: unit L2 row,

so ``|x̃ - x| = ε`` for a row without zero entries (zero entries get no noise). The loss is the
:func:`~lit_mmrec.nn.info_nce.info_nce` between two independent views of the same rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lit_mmrec.nn.info_nce import info_nce


def sign_noise(rows: torch.Tensor, magnitude: float) -> torch.Tensor:
    """``rows + magnitude * sign(rows) * normalize(U)`` with a fresh uniform ``U`` (torch's generator)."""
    return rows + magnitude * torch.sign(rows) * F.normalize(torch.rand_like(rows), dim=-1)


def noise_views_info_nce(rows: torch.Tensor, magnitude: float, temperature: float) -> torch.Tensor:
    """:func:`~lit_mmrec.nn.info_nce.info_nce` between two independent :func:`sign_noise` views of ``rows``."""
    return info_nce(sign_noise(rows, magnitude), sign_noise(rows, magnitude), temperature)
