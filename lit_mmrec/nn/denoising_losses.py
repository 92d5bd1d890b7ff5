r"""DA-MRS's losses (Xv et al., KDD 2024): confidence-weighted BPR (denoising user feedback), the
symmetric KL alignment of behaviour and content predictions, and the neighbour-discrimination
contrastive loss with cross-modal pseudo-labels.

Confidence weights. For a batch triple ``(u, i+, i-)`` and the ``M`` item graphs ``h^m`` (one per
modality plus the behaviour graph), with ``x^m_± = <e_u, h^m_{i±} / |h^m_{i±}|>``, ``p^m = σ(x^m_+)``
and ``n̄`` the mean of ``σ(x^m_-)`` over every graph and every triple of the batch:

    w+ = clamp(mean_m p^m * exp(-var_m p^m)^2, 0, 1)           (var: unbiased, over the M graphs)
    w- = clamp(max_m p^m - n̄, 0, 1) if mean_m p^m < n̄ else 0

Both are constants (no gradient). The weighted BPR loss for scores ``s± = <e_u, e_{i±}>``:

    L_bpr = mean( -w+ log σ(s+ - s-) - w- log σ(s- - s+) )

``w+`` trusts a positive that every graph scores high and alike; ``w-`` flips a pair whose positive
scores below the batch's average negative.

Alignment. With logits ``x, y`` of the user-item probabilities ``p = σ(x), q = σ(y)`` from the
behaviour and the content representations, the symmetric Bernoulli KL has the closed form

    KL(p || q) + KL(q || p) = (p - q)(x - y),

averaged over the entries (the authors compute ``p log p - p log q + ...``, which is the same
value but ``NaN`` once a probability rounds to 0 or 1).

Neighbour discrimination. With ``a`` an anchor item's row of one graph's representation, ``c_j`` the
rows of every item, cosines ``s_j = <â, ĉ_j> / τ``, and two disjoint sets of pseudo-labels, ``P_mm``
(agreed by all graphs) and ``P_s`` (the graph's own next best):

    L_nd = -log( Σ_{P_mm} e^{s_j} / Σ_all e^{s_j} ) - log( Σ_{P_s} e^{s_j} / (Σ_all e^{s_j} - Σ_{P_mm} e^{s_j}) )

computed in log space (the authors add 1e-9 inside each log instead). Pseudo-labels come from the
label distributions ``π^m = softmax_j(<â^m, ĉ^m_j>)`` of every graph (the same cosine matrix as the loss,
formed once: :func:`cosine_matrix`): ``P_mm`` is the top ``n`` of
``Σ_m π^m + π^own`` and ``P_s`` the top ``n`` of ``π^own`` outside ``P_mm``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_bernoulli_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """``mean(KL(σ(x) || σ(y)) + KL(σ(y) || σ(x)))`` over the entries, as ``(σ(x) - σ(y))(x - y)``."""
    return ((torch.sigmoid(logits_p) - torch.sigmoid(logits_q)) * (logits_p - logits_q)).mean()


@torch.no_grad()
def confidence_weights(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w+, w-)``, both ``[B]`` in ``[0, 1]``, from the ``[M, B]`` logits ``x^m_+`` and ``x^m_-``
    of the batch's positives and negatives under each of the ``M >= 2`` item graphs."""
    if pos_logits.shape != neg_logits.shape or pos_logits.dim() != 2:
        raise ValueError(f"expected two [M, B] tensors, got {tuple(pos_logits.shape)} and {tuple(neg_logits.shape)}")
    if pos_logits.shape[0] < 2:
        raise ValueError("confidence weights need at least two graphs (the variance is over graphs)")
    positive = torch.sigmoid(pos_logits)
    mean = positive.mean(0)
    pos_weight = (mean * torch.exp(-positive.var(0)).square()).clamp(0.0, 1.0)
    negative_mean = torch.sigmoid(neg_logits).mean()
    flipped = mean < negative_mean
    neg_weight = torch.where(flipped, (positive.amax(0) - negative_mean).clamp(0.0, 1.0), torch.zeros_like(mean))
    return pos_weight, neg_weight


def confidence_weighted_bpr(
    pos_scores: torch.Tensor, neg_scores: torch.Tensor, pos_weight: torch.Tensor, neg_weight: torch.Tensor
) -> torch.Tensor:
    """``mean(-w+ log σ(s+ - s-) - w- log σ(s- - s+))``; with ``w+ = 1, w- = 0`` it is plain BPR."""
    difference = pos_scores - neg_scores
    return (pos_weight * F.softplus(-difference) + neg_weight * F.softplus(difference)).mean()


def cosine_matrix(anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """``[B, n]`` cosines between ``anchors [B, D]`` and ``candidates [n, D]``: the input of both
    :func:`label_distribution` and :func:`neighbour_discrimination_loss`, computed once for the two."""
    return F.normalize(anchors, dim=1) @ F.normalize(candidates, dim=1).T


def label_distribution(cosines: torch.Tensor) -> torch.Tensor:
    """``[B, n]`` row softmax of the ``cosines`` (:func:`cosine_matrix`)."""
    return torch.softmax(cosines, dim=1)


@torch.no_grad()
def pseudo_labels(distributions: list[torch.Tensor], count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(P_mm, P_s)`` of every graph, both ``[B, c]`` item ids, from the ``distributions`` (``[B, n]``
    each, from :func:`label_distribution`); ``c = min(count, n // 2)`` so both sets fit. The sum over the
    graphs is formed once for all of them, and the rankings share one scratch buffer (fresh ``[B, n]``
    tensors per graph measured slower on DA-MRS's ml100k batches)."""
    width = min(count, distributions[0].shape[1] // 2)
    if width < 1:
        raise ValueError("pseudo-labels need at least two candidate items")
    total = distributions[0].clone()
    for distribution in distributions[1:]:
        total.add_(distribution)
    scratch = torch.empty_like(total)  # one [B, n] buffer for every graph's two rankings
    labels = []
    for own in distributions:
        multimodal = torch.add(total, own, out=scratch).topk(width, dim=1).indices
        remaining = scratch.copy_(own).scatter_(1, multimodal, float("-inf"))
        labels.append((multimodal, remaining.topk(width, dim=1).indices))
    return labels


class _NeighbourDiscrimination(torch.autograd.Function):
    r"""``mean_b L_nd`` from the cosines as one autograd node.

    With ``x = cos / τ``, ``p = softmax_j(x)``, ``q = Σ_mm e^x / Σ_all e^x`` and ``π^mm, π^s`` the
    softmax of ``x`` over each row's pseudo-labels of either kind, the gradient of a row's ``L_nd`` is

        dL/dx_j = p_j (1 + [j ∉ P_mm] / (1 - q)) - [j ∈ P_mm] π^mm_j - [j ∈ P_s] π^s_j,

    so the backward is one scaled copy of the exponentials the forward keeps plus the ``2c`` columns
    of the pseudo-labels, where autograd through ``logsumexp`` and ``gather`` makes about ten passes
    over the ``[B, n]`` matrix (measured on DA-MRS's ml100k batches). The exponent is shifted by the
    row maximum (no overflow for any temperature).
    """

    @staticmethod
    def forward(ctx, cosines, multimodal, single, temperature: float):  # type: ignore[override]
        shift = cosines.amax(1, keepdim=True)
        exponentials = (cosines - shift).mul_(1.0 / temperature).exp_()
        sums = exponentials.sum(1)
        log_all = sums.log() + shift.squeeze(1) / temperature
        logits_multimodal = cosines.gather(1, multimodal) / temperature
        logits_single = cosines.gather(1, single) / temperature
        log_multimodal = torch.logsumexp(logits_multimodal, dim=1)
        log_single = torch.logsumexp(logits_single, dim=1)
        share = torch.exp(log_multimodal - log_all)  # q = Σ_mm / Σ_all
        # log(Σ_all - Σ_mm) = log Σ_all + log(1 - q)
        log_rest = log_all + torch.log1p(-share)
        ctx.temperature = temperature
        ctx.save_for_backward(
            exponentials, sums, share, log_all, multimodal, single, logits_multimodal, logits_single
        )
        return ((log_all - log_multimodal) + (log_rest - log_single)).mean()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        exponentials, sums, share, log_all, multimodal, single, logits_multimodal, logits_single = ctx.saved_tensors
        scale = grad / (exponentials.shape[0] * ctx.temperature)  # d mean / d row, and dx / dcos = 1 / τ
        rest = 1.0 + 1.0 / (1.0 - share)  # p_j's factor outside P_mm
        result = exponentials * (scale * rest / sums).unsqueeze(1)
        log_all = log_all.unsqueeze(1)
        at_multimodal = torch.exp(logits_multimodal - log_all) - torch.softmax(logits_multimodal, dim=1)
        at_single = torch.exp(logits_single - log_all) * rest.unsqueeze(1) - torch.softmax(logits_single, dim=1)
        result.scatter_(1, multimodal, at_multimodal * scale)
        result.scatter_(1, single, at_single * scale)
        return result, None, None, None


def neighbour_discrimination_loss(
    cosines: torch.Tensor, multimodal: torch.Tensor, single: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``mean_b L_nd`` from the ``[B, n]`` ``cosines`` of the anchors against the candidates
    (:func:`cosine_matrix`) with the pseudo-label ids ``multimodal, single [B, c]`` (disjoint per row,
    from :func:`pseudo_labels`); one autograd node (:class:`_NeighbourDiscrimination`)."""
    return _NeighbourDiscrimination.apply(cosines, multimodal, single, temperature)
