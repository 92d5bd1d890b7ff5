r"""LightGCN's light graph convolution, stacked ``L`` times with its layer combination.

With ``Â [N, N]`` a symmetric-normalised adjacency (``D^-1/2 A D^-1/2``, :mod:`lit_mmrec.nn.normalisation`)
and ``x [N, F]`` the layer-0 node features:

    x^(l+1) = Â x^(l),        out = (x^(0) + x^(1) + ... + x^(L)) / c,

``c = L + 1`` (``mean``, LightGCN's layer mean: He et al., SIGIR 2020, eq. 4 with ``alpha_l = 1/(L+1)``)
or ``c = 1`` (``sum``, DualGNN's and DRAGON's). Output ``[N, F]``.

One layer is PyG's :class:`~torch_geometric.nn.conv.LGConv` with ``normalize=False`` (``Â`` is built
once from the training data, not renormalised on every call), which this class subclasses; it adds
the stack and its combination. The adjacency may be any PyG adjacency type: ``edge_index [2, E]``
with ``edge_weight [E]`` (the entries of ``Â``), a ``torch_sparse.SparseTensor``, or a torch sparse
tensor (CSR or COO).

Fused path: for a torch sparse CSR ``Â`` on the CPU the whole stack is one autograd node
(:func:`lit_mmrec.nn.sparse.summed_propagate`): the layers accumulate in place and the backward is the
same sum applied to the gradient (``Â^T = Â``), in Horner form; one layer's
:meth:`message_and_aggregate` is the ``embedding_bag`` product with the backward ``Â @ grad``
(:func:`~lit_mmrec.nn.sparse.symmetric_spmm`). Measured on the CPU (2 cores, Baby shape, LightGCN
step): torch's CSR backward re-transposes ``Â`` on every call (~3x slower), and the per-layer autograd
graph cost 12-20% of a step (docs/benchmarks.md). Elsewhere (CUDA, other adjacency types) the layers
go through PyG's ``propagate`` (``spmm``: cuSPARSE on CUDA). The fused forward equals adding the
layers left to right and dividing, bit for bit; the backward agrees to rounding. The fused path
relies on ``Â`` being symmetric (not checked).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import LGConv
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import spmm

from lit_mmrec.nn.sparse import fused, split_summed_propagate, summed_propagate, symmetric_spmm

COMBINATIONS = ("mean", "sum")


def sparse_layer(adj_t: Adj, x: Tensor) -> Tensor:
    """One layer ``Â x`` for a sparse ``Â``: the fused CPU product for a torch CSR ``Â``, PyG's ``spmm``
    otherwise (the ``message_and_aggregate`` of the propagation layers here)."""
    if fused(adj_t, x):
        return symmetric_spmm(adj_t, x)
    return spmm(adj_t, x, reduce="sum")


class LightConv(LGConv):
    """``L`` light graph convolutions over a symmetric-normalised ``Â`` and their layer mean (or sum).

    Args:
        num_layers: ``L >= 0`` (0: the input itself).
        combine: ``"mean"`` (LightGCN: divide by ``L + 1``) or ``"sum"``.
    """

    def __init__(self, num_layers: int, combine: str = "mean") -> None:
        super().__init__(normalize=False)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if combine not in COMBINATIONS:
            raise ValueError(f"combine must be one of {COMBINATIONS}, got {combine!r}")
        self.num_layers = num_layers
        self.combine = combine
        self.divisor = float(num_layers + 1) if combine == "mean" else 1.0

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:  # type: ignore[override]
        """``[N, F] -> [N, F]``: the combined layers ``x^(0) ... x^(L)``."""
        if fused(edge_index, x):
            return summed_propagate(edge_index, x, self.num_layers, self.divisor)
        total, hidden = x, x
        for _ in range(self.num_layers):
            hidden = self.propagate(edge_index, x=hidden, edge_weight=edge_weight)
            total = total + hidden
        return total / self.divisor if self.divisor != 1 else total

    def forward_split(
        self, users: Tensor, items: Tensor, edge_index: Adj, edge_weight: OptTensor = None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward` of ``[users; items]`` over a user-item graph (users first), returned as
        ``(user rows [U, F], item rows [I, F])``. On the fused path the concatenation and the split
        are inside the one autograd node (no full-size zero-filled slice gradients to add up); the
        two outputs are then views of one tensor, not to be modified in place."""
        if fused(edge_index, users):
            return split_summed_propagate(edge_index, users, items, self.num_layers, self.divisor)
        total = self.forward(torch.cat([users, items]), edge_index, edge_weight)
        return total[: users.shape[0]], total[users.shape[0] :]

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return sparse_layer(adj_t, x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_layers={self.num_layers}, combine={self.combine!r})"
