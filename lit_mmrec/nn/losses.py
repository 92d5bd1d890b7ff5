"""Losses of the backbones: those MMRec shares (``src/common/loss.py``: BPR, EmbLoss, L2Loss) and
LGMRec's hypergraph InfoNCE with its fused log-partition."""

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


#: Elements of one (anchor chunk x candidates) block of InfoNCE logits: 1 MB of float32, about the
#: L2 cache (measured fastest among 2^15..2^20 on the Baby shape).
INFONCE_CHUNK_ELEMENTS = 1 << 18


class _InfoNCEDenominator(torch.autograd.Function):
    r"""``sum_i w_i log sum_j m_j exp(<a_i, c_j> / tau)`` for ``anchors a [n, K]`` and candidates given
    transposed, ``c^T [K, m]`` (products with a small ``K`` are several times faster in this layout);
    ``log m`` (``column_log_weights``, optional: ``m_j = 1``) counts each candidate ``m_j`` times, as a
    batch that holds it ``m_j`` times does.

    The ``n x m`` logits are formed chunk by chunk and never stored: the gradients
    ``dS/da_i = w_i sum_j p_ij c_j / tau`` and ``dS/dc_j = sum_i w_i p_ij a_i / tau`` (``p`` the
    row softmax) are accumulated in the same pass and scaled by the incoming gradient in backward.
    Requires ``|<a_i, c_j>| <= 1`` (cosines): the exponent is shifted by the constant ``1 / tau``,
    so it lies in ``[-2 / tau, log m_j]`` and cannot overflow.
    """

    @staticmethod
    def forward(ctx, anchors: torch.Tensor, candidates_t: torch.Tensor, weights: torch.Tensor, tau: float,  # type: ignore[override]
                column_log_weights: torch.Tensor | None = None) -> torch.Tensor:
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        # [c^T; 1]: one product with the exponentials gives both sum_j e_ij c_j and z_i = sum_j e_ij
        augmented_t = torch.cat([candidates_t, candidates_t.new_ones(1, candidates_t.shape[1])])
        # [a / tau, -1 / tau] @ [c^T; 1] = (<a, c> - 1) / tau: the constant shift costs no extra pass
        scaled = torch.cat([anchors / tau, anchors.new_full((anchors.shape[0], 1), -1.0 / tau)], dim=1)
        if column_log_weights is not None:
            # one more row and column, [a / tau, -1 / tau, 1] @ [c^T; 1; log m], put log m_j in the exponent
            augmented_t = torch.cat([augmented_t, column_log_weights.unsqueeze(0)])
            scaled = torch.cat([scaled, anchors.new_ones(anchors.shape[0], 1)], dim=1)
        grad_anchors = torch.empty_like(anchors)
        grad_candidates_t = torch.zeros_like(candidates_t)
        total = anchors.new_zeros(())
        rows = max(1, INFONCE_CHUNK_ELEMENTS // max(1, candidates_t.shape[1]))
        for start in range(0, anchors.shape[0], rows):
            a, w = anchors[start : start + rows], weights[start : start + rows]
            e = torch.mm(scaled[start : start + rows], augmented_t).exp_()
            moments = torch.mm(e, augmented_t[: candidates_t.shape[0] + 1].T)
            z = moments[:, -1]
            total = total + (w * (z.log() + 1.0 / tau)).sum()
            if needs_grad:
                scale = (w / (z * tau)).unsqueeze(1)  # d(w log z)/dS = w e / (z tau)
                grad_anchors[start : start + rows] = moments[:, :-1] * scale
                grad_candidates_t.addmm_((a * scale).T, e)
        ctx.save_for_backward(grad_anchors, grad_candidates_t)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        grad_anchors, grad_candidates_t = ctx.saved_tensors
        return grad * grad_anchors, grad * grad_candidates_t, None, None, None


def hypergraph_info_nce(
    anchors: torch.Tensor,
    index: torch.Tensor,
    weights: torch.Tensor,
    assignment: torch.Tensor,
    latent: torch.Tensor,
    embeddings: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    r"""``sum_b w_b * -log softmax_v(cos(anchors_b, embeddings_v) / tau)[index_b]``.

    Args:
        anchors: ``[n, d]`` anchor rows (one modality's hypergraph embeddings of the batch's rows).
        index: ``[n]`` row of each anchor's positive in ``embeddings``.
        weights: ``[n]`` multiplicity of each anchor in the batch.
        assignment: ``[m, K]`` the candidates' hyperedge assignments.
        latent: ``[K, d]`` the hyperedge embeddings; ``embeddings = assignment @ latent``.
        embeddings: ``[m, d]`` the candidates (the other modality's hypergraph embeddings).
        tau: temperature.
    """
    anchors = F.normalize(anchors, dim=1)
    inverse_norm = 1.0 / torch.linalg.vector_norm(embeddings, dim=1).clamp_min(1e-12)  # F.normalize's eps
    positives = (anchors * embeddings[index]).sum(1) * inverse_norm[index] / tau
    # cos(a, e_v) = <a latent^T, assignment_v / |e_v|>: logits through the K-dim hyperedge space
    candidates_t = (assignment * inverse_norm.unsqueeze(1)).T.contiguous()
    denominator = _InfoNCEDenominator.apply(anchors @ latent.T, candidates_t, weights, tau)
    return denominator - (weights * positives).sum()
