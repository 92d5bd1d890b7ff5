r"""LayerGCN's layer-refined graph convolution (Zhou et al., "Layer-refined Graph Convolutional Networks
for Recommendation", ICDE 2023; MMRec ``src/models/layergcn.py``, ``LayerGCN.forward``).

With ``Â [N, N]`` a symmetric-normalised adjacency (:mod:`lit_mmrec.nn.normalisation`) and
``x^(0) [N, F]`` the layer-0 (ego) node features, each layer propagates the previous *refined* layer
and rescales every node's row by its cosine similarity with the node's ego row:

    h^(l) = Â x^(l-1),        x^(l)_n = cos(h^(l)_n, x^(0)_n) h^(l)_n,        l = 1 .. L,

    out = x^(1) + ... + x^(L)        (the ego layer itself is not part of the sum).

A layer whose output drifts from the node's own embedding (over-smoothing) is damped; the refined
layer, not the raw product, feeds the next. ``cos`` is :func:`torch.nn.functional.cosine_similarity`
(``eps = 1e-8``), as in the original. Output ``[N, F]``.

One product ``Â x`` is PyG's :class:`~torch_geometric.nn.conv.LGConv` with ``normalize=False``, which
this class subclasses; for a torch sparse CSR ``Â`` on the CPU it is the ``embedding_bag`` product
with the backward ``Â @ grad`` (:func:`lit_mmrec.nn.sparse.symmetric_spmm`, relying on ``Â`` being
symmetric), PyG's ``spmm`` otherwise (cuSPARSE on CUDA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import LGConv
from torch_geometric.typing import Adj, OptTensor

from lit_mmrec.nn.light_conv import sparse_layer


class LayerRefinedConv(LGConv):
    """``L`` layer-refined light graph convolutions over a symmetric-normalised ``Â``, summed.

    Args:
        num_layers: ``L >= 1``.
    """

    def __init__(self, num_layers: int) -> None:
        super().__init__(normalize=False)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_layers = num_layers

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:  # type: ignore[override]
        """``[N, F] -> [N, F]``: the sum of the refined layers ``x^(1) ... x^(L)``."""
        total, hidden = None, x
        for _ in range(self.num_layers):
            hidden = self.propagate(edge_index, x=hidden, edge_weight=edge_weight)
            hidden = F.cosine_similarity(hidden, x, dim=-1).unsqueeze(-1) * hidden
            total = hidden if total is None else total + hidden
        return total

    def forward_split(
        self, users: Tensor, items: Tensor, edge_index: Adj, edge_weight: OptTensor = None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward` of ``[users; items]`` over a user-item graph (users first), returned as
        ``(user rows [U, F], item rows [I, F])``."""
        total = self.forward(torch.cat([users, items]), edge_index, edge_weight)
        return total[: users.shape[0]], total[users.shape[0] :]

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return sparse_layer(adj_t, x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_layers={self.num_layers})"
