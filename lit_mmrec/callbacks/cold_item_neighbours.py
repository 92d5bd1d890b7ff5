r"""Training-free representations for cold items: the mean of their feature-space neighbours among warm items.

An item with no training interaction is only ever a BPR negative: whatever a backbone learns for it
(an ID row pushed down, or a projection of its features that was never pulled up) cannot compete with
warm items, and Recall on such items is 0 for every backbone (``docs/results/main/cold_start.md``).
Their modal features are known, though. For each cold item :math:`c` (at most ``max_interactions``
training interactions), take its :math:`k` nearest warm items by cosine similarity of their features,

.. math::

    s(c, i) = \frac{1}{M} \sum_m \cos(f^m_c, f^m_i),

(the mean over modalities of the per-modality cosines), and replace its final representation by the mean
of theirs, :math:`\hat e_c = \frac{1}{k} \sum_{i \in \text{kNN}(c)} e_i` (``weighting="mean"``), or the
similarity-weighted mean :math:`\sum_i \max(s, 0)\, e_i / \sum_i \max(s, 0)` (``"similarity"``; falls back
to the plain mean where every similarity is :math:`\le 0`). A mean of vectors is shorter than they are,
and with dot-product scores a short vector ranks low among all items; ``keep_norm`` rescales
:math:`\hat e_c` to the (weighted) mean norm of its neighbours, so it competes like a typical neighbour. ``own`` keeps what the backbone learned for the item itself:
it adds the item's deviation from the mean cold item, :math:`\hat e_c + (e_c - \bar e_{\text{cold}})`, so
that the cold items keep their learned order among themselves (for feature backbones, their projected
features) while their level is that of their warm neighbours; with :math:`k` at least the number of warm
items this is a plain shift of every cold item by :math:`\bar e_{\text{warm}} - \bar e_{\text{cold}}`. Nothing is trained; the neighbours are found
once from the features and the training interactions, and the replacement is applied to the item
representations every time evaluation or prediction computes them, so it follows the learned warm ones.

It needs only the data set's features, so it works for every backbone, ID backbones included (our choice,
close to the "neighbour mean" baselines of the cold-start literature; not from the SG-URInit paper, which
only claims that a better user start "alleviates item cold start"). Zero feature rows (an item without an
image, say) have cosine 0 with everything; an item whose features are all zero gets its neighbours by index
order among equal scores and should not be trusted (it says so in the log of the callback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_mmrec.init.sgurinit import rows_to_norm

WEIGHTINGS = ("mean", "similarity")


@dataclass(frozen=True)
class ColdItemNeighbours:
    """Which warm items stand in for each cold item.

    Attributes:
        cold: ``[n_cold]`` ids of the cold items, ascending.
        neighbours: ``[n_cold, k]`` ids of their nearest warm items, most similar first.
        weights: ``[n_cold, k]`` non-negative weights summing to 1 per row.
    """

    cold: Tensor
    neighbours: Tensor
    weights: Tensor
    keep_norm: bool = False
    own: bool = False

    def apply(self, item_repr: Tensor) -> Tensor:
        """``item_repr`` (``[n_items, D]``) with every cold row replaced by its neighbours' weighted mean
        (with ``keep_norm``, rescaled to the weighted mean of the neighbours' norms; with ``own``, plus the
        row's own deviation from the mean cold row)."""
        if self.cold.numel() == 0:
            return item_repr
        device = item_repr.device
        neighbours, weights = self.neighbours.to(device), self.weights.to(device, item_repr.dtype)
        rows = item_repr[neighbours]
        filled = (rows * weights[..., None]).sum(dim=1)
        if self.keep_norm:
            filled = rows_to_norm(filled, (rows.norm(dim=-1) * weights).sum(dim=1))
        cold = self.cold.to(device)
        if self.own:
            learned = item_repr[cold]
            filled = filled + learned - learned.mean(dim=0, keepdim=True)
        out = item_repr.clone()
        out[cold] = filled
        return out


def cold_item_neighbours(
    features: Sequence[Tensor],
    train_counts: Tensor,
    k: int = 10,
    max_interactions: int = 0,
    weighting: str = "mean",
    chunk_size: int = 4096,
    keep_norm: bool = False,
    own: bool = False,
) -> ColdItemNeighbours:
    """The ``k`` nearest warm items of every cold item (see the module docstring).

    Args:
        features: one ``[n_items, D_m]`` tensor per modality.
        train_counts: ``[n_items]`` training interactions per item.
        k: neighbours per cold item (clipped to the number of warm items).
        max_interactions: items with at most this many training interactions are cold (0: never seen).
        weighting: ``"mean"`` or ``"similarity"``.
        chunk_size: cold items scored at a time (memory ``chunk_size x n_warm``).
        keep_norm: rescale each filled row to its neighbours' mean norm.
        own: add each cold item's learned deviation from the mean cold item.
    """
    if not features:
        raise ValueError("cold items need at least one modality of item features")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if max_interactions < 0:
        raise ValueError(f"max_interactions must be >= 0, got {max_interactions}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    n_items = train_counts.numel()
    if any(f.dim() != 2 or f.shape[0] != n_items for f in features):
        raise ValueError(f"every feature tensor must be [n_items={n_items}, D], got {[tuple(f.shape) for f in features]}")
    is_cold = train_counts <= max_interactions
    cold, warm = is_cold.nonzero().squeeze(1), (~is_cold).nonzero().squeeze(1)
    empty = torch.empty(0, min(k, max(warm.numel(), 1)), dtype=torch.long)
    if cold.numel() == 0 or warm.numel() == 0:
        return ColdItemNeighbours(cold[:0], empty, empty.float(), keep_norm, own)
    # the mean of per-modality cosines is the dot product of the concatenated unit rows divided by M
    unit = torch.cat([F.normalize(f.float(), dim=1) for f in features], dim=1) / len(features)
    warm_unit = unit[warm].T
    k = min(k, warm.numel())
    neighbours, weights = [], []
    for start in range(0, cold.numel(), chunk_size):
        rows = cold[start:start + chunk_size]
        similarity = unit[rows] @ warm_unit * len(features)
        top, index = torch.topk(similarity, k, dim=1)
        neighbours.append(warm[index])
        if weighting == "similarity":
            positive = top.clamp_min(0)
            total = positive.sum(dim=1, keepdim=True)
            weights.append(torch.where(total > 0, positive / total.clamp_min(1e-12), torch.full_like(top, 1.0 / k)))
        else:
            weights.append(torch.full_like(top, 1.0 / k))
    return ColdItemNeighbours(cold, torch.cat(neighbours), torch.cat(weights), keep_norm, own)
