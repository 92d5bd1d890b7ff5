"""Homogeneous graphs derived from training data: item-item kNN graphs from modal features and the
user-user co-occurrence graph, plus the sparse product that propagates over them.

Shared by FREEDOM and DRAGON (frozen item kNN graph), LATTICE and MGCN (per-modality weighted kNN
graphs; LATTICE's learned graph, rebuilt every epoch from trainable projections, differentiably:
:func:`knn_cosine_edges`, :func:`edge_list_matmul`) and DRAGON (user co-occurrence graph).

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

User co-occurrence graph (DRAGON, MMRec's ``preprocessing/dualgnn-gen-u-u-matrix.py``): ``c_uv`` is
the number of training items users ``u != v`` share; each user keeps the users with the largest
``c_uv > 0`` (ties by smaller id: the script leaves them to ``torch.topk``). MMRec stores the result
as a pickled ``user_graph_dict.npy``; :func:`user_cooccurrence_graph` reads that file only through an
unpickler that can build nothing but numpy arrays, lists and numbers, and builds the graph from the
training interactions otherwise.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from lit_mmrec.data.cache import cached
from lit_mmrec.data.loader import MMRecDataset, interactions_to_csr
from lit_mmrec.nn.sparse import csr_mm

log = logging.getLogger(__name__)

#: MMRec's item-graph modality weights (``mm_image_weight: 0.1``; text gets the rest).
MMREC_MODALITY_WEIGHTS = {"image": 0.1, "text": 0.9}

#: Elements of one chunk of the similarity matrix (float32: 64 MB).
_SIMILARITY_CHUNK_ELEMENTS = 1 << 24
#: (user, user) pairs expanded at once when counting co-occurrences.
_PAIR_CHUNK = 1 << 22


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


def symmetric_normalised_weights(
    rows: torch.Tensor, cols: torch.Tensor, weights: torch.Tensor, n: int
) -> torch.Tensor:
    """Edge values of ``D^-1/2 A D^-1/2`` for the edge list ``A`` (repeated edges add up), ``D`` its
    row sums; edges touching a node whose row sum is not positive get 0. Differentiable in ``weights``."""
    degree = torch.zeros(n, dtype=weights.dtype, device=weights.device).index_add(0, rows, weights)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(1e-30).rsqrt(), torch.zeros_like(degree))
    return weights * inv_sqrt[rows] * inv_sqrt[cols]


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


# ------------------------------------------------------------------- sparse product with transpose
def csr_pair(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, M^T)`` of a sparse COO matrix, both as CSR (for :func:`sparse_matmul`)."""
    matrix = matrix.coalesce()
    return matrix.to_sparse_csr(), matrix.t().coalesce().to_sparse_csr()


class _SparseMatmul(torch.autograd.Function):
    """``M @ x`` with the backward ``M^T @ grad`` using a precomputed ``M^T``.

    torch's own backward for a sparse CSR operand transposes ``M`` on every call (see
    :func:`lit_mmrec.nn.sparse.symmetric_spmm`, which covers symmetric matrices).
    """

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, matrix_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.matrix_t = matrix_t
        return csr_mm(matrix, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, None, csr_mm(ctx.matrix_t, grad.contiguous())


def sparse_matmul(matrix: torch.Tensor, matrix_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a (not necessarily symmetric) sparse ``matrix`` whose transpose is ``matrix_t``."""
    return _SparseMatmul.apply(matrix, matrix_t, x)


#: Edges whose value gradient is formed at once in :class:`_EdgeListMatmul` (x their feature width).
_EDGE_CHUNK_ELEMENTS = 1 << 22


class _EdgeListMatmul(torch.autograd.Function):
    """``A @ x`` for ``A`` given as an edge list ``(rows, cols, values)``, differentiable in ``values``
    and ``x``. The backward forms ``dL/dvalue_e = <grad[row_e], x[col_e]>`` in chunks of edges and
    ``A^T @ grad`` as one sparse product; memory ``O(|E| + n D)`` (torch's autograd through a sparse
    COO matrix measured ~10x slower, an ``index_add`` over gathered rows stores ``|E| x D``)."""

    @staticmethod
    def forward(ctx, rows, cols, values, x, num_rows):  # type: ignore[override]
        indices = torch.stack([rows, cols])
        matrix = torch.sparse_coo_tensor(indices, values, (num_rows, x.shape[0])).coalesce()
        ctx.save_for_backward(rows, cols, values, x)
        ctx.num_rows = num_rows
        return csr_mm(matrix.to_sparse_csr(), x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rows, cols, values, x = ctx.saved_tensors
        grad = grad.contiguous()
        grad_values = grad_x = None
        if ctx.needs_input_grad[2]:
            grad_values = torch.empty_like(values)
            step = max(1, _EDGE_CHUNK_ELEMENTS // max(1, x.shape[1]))
            for start in range(0, rows.numel(), step):
                stop = start + step
                grad_values[start:stop] = (grad[rows[start:stop]] * x[cols[start:stop]]).sum(-1)
        if ctx.needs_input_grad[3]:
            transpose = torch.sparse_coo_tensor(
                torch.stack([cols, rows]), values.detach(), (x.shape[0], ctx.num_rows)
            ).coalesce()
            grad_x = csr_mm(transpose.to_sparse_csr(), grad)
        return None, None, grad_values, grad_x, None


def edge_list_matmul(
    rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, x: torch.Tensor, num_rows: int
) -> torch.Tensor:
    """``A @ x`` with ``A [num_rows, len(x)]`` the sum of ``values[e]`` at ``(rows[e], cols[e])``;
    differentiable in ``values`` (the learned item graph of LATTICE) and in ``x``."""
    return _EdgeListMatmul.apply(rows, cols, values, x, num_rows)


# ------------------------------------------------------------------------- user co-occurrence graph
def cooccurrence_neighbours(
    users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each user's ``k`` users sharing the most training items.

    Args:
        users, items: training interactions (duplicates are ignored).
        num_users, num_items: sizes of the id spaces.
        k: neighbours kept per user.

    Returns:
        ``(neighbours, counts)``, both ``[num_users, k]``: neighbour ids sorted by decreasing number of
        shared items ``c_uv > 0`` (ties: smaller id first), ``-1`` in unused slots; and ``c_uv`` as
        float32 (0 in unused slots).
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    key = torch.unique(users.long() * num_items + items.long())
    users, items = key // num_items, key % num_items
    user_item = interactions_to_csr(users, items, num_users, num_items)
    item_user = interactions_to_csr(items, users, num_items, num_users)
    neighbours = torch.full((num_users, k), -1, dtype=torch.long)
    counts = torch.zeros(num_users, k)
    crow, col = user_item.crow_indices(), user_item.col_indices()
    # pairs a chunk of users expands to: sum over their items of the item degree
    item_degree = torch.bincount(items, minlength=num_items)
    pair_cost = torch.zeros(num_users, dtype=torch.long).index_add_(0, users, item_degree[items])
    cumulative = torch.cumsum(pair_cost, 0)
    start = 0
    while start < num_users:
        base = cumulative[start - 1] if start > 0 else 0
        stop = int(torch.searchsorted(cumulative, base + _PAIR_CHUNK, right=True))
        stop = min(num_users, max(stop, start + 1))
        lo, hi = int(crow[start]), int(crow[stop])
        chunk = torch.sparse_csr_tensor(
            crow[start : stop + 1] - lo, col[lo:hi], torch.ones(hi - lo), size=(stop - start, num_items)
        )
        shared = torch.sparse.mm(chunk, item_user)  # [chunk, num_users] CSR of c_uv
        row_counts = shared.crow_indices().diff()
        rows = torch.repeat_interleave(torch.arange(stop - start), row_counts)
        cols = shared.col_indices()
        values = shared.values().round().long()
        off_diagonal = cols != rows + start
        rows, cols, values = rows[off_diagonal], cols[off_diagonal], values[off_diagonal]
        if rows.numel():
            top = int(values.max())
            # sort by (row asc, count desc, id asc) with one int64 key
            sort_key = (rows * (top + 1) + (top - values)) * num_users + cols
            order = torch.argsort(sort_key)
            rows, cols, values = rows[order], cols[order], values[order]
            first = torch.zeros(stop - start, dtype=torch.long)
            first[1:] = torch.cumsum(torch.bincount(rows, minlength=stop - start), 0)[:-1]
            rank = torch.arange(rows.numel()) - first[rows]
            keep = rank < k
            neighbours[rows[keep] + start, rank[keep]] = cols[keep]
            counts[rows[keep] + start, rank[keep]] = values[keep].float()
        start = stop
    return neighbours, counts


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can construct numpy arrays and scalars and nothing else (lists, dicts and
    numbers need no globals)."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "numpy":
            return getattr(np, name)
        multiarray = getattr(np, "_core", None) or np.core
        return getattr(multiarray.multiarray, name)


def read_user_graph_dict(
    path: str | Path, num_users: int, k: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """MMRec's ``user_graph_dict.npy`` (``{user: [neighbour ids, counts]}``), read without running any
    code from the file; the first ``k`` neighbours of each user, in the file's order.

    Returns ``(neighbours, counts)`` as :func:`cooccurrence_neighbours` does, or None (with the
    reason logged) when the file is not such a dict over ``num_users`` users.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            if dtype != np.dtype(object) or shape != ():
                raise ValueError(
                    f"expected a pickled dict (0-d object array), got shape {shape} dtype {dtype}"
                )
            array = _ArrayOnlyUnpickler(handle).load()
        graph = array.item() if isinstance(array, np.ndarray) else array
        if not isinstance(graph, dict):
            raise ValueError(f"expected a dict, got {type(graph).__name__}")
        if len(graph) != num_users:
            raise ValueError(f"it has {len(graph)} users, the data set {num_users}")
        neighbours = torch.full((num_users, k), -1, dtype=torch.long)
        counts = torch.zeros(num_users, k)
        for user, entry in graph.items():
            user = int(user)
            ids, weights = entry[0][:k], entry[1][:k]
            if not 0 <= user < num_users or len(ids) != len(weights):
                raise ValueError(f"malformed entry for user {user}")
            if len(ids):
                ids_tensor = torch.as_tensor(np.asarray(ids, dtype=np.int64))
                weight_tensor = torch.as_tensor(np.asarray(weights, dtype=np.float32))
                if (
                    ids_tensor.min() < 0
                    or ids_tensor.max() >= num_users
                    or not torch.isfinite(weight_tensor).all()
                ):
                    raise ValueError(f"user {user} has neighbour ids out of range or non-finite counts")
                neighbours[user, : len(ids)] = ids_tensor
                counts[user, : len(ids)] = weight_tensor
    except Exception as error:  # anything unexpected: fall back to building the graph
        log.warning("not using %s (%s); building the user graph from the training interactions", path, error)
        return None
    return neighbours, counts


def user_cooccurrence_graph(
    dataset: MMRecDataset, k: int, source: str = "auto", cache_dir: str | Path | None = None
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The user co-occurrence graph of ``dataset``: ``(neighbours, counts, origin)``.

    Args:
        dataset: the data set (its training interactions, and its folder for ``user_graph_dict.npy``).
        k: neighbours per user.
        source: ``"auto"``: ``user_graph_dict.npy`` when it exists and reads safely, otherwise built
            from the training interactions; ``"file"``: the file, failing if it cannot be used;
            ``"build"``: always built (cached on disk).
        cache_dir: root of the graph cache.

    ``origin`` says which was used; it is also logged.
    """
    if source not in ("auto", "file", "build"):
        raise ValueError(f"user graph source must be 'auto', 'file' or 'build', got {source!r}")
    path = Path(dataset.folder) / "user_graph_dict.npy" if dataset.folder is not None else None
    if source != "build" and path is not None and path.is_file():
        loaded = read_user_graph_dict(path, dataset.num_users, k)
        if loaded is not None:
            log.info("user graph of %s: read from %s (top %d per user)", dataset.name, path, k)
            return loaded[0], loaded[1], f"file:{path}"
    if source == "file":
        raise ValueError(f"user_graph_source='file' but {path} is missing or unreadable (see the log)")
    train = dataset.train

    def build() -> dict[str, torch.Tensor]:
        neighbours, counts = cooccurrence_neighbours(
            train.users, train.items, dataset.num_users, dataset.num_items, k
        )
        return {"neighbours": neighbours, "counts": counts}

    params = {"k": k, "num_users": dataset.num_users, "num_items": dataset.num_items, "version": 1}
    entry = cached("user_cooccurrence", params, [train.users, train.items], build, cache_dir)
    log.info(
        "user graph of %s: built from %d training interactions (top %d per user)", dataset.name, len(train), k
    )
    return entry["neighbours"], entry["counts"], "built"
