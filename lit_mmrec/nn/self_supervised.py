r"""The negative-cosine loss of SimSiam-style self-supervision without negatives (Chen & He, "Exploring
Simple Siamese Representation Learning", CVPR 2021; SelfCF's ``loss_fn``, MMRec
``src/models/selfcfed_lgn.py``).

For predictions ``p [B, D]`` of the online branch and targets ``z [B, D]`` of the target branch:

    L(p, z) = -(1 / B) sum_b <p_b, z_b> / (||p_b|| ||z_b||),

with a stop-gradient on ``z``: the target branch receives no gradient from this loss (what keeps the
siamese pair from collapsing to a constant). The cosine is :func:`torch.nn.functional.cosine_similarity`
(``eps = 1e-8``: a zero row has cosine 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def negative_cosine_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-mean_b cos(predictions_b, stopgrad(targets_b))`` over the rows of two ``[B, D]`` tensors."""
    return -F.cosine_similarity(predictions, targets.detach(), dim=-1).mean()
