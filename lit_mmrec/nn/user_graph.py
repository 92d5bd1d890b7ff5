r"""The user co-occurrence graph of DRAGON and DualGNN, with MMRec's per-epoch padding.

User co-occurrence graph (DRAGON, MMRec's ``preprocessing/dualgnn-gen-u-u-matrix.py``): ``c_uv`` is
the number of training items users ``u != v`` share; each user keeps the users with the largest
``c_uv > 0`` (ties by smaller id: the script leaves them to ``torch.topk``). MMRec stores the result
as a pickled ``user_graph_dict.npy``; :func:`user_cooccurrence_graph` reads that file only through an
unpickler that can build nothing but numpy arrays, lists and numbers, and builds the graph from the
training interactions otherwise.

Each user's ``k`` users sharing the most training items
(:func:`user_cooccurrence_graph`: MMRec's ``user_graph_dict.npy`` when
it reads safely, otherwise built from the training interactions), weighted by a softmax over those
counts (``beta``). In each training epoch MMRec pads users with ``0 < n < k`` neighbours to ``k`` by
repeatedly copying a uniformly drawn entry of the growing list (a Pólya urn), so a neighbour copied
``c`` times gets ``c`` times its softmax share; :func:`user_graph_weights` draws the same distribution
in one vectorised step (the copy counts minus one are Dirichlet(1)-multinomial). Evaluation uses the
deterministic weights (each neighbour once: the padding's expectation).

:class:`UserGraphMixin` holds the graph on a backbone: the neighbours and counts as data buffers,
this epoch's padded weights (redrawn at the start of every training epoch, MMRec's
``pre_epoch_processing``) and the weights as a sparse ``[U, U]`` matrix.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lit_mmrec.data.cache import cached
from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.nn.sparse import csr_pair

log = logging.getLogger(__name__)

#: Where the user graph may come from (see :func:`user_cooccurrence_graph`).
USER_GRAPH_SOURCES = ("auto", "file", "build")


def check_user_graph_source(source: str) -> None:
    """Raise ``ValueError`` unless ``source`` is one of :data:`USER_GRAPH_SOURCES`."""
    if source not in USER_GRAPH_SOURCES:
        raise ValueError(f"user_graph_source must be one of {USER_GRAPH_SOURCES}, got {source!r}")


#: (user, user) pairs expanded at once when counting co-occurrences.
_PAIR_CHUNK = 1 << 22


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
    user_item = pairs_to_csr(users, items, num_users, num_items)
    item_user = pairs_to_csr(items, users, num_items, num_users)
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
    check_user_graph_source(source)
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


def user_graph_weights(counts: torch.Tensor, valid: torch.Tensor, pad: bool) -> torch.Tensor:
    """Softmax weights over each user's neighbour slots ``[num_users, k]`` (0 in unused slots).

    Args:
        counts: co-occurrence counts (the softmax logits), ``[num_users, k]``.
        valid: which slots hold a neighbour.
        pad: draw MMRec's per-epoch padding of users with ``0 < n < k`` neighbours (a neighbour
            repeated ``c`` times weighs ``c exp(count)``); False uses each neighbour once.
    """
    k = counts.shape[1]
    multiplicity = valid.to(counts.dtype)
    if pad:
        filled = valid.sum(1)
        rows = ((filled > 0) & (filled < k)).nonzero().squeeze(1)
        if rows.numel():
            # Pólya urn with one ball per neighbour, k - n draws: the extra copies are
            # Dirichlet(1, ..., 1)-multinomial.
            shares = torch.empty(rows.numel(), k, device=counts.device).exponential_() * valid[rows]
            draws = torch.multinomial(shares / shares.sum(1, keepdim=True), k, replacement=True)
            used = torch.arange(k, device=counts.device).unsqueeze(0) < (k - filled[rows]).unsqueeze(1)
            extra = torch.zeros(rows.numel(), k, device=counts.device).scatter_add_(1, draws, used.float())
            multiplicity[rows] += extra
    logits = (counts + multiplicity.clamp_min(1e-30).log()).masked_fill(~valid, float("-inf"))
    return torch.where(valid, torch.softmax(logits, dim=1), torch.zeros_like(counts))


def user_graph_matrix(neighbours: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The user graph as sparse CSR ``B [U, U]`` with ``B[u, v] = beta_uv`` (repeated slots add up),
    and its transpose.

    Args:
        neighbours: ``[U, k]`` neighbour ids, ``-1`` in unused slots.
        weights: ``[U, k]`` weight of each slot (0 in unused ones).
    """
    num_users, k = neighbours.shape
    used = neighbours >= 0
    rows = torch.arange(num_users, device=neighbours.device).repeat_interleave(used.sum(1))
    matrix = torch.sparse_coo_tensor(torch.stack([rows, neighbours[used]]), weights[used], (num_users, num_users))
    return csr_pair(matrix)


class UserGraphMixin:
    """The user co-occurrence graph of a :class:`~lit_mmrec.models.base.RecommenderModule`, padded
    anew in every training epoch. List it before the module's base class (its
    :meth:`on_train_epoch_start` chains to the base's) and call :meth:`build_user_graph` from ``build``.

    Buffers (data, not saved in checkpoints): ``user_neighbours [U, k]`` (ids, ``-1`` in unused
    slots), ``user_neighbour_counts``, ``user_neighbour_valid`` and ``eval_user_weights`` (the
    deterministic ``beta``); ``user_graph_origin`` says where the graph came from.
    """

    num_users: int
    training: bool
    register_data: Callable[[str, torch.Tensor], None]
    user_neighbours: torch.Tensor
    user_neighbour_counts: torch.Tensor
    user_neighbour_valid: torch.Tensor
    eval_user_weights: torch.Tensor

    def build_user_graph(self, dataset: MMRecDataset, k: int, source: str) -> None:
        """Read or build the graph of ``dataset`` (``k`` neighbours per user, ``source`` one of
        :data:`USER_GRAPH_SOURCES`) and register its buffers."""
        neighbours, counts, origin = user_cooccurrence_graph(dataset, k, source)
        self.user_graph_origin = origin
        log.info(
            "%s user graph: %s", type(self).__name__, "read from " + origin[5:] if origin.startswith("file:") else origin
        )
        valid = neighbours >= 0
        self.register_data("user_neighbours", neighbours)
        self.register_data("user_neighbour_counts", counts)
        self.register_data("user_neighbour_valid", valid)
        self.register_data("eval_user_weights", user_graph_weights(counts, valid, pad=False))
        self._epoch_user_weights: torch.Tensor | None = None
        self._epoch_user_graph: tuple[torch.Tensor, torch.Tensor] | None = None
        self._eval_user_graph: tuple[torch.Tensor, torch.Tensor] | None = None

    def resample_user_graph(self) -> None:
        """Draw this epoch's padded weights (MMRec's ``pre_epoch_processing``)."""
        self._epoch_user_weights = user_graph_weights(
            self.user_neighbour_counts, self.user_neighbour_valid, pad=True
        )
        self._epoch_user_graph = None

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()  # type: ignore[misc]
        self.resample_user_graph()

    def user_weights(self) -> torch.Tensor:
        """``beta [U, k]``: this epoch's padded weights in training, the deterministic ones in evaluation."""
        if not self.training:
            return self.eval_user_weights
        if getattr(self, "_epoch_user_weights", None) is None:
            self.resample_user_graph()
        return self._epoch_user_weights

    def user_graph(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, B^T)`` of :meth:`user_weights` as sparse CSR matrices (:func:`user_graph_matrix`),
        built on first use in each training epoch, and once for evaluation (again if the module
        moved to another device)."""
        weights = self.user_weights()
        cache = "_epoch_user_graph" if self.training else "_eval_user_graph"
        graph = getattr(self, cache, None)
        if graph is None or graph[0].device != weights.device:
            graph = user_graph_matrix(self.user_neighbours, weights)
            setattr(self, cache, graph)
        return graph
