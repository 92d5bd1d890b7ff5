r"""Symmetric normalisation ``Â = D^-1/2 A D^-1/2`` of the graphs the backbones propagate over.

- :func:`bipartite_adjacency`: the user-item graph of the training interactions, ``[(U + I), (U + I)]``,
  users first, items offset by ``U``, no self-loops (LightGCN, MMRec);
- :func:`symmetric_normalise`: ``Â`` of a symmetric binary edge list, as int32 CSR;
- :func:`symmetric_normalised_weights`: the edge values of ``Â`` for a weighted, possibly
  non-symmetric edge list with ``D`` its row sums (MMRec's ``compute_normalized_laplacian`` of the
  kNN item graphs), differentiable in the weights (LATTICE's learned graph).

The binary graphs are normalised by PyG's :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm`
(``add_self_loops=False``); a node without edges gets no entries (MMRec adds 1e-7 to the degrees
for the same effect). The weighted one is not: ``gcn_norm`` gives NaN for a node whose weighted
degree is negative (LATTICE's learned cosine weights can be) where this gives 0; on non-negative
weights the two agree bit for bit (checked on ml100k's kNN graphs).
"""

from __future__ import annotations

import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.nn.sparse import int32_csr


def symmetric_normalise(rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of a symmetric binary edge list, as a sparse CSR ``[size, size]`` float32.

    Nodes without edges get degree 0 and no entries (MMRec adds 1e-7 to degrees for the
    same effect). Indices are int32 (:func:`int32_csr`).
    """
    edge_index, values = gcn_norm(torch.stack([rows, cols]), None, size, add_self_loops=False)
    return int32_csr(pairs_to_csr(edge_index[0], edge_index[1], size, size, values))


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


def user_item_block(adjacency: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """The user-to-item block ``[U, I]`` (sparse COO) of a bipartite graph ``[(U + I), (U + I)]`` laid out as
    :func:`bipartite_adjacency` lays it out (users first): the normalised weights a user's propagation over its
    items uses."""
    entries = adjacency.to_sparse_coo().coalesce()
    (rows, cols), values = entries.indices(), entries.values()
    user_rows = rows < num_users
    return torch.sparse_coo_tensor(
        torch.stack([rows[user_rows], cols[user_rows] - num_users]), values[user_rows], (num_users, num_items)
    )

