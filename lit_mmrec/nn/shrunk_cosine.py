r"""Item-item kNN graph of shrunk cosine similarities (ItemKNNCBF's content similarity).

With ``x_i`` the ``[D]`` feature row of item ``i`` and ``h >= 0`` the shrink term (Dacrema et al.,
"Are We Really Making Much Progress?", RecSys 2019; MMRec ``ItemKNNCBF.build_item_sim_matrix``):

    s_ij = <x_i, x_j> / (|x_i| |x_j| + h)          (0 where the denominator is 0: a zero row with h = 0)
    N_k(i) = the k items j with the largest s_ij     (itself included, as in MMRec; ties as torch.topk)
    W_ij = s_ij if j in N_k(i) else 0                (rows keep their own k entries; W is not symmetric)

The shrink term pulls the similarity of items with small feature norms towards zero. Unlike
:func:`lit_mmrec.nn.knn_graph.knn_neighbours` (plain cosine, zero rows excluded), every item is a
candidate here, as in MMRec: a zero row has similarity 0 to every item and still fills its ``k``
slots. Built over chunks of rows (never ``n x n``), cached on disk keyed by ``k``, ``h`` and a hash of
the features.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lit_mmrec.data.cache import cached
from lit_mmrec.data.pairs import pairs_to_csr

#: Elements of one chunk of the similarity matrix (float32: 64 MB).
_SIMILARITY_CHUNK_ELEMENTS = 1 << 24


def shrunk_cosine_neighbours(features: torch.Tensor, k: int, shrink: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` items of largest shrunk cosine similarity to every item.

    Args:
        features: ``[n, D]`` item features.
        k: neighbours per item (clipped to ``n``).
        shrink: ``h >= 0`` added to the product of norms.

    Returns:
        ``(neighbours, similarity)``, both ``[n, min(k, n)]`` on the CPU, by decreasing similarity.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be 2-d [n_items, dim], got shape {tuple(features.shape)}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if not shrink >= 0:
        raise ValueError(f"shrink must be >= 0, got {shrink}")
    features = features.detach().float()
    n = features.shape[0]
    width = min(k, n)
    norms = torch.linalg.vector_norm(features, dim=1)
    neighbours = torch.empty(n, width, dtype=torch.long, device=features.device)
    similarity = torch.empty(n, width, device=features.device)
    rows_per_chunk = max(1, _SIMILARITY_CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        denominator = norms[start:stop, None] * norms[None, :] + shrink
        products = features[start:stop] @ features.T
        sim = torch.where(denominator > 0, products / torch.where(denominator > 0, denominator, 1.0), 0.0)
        values, index = torch.topk(sim, width, dim=1)
        neighbours[start:stop] = index
        similarity[start:stop] = values
    return neighbours.cpu(), similarity.cpu()


def shrunk_cosine_graph(
    features: torch.Tensor, k: int, shrink: float, cache_dir: str | Path | None = None
) -> torch.Tensor:
    """``W`` as a sparse CSR ``[n, n]`` float32 tensor (row ``i``: the ``k`` neighbours of ``i``), cached."""

    def build() -> dict[str, torch.Tensor]:
        neighbours, similarity = shrunk_cosine_neighbours(features, k, shrink)
        return {"neighbours": neighbours, "similarity": similarity}

    params = {"k": k, "shrink": float(shrink), "version": 1}
    entry = cached("item_knn_shrunk_cosine", params, [features.detach().float()], build, cache_dir)
    neighbours, similarity = entry["neighbours"], entry["similarity"]
    n, width = neighbours.shape
    rows = torch.arange(n).repeat_interleave(width)
    return pairs_to_csr(rows, neighbours.reshape(-1), n, n, similarity.reshape(-1))
