r"""Modality-adaptive BPR: per-block scores weighted towards the block that ranks a triple worst.

COHESION's "adaptive optimization" (Xu et al., "COHESION: Composite Graph Convolutional Network with Dual-Stage
Fusion for Multimodal Recommendation", SIGIR 2025; ``adaptive_optimization`` of ``Jinfeng-Xu/COHESION``
``src/models/cohesion.py``) and LOBSTER's "Cannikin law" weights (Xu et al., "LOBSTER: Bilateral global semantic
enhancement for multimedia recommendation", Information Fusion 2026; Jinfeng-Xu/Multimodal-Recommendation-Library
``src/models/lobster.py``, ``Cannikin_Law_weight`` and ``bpr_loss``) are the same weighting.

The user and item representations are ``K`` blocks of width ``d`` side by side (one per modality, the ID
"behaviour" modality included). With ``s^+_bk = <u_bk, i^+_bk>`` and ``s^-_bk = <u_bk, i^-_bk>`` the per-block
scores of triple ``b``:

    w_bk = 1 - softmax_k(s^+_bk - s^-_bk)          (no gradient through w)
    s^+_b = Σ_k w_bk s^+_bk,      s^-_b = Σ_k w_bk s^-_bk
    loss (LOBSTER) = Σ_b -log sigmoid(s^+_b - s^-_b)

A block that already ranks the positive far above the negative gets a small weight ("the shortest stave" the
largest), so the BPR gradient goes to the modalities that rank the triple worst. The weights of a triple sum to
``K - 1``. COHESION feeds ``(s^+, s^-)`` to its own BPR term; LOBSTER sums the loss over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def block_scores(users: torch.Tensor, items: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """``[B, K]`` per-block inner products of ``users`` and ``items`` (both ``[B, K d]``)."""
    if users.shape != items.shape or users.shape[1] % num_blocks:
        raise ValueError(
            f"users and items must have the same shape with a width divisible by {num_blocks}, "
            f"got {tuple(users.shape)} and {tuple(items.shape)}"
        )
    return (users * items).view(users.shape[0], num_blocks, -1).sum(-1)


def modality_adaptive_weights(positive_scores: torch.Tensor, negative_scores: torch.Tensor) -> torch.Tensor:
    """``w = 1 - softmax_k(s^+ - s^-)`` over the blocks ``[B, K]``, detached."""
    return 1.0 - torch.softmax((positive_scores - negative_scores).detach(), dim=-1)


def modality_adaptive_scores(
    users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, num_blocks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s^+, s^-)``, each ``[B]``: the block scores of the triples weighted by
    :func:`modality_adaptive_weights`. ``users``, ``positives``, ``negatives``: ``[B, K d]``."""
    positive, negative = block_scores(users, positives, num_blocks), block_scores(users, negatives, num_blocks)
    weights = modality_adaptive_weights(positive, negative)
    return (weights * positive).sum(-1), (weights * negative).sum(-1)


def modality_adaptive_bpr(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """LOBSTER's ``Σ_b -log sigmoid(Σ_k w_bk (s^+_bk - s^-_bk))`` for per-block scores ``[B, K]``."""
    weights = modality_adaptive_weights(pos_scores, neg_scores)
    return F.softplus(((neg_scores - pos_scores) * weights).sum(-1)).sum()
