"""Item-item kNN graphs from modal features.

Shared by FREEDOM and DRAGON (frozen item kNN graph), LATTICE and MGCN (per-modality weighted kNN
graphs; LATTICE's learned graph, rebuilt every epoch from trainable projections, differentiably:
:func:`knn_cosine_edges`, :func:`lit_mmrec.nn.sparse.edge_list_matmul`). The user co-occurrence graph is in
:mod:`lit_mmrec.nn.user_graph`.

Item kNN graph of one modality (MMRec's ``get_knn_adj_mat`` + ``compute_normalized_laplacian``).
With ``x_i`` the raw ``[D]`` feature row of item ``i``:

    s_ij = <x_i, x_j> / (|x_i| |x_j|)                 (cosine; s_ii = 1, so i is its own first neighbour)
    N_k(i) = the k items j with the largest s_ij
    A_ij = 1 if j in N_k(i) else 0                    (or s_ij: the weighted variant LATTICE uses)
    Â = D^-1/2 A D^-1/2,  D = diag(row sums of A)     (row sums at both ends, as MMRec; A is not symmetric)

With the binary ``A`` every row sums to ``k``, so every entry of ``Â`` is ``1/k``. Modalities are mixed
as ``Â = Σ_m w_m Â_m`` (FREEDOM/DRAGON: 0.1 image + 0.9 text, MMRec's ``mm_image_weight``).

Differences from MMRec:

- safe cosine: MMRec divides by the row norm without an epsilon, so an all-zero row yields NaN
  similarities, which ``torch.topk`` ranks first, filling neighbour slots with such items. Here a
  zero row has no neighbours and is nobody's neighbour (its row of ``Â`` is empty);
- built in chunks of rows (never an ``n_items x n_items`` matrix) and cached on disk keyed by ``k``
  and a hash of the features (:mod:`lit_mmrec.data.cache`), never in the data folder;
- nodes whose (weighted) degree is not positive get no entries instead of MMRec's ``1e-7`` guard.

Not PyG's :func:`torch_geometric.nn.knn_graph`: it needs ``torch-cluster`` (not a dependency here),
has no safe cosine for zero rows and no on-disk cache; the graph it builds would be the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from lit_mmrec.data.cache import cached
from lit_mmrec.nn.normalisation import symmetric_normalised_weights

#: MMRec's item-graph modality weights (``mm_image_weight: 0.1``; text gets the rest).
MMREC_MODALITY_WEIGHTS = {"image": 0.1, "text": 0.9}

#: Elements of one chunk of the similarity matrix (float32: 64 MB).
_SIMILARITY_CHUNK_ELEMENTS = 1 << 24


# ----------------------------------------------------------------------------- kNN item graph
def knn_neighbours(features: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most cosine-similar rows of every row of ``features`` (itself included).

    Computed over chunks of rows, so memory stays at ``chunk x n`` similarities.

    Args:
        features: ``[n, D]`` feature matrix.
        k: neighbours per row.

    Returns:
        ``(neighbours, similarity)``, both ``[n, k]``: neighbour ids (``-1`` in unused slots: rows
        with zero norm, or fewer than ``k`` candidates) and their cosine similarity (0 in unused slots),
        sorted by decreasing similarity.
    """
    neighbours, similarity = _chunked_knn(features, k)
    return neighbours.cpu(), similarity.cpu()


def _unit_rows(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features / |row|, row has a positive norm)``; zero rows stay zero (no NaN, no NaN gradient)."""
    norms = torch.linalg.vector_norm(features, dim=1)
    valid = norms > 0
    unit = features / torch.where(valid, norms, torch.ones_like(norms)).unsqueeze(1)
    return unit, valid


def _chunked_knn(features: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`knn_neighbours` computed and returned on the device of ``features``."""
    if features.dim() != 2:
        raise ValueError(f"features must be 2-d [n_items, dim], got shape {tuple(features.shape)}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    features = features.detach().float()
    n, device = features.shape[0], features.device
    unit, valid = _unit_rows(features)
    unit[~valid] = 0.0
    width = min(k, int(valid.sum()))
    neighbours = torch.full((n, k), -1, dtype=torch.long, device=device)
    similarity = torch.zeros(n, k, device=device)
    if width == 0:
        return neighbours, similarity
    invalid_columns = (~valid).nonzero().squeeze(1)
    rows_per_chunk = max(1, _SIMILARITY_CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        sim = unit[start:stop] @ unit.T
        sim[:, invalid_columns] = float("-inf")  # zero rows are nobody's neighbour
        values, index = torch.topk(sim, width, dim=1)
        neighbours[start:stop, :width] = index
        similarity[start:stop, :width] = values
    neighbours[~valid] = -1
    similarity[~valid] = 0.0
    return neighbours, similarity


def cached_knn_neighbours(
    features: torch.Tensor, k: int, cache_dir: str | Path | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`knn_neighbours`, cached on disk keyed by ``k`` and a hash of ``features``."""

    def build() -> dict[str, torch.Tensor]:
        neighbours, similarity = knn_neighbours(features, k)
        return {"neighbours": neighbours, "similarity": similarity}

    entry = cached("item_knn", {"k": k, "version": 1}, [features.detach().float()], build, cache_dir)
    return entry["neighbours"], entry["similarity"]


def normalised_knn_adjacency(
    neighbours: torch.Tensor, similarity: torch.Tensor | None = None
) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of a kNN graph, as a coalesced sparse COO ``[n, n]`` float32.

    Args:
        neighbours: ``[n, k]`` neighbour ids, ``-1`` for unused slots (from :func:`knn_neighbours`).
        similarity: ``[n, k]`` edge weights for the weighted variant (LATTICE); None: binary ``A``
            (FREEDOM, DRAGON).

    ``D`` holds the row sums of ``A``; a node whose row sum is not positive gets no entries.
    """
    n = neighbours.shape[0]
    rows, cols, keep = neighbour_edges(neighbours)
    weights = torch.ones(rows.numel()) if similarity is None else similarity[keep].float()
    values = symmetric_normalised_weights(rows, cols, weights, n)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce()


def neighbour_edges(neighbours: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The used slots of an ``[n, k]`` neighbour table as an edge list: ``(rows, cols, keep)``, ``keep``
    the ``[n, k]`` mask of used slots (``neighbours >= 0``)."""
    n, k = neighbours.shape
    rows = torch.arange(n, device=neighbours.device).unsqueeze(1).expand(n, k)
    keep = neighbours >= 0
    return rows[keep], neighbours[keep], keep


def knn_cosine_edges(features: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cosine kNN graph of ``features`` as an edge list ``(rows, cols, cosine)`` on their device,
    differentiable in ``features`` (LATTICE's learned graph).

    The neighbours are chosen as :func:`knn_neighbours` does (chunked, safe cosine, without gradient);
    the cosine of each kept edge is then recomputed from ``features``, so the gradient reaches the
    features through the kept entries only, as through ``torch.topk`` over the dense similarity
    matrix. Memory: ``O(n k D)``, never ``n x n``.
    """
    neighbours, _ = _chunked_knn(features, k)
    rows, cols, _ = neighbour_edges(neighbours)
    unit, _ = _unit_rows(features)
    return rows, cols, (unit[rows] * unit[cols]).sum(-1)


def mixing_weights(
    modalities: list[str], weights: Mapping[str, float] | None, model: str
) -> dict[str, float]:
    """Per-modality item-graph weights for ``modalities``, renormalised to sum to 1.

    ``weights`` None means MMRec's ``{image: 0.1, text: 0.9}``. Weights of modalities that are not
    used are dropped and the rest renormalised (text alone gets 1.0); a used modality without a
    weight is an error, since no default exists for it.
    """
    weights = dict(MMREC_MODALITY_WEIGHTS if weights is None else weights)
    missing = [m for m in modalities if m not in weights]
    if missing:
        raise ValueError(
            f"{model}: no item-graph weight for modality {missing[0]!r} (weights given for {sorted(weights)}); "
            f"set modality_weights, e.g. {{{', '.join(f'{m}: ...' for m in modalities)}}}"
        )
    chosen = {m: float(weights[m]) for m in modalities}
    if any(w < 0 for w in chosen.values()) or sum(chosen.values()) <= 0:
        raise ValueError(f"{model}: modality weights must be non-negative with a positive sum, got {chosen}")
    total = sum(chosen.values())
    return {m: w / total for m, w in chosen.items()}


def mixed_knn_graph(
    features: Mapping[str, torch.Tensor],
    weights: Mapping[str, float],
    k: int,
    cache_dir: str | Path | None = None,
) -> torch.Tensor:
    """``Σ_m w_m Â_m`` over the modalities in ``weights``: the frozen item graph of FREEDOM and DRAGON.

    Returns a coalesced sparse COO ``[n_items, n_items]`` float32 tensor.
    """
    total = None
    for modality, weight in weights.items():
        neighbours, _ = cached_knn_neighbours(features[modality], k, cache_dir)
        part = normalised_knn_adjacency(neighbours) * weight
        total = part if total is None else total + part
    if total is None:
        raise ValueError("mixed_knn_graph needs at least one modality")
    return total.coalesce()
