r"""FREEDOM's degree-sensitive edge pruning of the user-item graph (Zhou & Shen, "A Tale of Two Graphs:
Freezing and Denoising Graph Structures for Multimodal Recommendation", ACM MM 2023, section 3.2;
MMRec's ``FREEDOM.pre_epoch_processing``).

Each training edge ``(u, i)`` is weighted ``p_ui = 1 / sqrt(d_u d_i)`` (``d`` the node degrees in the
training graph, through PyG's :func:`torch_geometric.utils.degree`); every epoch keeps
``int((1 - dropout) |E|)`` edges drawn without replacement with probability proportional to ``p``, so
edges between high-degree nodes are dropped more often. The kept edges are then renormalised
(:func:`lit_mmrec.nn.normalisation.bipartite_adjacency`). PyG's ``dropout_edge`` drops uniformly,
hence this module.
"""

from __future__ import annotations

import torch
from torch_geometric.utils import degree


def degree_sensitive_weights(
    users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int
) -> torch.Tensor:
    """``1 / sqrt(d_u d_i)`` of every training edge ``(users[e], items[e])``, ``[E]`` float32."""
    user_degree = degree(users, num_users)
    item_degree = degree(items, num_items)
    return (user_degree[users] * item_degree[items]).rsqrt()


def degree_sensitive_keep(edge_weights: torch.Tensor, dropout: float) -> torch.Tensor:
    """Indices of the ``int((1 - dropout) |E|)`` edges FREEDOM keeps: drawn without replacement with
    probability proportional to ``edge_weights`` (:func:`degree_sensitive_weights`)."""
    keep = int(edge_weights.numel() * (1.0 - dropout))
    return torch.multinomial(edge_weights, keep, replacement=False)
