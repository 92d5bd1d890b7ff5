"""Losses shared by the backbones, as defined in MMRec (``src/common/loss.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``mean(-log sigmoid(pos - neg))``.

    MMRec computes ``-log(1e-10 + sigmoid(x))``; ``-logsigmoid`` is the same function without
    the underflow for very negative ``x``.
    """
    return F.softplus(neg_scores - pos_scores).mean()


def embedding_norm_loss(*embeddings: torch.Tensor) -> torch.Tensor:
    """MMRec's ``EmbLoss``: sum of the (unsquared) Frobenius norms, divided by the batch size."""
    total = sum(torch.linalg.vector_norm(e) for e in embeddings)
    return total / embeddings[-1].shape[0]


def squared_l2_loss(*embeddings: torch.Tensor) -> torch.Tensor:
    """MMRec's ``L2Loss``: half the sum of squares (used by some backbones)."""
    return sum((e**2).sum() for e in embeddings) * 0.5
