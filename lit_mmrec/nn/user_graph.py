r"""The user co-occurrence graph of DRAGON and DualGNN, with MMRec's per-epoch padding.

Each user's ``k`` users sharing the most training items
(:func:`~lit_mmrec.nn.knn_graph.user_cooccurrence_graph`: MMRec's ``user_graph_dict.npy`` when
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
from collections.abc import Callable

import torch

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.nn.knn_graph import csr_pair, user_cooccurrence_graph

log = logging.getLogger(__name__)

#: Where the user graph may come from (see :func:`~lit_mmrec.nn.knn_graph.user_cooccurrence_graph`).
USER_GRAPH_SOURCES = ("auto", "file", "build")


def check_user_graph_source(source: str) -> None:
    """Raise ``ValueError`` unless ``source`` is one of :data:`USER_GRAPH_SOURCES`."""
    if source not in USER_GRAPH_SOURCES:
        raise ValueError(f"user_graph_source must be one of {USER_GRAPH_SOURCES}, got {source!r}")


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
