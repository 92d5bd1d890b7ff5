r"""DA-MRS's denoised item-item graphs: the item co-occurrence (behaviour) graph and the kNN graphs
kept consistent across modalities (``build_iib_graph.py`` and ``get_knn_adj_mat`` of Xv et al.,
KDD 2024).

Co-occurrence graph. With ``c_ij`` the number of training users who interacted with both items
``i`` and ``j`` (``i != j``):

    N_co(i) = the k items j with the largest c_ij among those with c_ij >= min_common
              (ties: smaller id first; fewer than k when fewer qualify)

Built by :func:`lit_mmrec.nn.user_graph.cooccurrence_neighbours` with the roles of users and items
swapped: the item x item counts are formed for a chunk of items at a time as a sparse product, so
memory stays at the pair products of one chunk (about 2^22) plus the ``[n_items, k]`` table; no
``n_items x n_items`` matrix is formed (the authors' script fills a dense one). The full count matrix
has at most ``min(Σ_u d_u^2, n_items^2)`` non-zeros (``d_u`` the user's training items): on ml100k
13.0M pair products over 2.8M item pairs (a dense data set; one pass takes ~3 s on one thread), on
the sparse Amazon sets (a few training items per user) far fewer than ``n_items^2``.

Consistent kNN graph. With ``s^m_ij`` the cosine of items ``i, j`` in modality ``m`` and ``μ_m`` the
mean of ``s^m`` over all ``n^2`` pairs (``μ_m = |Σ_i x̂_i|^2 / n^2``, ``x̂`` the unit rows, so no
``n x n`` matrix is needed):

    C = {(i, j) : s^m_ij >= μ_m for every modality m}         (cross-modal consistency)
    N_m(i) = the k items j with the largest s^m_ij among those with (i, j) in C

A pair whose similarity is below the average in any modality is treated as noise in all of them.
Rows are processed in chunks (``chunk x n`` similarities per modality at a time). Zero feature rows
have no neighbours and are nobody's neighbour (the safe cosine of :mod:`lit_mmrec.nn.knn_graph`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from lit_mmrec.data.cache import cached
from lit_mmrec.nn.user_graph import cooccurrence_neighbours

#: Elements of one chunk of one modality's similarity matrix (float32: 64 MB).
_SIMILARITY_CHUNK_ELEMENTS = 1 << 24


def item_cooccurrence_neighbours(
    users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int, k: int, min_common: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each item's ``k`` items sharing the most training users, at least ``min_common`` of them.

    Args:
        users, items: training interactions (duplicates are ignored).
        num_users, num_items: sizes of the id spaces.
        k: neighbours kept per item.
        min_common: least number of shared users for an edge (the authors' script: 2).

    Returns:
        ``(neighbours, counts)``, both ``[num_items, k]``: neighbour ids by decreasing ``c_ij`` (ties:
        smaller id first), ``-1`` in unused slots; ``c_ij`` as float32 (0 in unused slots).
    """
    if min_common < 1:
        raise ValueError(f"min_common must be >= 1, got {min_common}")
    neighbours, counts = cooccurrence_neighbours(items, users, num_items, num_users, k)
    weak = counts < min_common
    neighbours[weak] = -1
    counts[weak] = 0.0
    return neighbours, counts


def cached_item_cooccurrence_neighbours(
    users: torch.Tensor,
    items: torch.Tensor,
    num_users: int,
    num_items: int,
    k: int,
    min_common: int,
    cache_dir: str | Path | None = None,
) -> torch.Tensor:
    """The neighbour table of :func:`item_cooccurrence_neighbours`, cached on disk keyed by every
    parameter and a hash of the interactions."""

    def build() -> dict[str, torch.Tensor]:
        return {"neighbours": item_cooccurrence_neighbours(users, items, num_users, num_items, k, min_common)[0]}

    params = {"k": k, "min_common": min_common, "num_users": num_users, "num_items": num_items, "version": 1}
    return cached("item_cooccurrence", params, [users.long(), items.long()], build, cache_dir)["neighbours"]


def consistent_knn_neighbours(features: Mapping[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Per modality, each item's ``k`` most similar items among the cross-modally consistent pairs.

    Args:
        features: modality -> ``[n, D_m]`` raw features (the same ``n`` items in every modality).
        k: neighbours per item.

    Returns:
        modality -> ``[n, k]`` neighbour ids by decreasing similarity, ``-1`` in unused slots (fewer
        than ``k`` consistent pairs, or a zero feature row).
    """
    if not features:
        raise ValueError("consistent_knn_neighbours needs at least one modality")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    sizes = {m: f.shape[0] for m, f in features.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every modality must have the same items, got row counts {sizes}")
    n = next(iter(sizes.values()))
    units, means = {}, {}
    valid = torch.ones(n, dtype=torch.bool)
    for modality, raw in features.items():
        raw = raw.detach().float().cpu()
        norms = torch.linalg.vector_norm(raw, dim=1)
        nonzero = norms > 0
        unit = raw / torch.where(nonzero, norms, torch.ones_like(norms)).unsqueeze(1)
        units[modality] = unit
        means[modality] = float(unit.sum(0).square().sum()) / (n * n)
        valid &= nonzero
    width = min(k, n)
    result = {m: torch.full((n, k), -1, dtype=torch.long) for m in features}
    rows_per_chunk = max(1, _SIMILARITY_CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        sims = {m: units[m][start:stop] @ units[m].T for m in features}
        consistent = valid[start:stop, None] & valid[None, :]
        for modality, sim in sims.items():
            consistent &= sim >= means[modality]
        for modality, sim in sims.items():
            values, index = torch.topk(sim.masked_fill(~consistent, float("-inf")), width, dim=1)
            result[modality][start:stop, :width] = torch.where(values > float("-inf"), index, -1)
    return result


def cached_consistent_knn_neighbours(
    features: Mapping[str, torch.Tensor], k: int, cache_dir: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """:func:`consistent_knn_neighbours`, cached on disk keyed by ``k``, the modalities and a hash of
    their features."""
    names = sorted(features)
    params = {"k": k, "modalities": names, "version": 1}
    inputs = [features[m].detach().float() for m in names]
    return cached("consistent_knn", params, inputs, lambda: consistent_knn_neighbours(features, k), cache_dir)


def with_self_loops(neighbours: torch.Tensor) -> torch.Tensor:
    """``[n, k + 1]``: every item as its own first neighbour, then ``neighbours`` (the behaviour
    graph's ``A + I``; the co-occurrence table never lists an item itself)."""
    own = torch.arange(neighbours.shape[0], device=neighbours.device).unsqueeze(1)
    return torch.cat([own, neighbours], dim=1)
