r"""LOBSTER's modality-adaptive BPR ("Cannikin law" weights; Xu et al., "LOBSTER: Bilateral global semantic
enhancement for multimedia recommendation", Information Fusion 2026; Jinfeng-Xu/Multimodal-Recommendation-Library
``src/models/lobster.py``, ``LOBSTER.Cannikin_Law_weight`` and ``LOBSTER.bpr_loss``).

A user and an item are represented by ``M`` blocks (one per modality, ID included), scored per block:
``s^+_{bm} = <u_{bm}, i^+_{bm}>`` and ``s^-_{bm} = <u_{bm}, i^-_{bm}>`` for batch row ``b``. Each block's margin is
weighted by one minus its softmax share over the blocks, as a constant (no gradient flows through the weights):

    w_{bm} = 1 - softmax_m(s^+_{bm} - s^-_{bm}),        loss = sum_b -log sigmoid(sum_m w_{bm} (s^+_{bm} - s^-_{bm}))

so the block that already separates the pair best gets the least weight and the weakest one ("the shortest
stave") the most. Summed over the batch, as the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def modality_adaptive_weights(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``1 - softmax`` over the blocks of the margins ``pos_scores - neg_scores`` (both ``[B, M]``), detached:
    ``[B, M]``."""
    return 1.0 - (pos_scores - neg_scores).softmax(-1).detach()


def modality_adaptive_bpr(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``sum_b -log sigmoid(sum_m w_bm (pos_bm - neg_bm))`` for per-block scores ``[B, M]`` (see the module)."""
    weights = modality_adaptive_weights(pos_scores, neg_scores)
    return F.softplus(((neg_scores - pos_scores) * weights).sum(-1)).sum()


def block_scores(users: torch.Tensor, items: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """Per-block inner products ``[B, M]`` of rows ``[B, M x D]`` made of ``M`` consecutive blocks of width ``D``."""
    return (users * items).unflatten(-1, (num_blocks, -1)).sum(-1)
