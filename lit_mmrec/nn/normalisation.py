r"""Symmetric normalisation ``Â = D^-1/2 A D^-1/2`` of the graphs the backbones propagate over.

- :func:`bipartite_adjacency`: the user-item graph of the training interactions, ``[(U + I), (U + I)]``,
  users first, items offset by ``U``, no self-loops (LightGCN, MMRec);
- :func:`symmetric_normalise`: ``Â`` of a symmetric binary edge list, as int32 CSR;
- :func:`symmetric_normalised_weights`: the edge values of ``Â`` for a weighted, possibly
  non-symmetric edge list with ``D`` its row sums (MMRec's ``compute_normalized_laplacian`` of the
  kNN item graphs), differentiable in the weights (LATTICE's learned graph).

PyG's :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm` computes the same ``D^-1/2 A D^-1/2`` but
not bit for bit: it takes ``pow(-0.5)`` where the kNN graphs here take ``rsqrt``, and sums weighted
degrees by ``scatter``; the recorded numbers (tests/models/test_same_numbers.py) were produced with
these, so they stay. A node whose degree is not positive gets no entries (MMRec adds 1e-7).
"""

from __future__ import annotations

import torch

from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.nn.sparse import int32_csr


def symmetric_normalise(rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of a symmetric binary edge list, as a sparse CSR ``[size, size]`` float32.

    Nodes without edges get degree 0 and no entries (MMRec adds 1e-7 to degrees for the
    same effect). Indices are int32 (:func:`int32_csr`).
    """
    degree = torch.bincount(rows, minlength=size).float()
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt[degree == 0] = 0.0
    return int32_csr(pairs_to_csr(rows, cols, size, size, inv_sqrt[rows] * inv_sqrt[cols]))


def bipartite_adjacency(
    users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int
) -> torch.Tensor:
    """Normalised user-item graph ``[(U + I), (U + I)]``: users first, items offset by ``num_users``.

    Built from training interactions only; no self-loops (LightGCN, MMRec).
    """
    item_nodes = items.long() + num_users
    rows = torch.cat([users.long(), item_nodes])
    cols = torch.cat([item_nodes, users.long()])
    return symmetric_normalise(rows, cols, num_users + num_items)


def symmetric_normalised_weights(
    rows: torch.Tensor, cols: torch.Tensor, weights: torch.Tensor, n: int
) -> torch.Tensor:
    """Edge values of ``D^-1/2 A D^-1/2`` for the edge list ``A`` (repeated edges add up), ``D`` its
    row sums; edges touching a node whose row sum is not positive get 0. Differentiable in ``weights``."""
    degree = torch.zeros(n, dtype=weights.dtype, device=weights.device).index_add(0, rows, weights)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(1e-30).rsqrt(), torch.zeros_like(degree))
    return weights * inv_sqrt[rows] * inv_sqrt[cols]
