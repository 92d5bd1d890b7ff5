r"""The kNN-intersection item edges and the user-item graph they augment (GUME: Lin et al., "GUME: Graphs
and User Modalities Enhancement for Long-Tail Multimodal Recommendation", CIKM 2024, section "Enhancing
User-Item Graph"; ``find_inter``, ``add_edge`` and ``get_adj_mat`` of ``NanGongNingYi/GUME`` ``src/models/gume.py``).

With ``N_m(i)`` the ``k`` nearest items of item ``i`` in modality ``m`` (:func:`lit_mmrec.nn.knn_graph.knn_neighbours`,
itself included), the intersection edges are

    E_∩ = {(i, j) : j ∈ N_1(i) ∩ ... ∩ N_M(i), j != i}

(with one modality: ``N_1(i)`` without ``i``). They are directed: ``j`` in every neighbour list of ``i``
does not put ``i`` in those of ``j``. The augmented graph over ``U + I`` nodes (users first) is

    A = [[0, R], [R^T, C]],   C_ij = 1 for (i, j) ∈ E_∩,    Â = D^-1/2 A D^-1/2,   D = diag(row sums of A)

(``R`` the binary training interactions), so an item's degree counts its users and its intersection
edges, and ``Â`` is not symmetric when ``C`` is not. A node whose row sum is 0 gets no entries.

Memory: ``O(n k^2)`` booleans per pair of modalities (every slot of one list against every slot of the
other), never ``n x n``.
"""

from __future__ import annotations

import torch

from lit_mmrec.nn.normalisation import symmetric_normalised_weights


def knn_intersection_edges(neighbour_tables: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, cols)`` of ``E_∩``: ``j`` in every table's row ``i`` and ``j != i``, row-major.

    Args:
        neighbour_tables: one ``[n, k_m]`` neighbour table per modality (``-1`` in unused slots), as
            :func:`~lit_mmrec.nn.knn_graph.knn_neighbours` returns them.
    """
    if not neighbour_tables:
        raise ValueError("knn_intersection_edges needs at least one neighbour table")
    first = neighbour_tables[0]
    n = first.shape[0]
    if any(table.shape[0] != n for table in neighbour_tables):
        raise ValueError(f"neighbour tables must have the same rows, got {[tuple(t.shape) for t in neighbour_tables]}")
    own = torch.arange(n, device=first.device).unsqueeze(1)
    keep = (first >= 0) & (first != own)
    for table in neighbour_tables[1:]:
        keep &= (first.unsqueeze(2) == table.unsqueeze(1)).any(2)
    rows = own.expand_as(first)[keep]
    return rows, first[keep]


def augmented_user_item_adjacency(
    users: torch.Tensor,
    items: torch.Tensor,
    item_rows: torch.Tensor,
    item_cols: torch.Tensor,
    num_users: int,
    num_items: int,
) -> torch.Tensor:
    """``Â`` of the user-item graph augmented with item-item edges, as a coalesced sparse COO
    ``[(U + I), (U + I)]`` float32 (users first, items offset by ``num_users``).

    Args:
        users, items: the training interactions (one edge each way per pair).
        item_rows, item_cols: the directed item-item edges ``(i, j)`` (item ids), e.g. from
            :func:`knn_intersection_edges`.
        num_users, num_items: sizes of the id spaces.
    """
    users, items = users.long(), items.long() + num_users
    rows = torch.cat([users, items, item_rows.long() + num_users])
    cols = torch.cat([items, users, item_cols.long() + num_users])
    size = num_users + num_items
    # one entry per distinct edge (the original assigns 1 into a matrix)
    key = torch.unique(rows * size + cols)
    rows, cols = key // size, key % size
    values = symmetric_normalised_weights(rows, cols, torch.ones(rows.numel()), size)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (size, size)).coalesce()
