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
    return _FrobeniusNormSum.apply(*embeddings) / embeddings[-1].shape[0]


class _FrobeniusNormSum(torch.autograd.Function):
    """``sum_k ||X_k||_F``, the numerator of MMRec's EmbLoss (:func:`embedding_norm_loss`).

    Same value and gradient as ``torch.linalg.vector_norm``, whose backward makes three passes
    over each ``X_k`` (divide, multiply, mask the zero norm); this one makes one:
    ``X_k * (grad / ||X_k||)`` (a zero ``X_k`` gets a zero gradient, as there).
    """

    @staticmethod
    def forward(ctx, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        norms = torch.stack([torch.linalg.vector_norm(t) for t in tensors])
        ctx.save_for_backward(norms, *tensors)
        return norms.sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        norms, *tensors = ctx.saved_tensors
        scales = torch.where(norms > 0, grad / norms, torch.zeros_like(norms))
        return tuple(t * scale for t, scale in zip(tensors, scales, strict=True))


def squared_l2_loss(*embeddings: torch.Tensor) -> torch.Tensor:
    """MMRec's ``L2Loss``: half the sum of squares (used by some backbones)."""
    return sum((e**2).sum() for e in embeddings) * 0.5
