r"""The symmetric-normalised user-item graph with self-loops, ``D^-1/2 (A + I) D^-1/2``, of an edge list.

``A [(U + I), (U + I)]`` is the binary bipartite graph of the ``(user, item)`` pairs (users first, items
offset by ``U``; a repeated pair counts once) and ``D`` the row sums of ``A + I``: every node keeps
itself, so a node without edges gets the single entry 1. This is HKUDS' ``makeTorchAdj`` /
``buildUIMatrix`` (DiffMM's ``DataHandler.py`` and ``Main.py``, MMSSL's), where
:func:`lit_mmrec.nn.normalisation.bipartite_adjacency` is LightGCN's graph without self-loops.
"""

from __future__ import annotations

import torch

from lit_mmrec.nn.normalisation import symmetric_normalise


def self_looped_bipartite_adjacency(
    users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int
) -> torch.Tensor:
    """``D^-1/2 (A + I) D^-1/2`` ``[(U + I), (U + I)]`` as a sparse CSR float32 tensor (int32 indices)."""
    keys = torch.unique(users.long().cpu() * num_items + items.long().cpu())
    users, items = torch.div(keys, num_items, rounding_mode="floor"), keys % num_items
    item_nodes = items + num_users
    nodes = torch.arange(num_users + num_items)
    rows = torch.cat([users, item_nodes, nodes])
    cols = torch.cat([item_nodes, users, nodes])
    return symmetric_normalise(rows, cols, num_users + num_items)
