r"""A low-rank user-item graph kept as its factors (truncated-SVD graph denoising; PGL's global
principal subgraph, :class:`~lit_mmrec.models.pgl.PGL`).

With ``Y [U, I]`` the binary training interactions and ``d`` the node degrees, the normalised
user-item matrix is ``R = D_u^-1/2 Y D_i^-1/2``, the off-diagonal block of the normalised bipartite
adjacency ``Â = [[0, R], [R^T, 0]]`` (:func:`lit_mmrec.nn.normalisation.bipartite_adjacency`). Its
truncated SVD (:func:`truncated_svd`)

    R ≈ P diag(s) Q^T,    P [U, r],  Q [I, r],  s_1 >= ... >= s_r >= 0,

gives, for any weights ``w [r']`` over the first ``r' <= r`` triplets, the low-rank graph
``M = P' diag(w) Q'^T`` (``w = s``: the best rank-``r'`` approximation of ``R``). It acts on node
features as the bipartite graph ``[[0, M], [M^T, 0]]`` (:func:`low_rank_propagate`):

    users_out = P' (w ⊙ (Q'^T x_items)),    items_out = Q' (w ⊙ (P'^T x_users)),

in ``O((U + I) r' F)``; ``M`` itself, a dense ``U x I`` matrix, is never formed. Where a sparse graph
of the large entries of ``M`` is wanted, :func:`low_rank_entries` lists the entries with
``|M_ui| >= threshold``, computed over chunks of users (at most about ``2^22`` values at a time).

The SVD is scipy's ARPACK ``svds`` in float64 with a fixed start vector (deterministic, and exact to
ARPACK's tolerance, where ``torch.svd_lowrank`` is randomised and approximates the smaller of the
``r`` singular values less well); ``R`` stays sparse throughout.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds

#: Entries of ``M`` formed at a time by :func:`low_rank_entries` (float32: 16 MB).
_ENTRY_CHUNK_ELEMENTS = 1 << 22


def normalised_interactions(
    users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int
) -> sp.csr_matrix:
    """``R = D_u^-1/2 Y D_i^-1/2`` of the (distinct) training pairs as a scipy CSR ``[U, I]`` float64."""
    users_np, items_np = users.long().cpu().numpy(), items.long().cpu().numpy()
    user_degree = np.bincount(users_np, minlength=num_users).astype(np.float64)
    item_degree = np.bincount(items_np, minlength=num_items).astype(np.float64)
    values = 1.0 / np.sqrt(user_degree[users_np] * item_degree[items_np])
    return sp.csr_matrix((values, (users_np, items_np)), shape=(num_users, num_items))


def truncated_svd(matrix: sp.spmatrix, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``rank`` largest singular triplets of a sparse ``matrix [m, n]``, largest first.

    Args:
        matrix: scipy sparse matrix.
        rank: number of triplets, ``0 < rank < min(m, n)`` (ARPACK's limit).

    Returns:
        ``(P [m, rank], s [rank], Q [n, rank])`` float32 tensors with ``matrix ≈ P diag(s) Q^T``.
    """
    m, n = matrix.shape
    if not 0 < rank < min(m, n):
        raise ValueError(f"the SVD rank must lie in [1, {min(m, n) - 1}] for a {m} x {n} matrix, got {rank}")
    start = np.full(min(m, n), 1.0 / np.sqrt(min(m, n)))
    left, values, right_t = svds(matrix.astype(np.float64), k=rank, v0=start, solver="arpack")
    order = np.argsort(-values)  # svds returns them in increasing order
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    return as_tensor(left[:, order]), as_tensor(values[order]), as_tensor(right_t[order].T)


def low_rank_propagate(
    users: torch.Tensor,
    items: torch.Tensor,
    user_factors: torch.Tensor,
    weights: torch.Tensor,
    item_factors: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One product with the bipartite graph ``[[0, M], [M^T, 0]]``, ``M = P diag(w) Q^T``.

    Args:
        users: ``[U, F]`` user-node features.
        items: ``[I, F]`` item-node features.
        user_factors: ``P [U, r]``.
        weights: ``w [r]``.
        item_factors: ``Q [I, r]``.

    Returns:
        ``(M items [U, F], M^T users [I, F])``.
    """
    scale = weights.unsqueeze(1)
    return user_factors @ (scale * (item_factors.T @ items)), item_factors @ (scale * (user_factors.T @ users))


def low_rank_entries(
    user_factors: torch.Tensor, weights: torch.Tensor, item_factors: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The entries of ``M = P diag(w) Q^T`` with ``|M_ui| >= threshold``, as ``(users, items, values)``.

    Formed over chunks of users, so at most about ``2^22`` entries of ``M`` exist at a time.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive (every entry of M would be kept), got {threshold}")
    num_items = item_factors.shape[0]
    weighted_t = (item_factors * weights).T  # [r, I]
    rows = max(1, _ENTRY_CHUNK_ELEMENTS // max(1, num_items))
    found_users, found_items, found_values = [], [], []
    for start in range(0, user_factors.shape[0], rows):
        block = user_factors[start : start + rows] @ weighted_t
        u, i = (block.abs() >= threshold).nonzero(as_tuple=True)
        found_users.append(u + start)
        found_items.append(i)
        found_values.append(block[u, i])
    return torch.cat(found_users), torch.cat(found_items), torch.cat(found_values)
