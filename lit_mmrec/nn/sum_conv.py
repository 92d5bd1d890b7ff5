r"""One weighted neighbour sum over a fixed sparse graph: ``out = A x``.

With ``A [N_dst, N_src]`` a constant sparse matrix (its rows are the receiving nodes) and
``x [N_src, F]``:

    out_i = sum_j A_ij x_j,        out [N_dst, F].

The product every backbone repeats on a graph it does not learn: FREEDOM's and DRAGON's frozen kNN
item graph ``S``, MGCN's and LATTICE's modality graphs, MMGCN's neighbour means (``A`` = row-normalised
user-item or item-user adjacency, the ``aggr='mean'`` of its GCN layers), DualGNN's and DRAGON's user
co-occurrence graph ``B``, and the plain ``Â^l x`` steps of LGMRec and SLMRec over the user-item graph.

This is PyG's :class:`~torch_geometric.nn.conv.SimpleConv` (``aggr='sum'``, no root term), which it
subclasses. PyG's conventions apply: a torch sparse or ``SparseTensor`` argument is ``A`` itself
(PyG's ``adj_t``), an ``edge_index [2, E]`` lists ``(source j, target i)`` with ``edge_weight`` ``A_ij``.

Fused path: for a torch sparse CSR ``A`` on the CPU the product is the ``embedding_bag`` kernel
(:func:`lit_mmrec.nn.sparse.csr_mm`, 3-4x faster than ``torch.sparse.mm`` on one thread, Baby shape)
with a backward ``A^T @ grad`` from ``A`` itself (``symmetric=True``: :meth:`message_and_aggregate`)
or from a precomputed ``A^T`` passed as ``transpose``: torch's own CSR backward transposes ``A`` on
every call (measured ~3x slower). :meth:`forward` calls the kernel directly for such an ``A``,
skipping ``propagate``'s per-call conversion of ``A`` to an edge list (``O(nnz)``); ``transpose`` is
an argument of ``forward``, not of ``message_and_aggregate``, because PyG's generated ``propagate``
would demand it on every path. For an ``edge_index`` with ``edge_weight`` on the
CPU (LATTICE's learned item graph, whose weights carry gradient) it is
:func:`lit_mmrec.nn.sparse.edge_list_matmul`: one sparse product forward, the weight gradient
``<grad[i], x[j]>`` in chunks of edges and ``A^T grad`` as one product backward (memory ``O(|E| + N D)``;
PyG's gather-scatter stores ``|E| x D``, torch's autograd through a sparse COO matrix measured ~10x
slower). Otherwise (no transpose, CUDA, other adjacency types) it is PyG's ``spmm``/``propagate``
(cuSPARSE on CUDA).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import SimpleConv
from torch_geometric.typing import Adj, OptPairTensor, OptTensor, Size
from torch_geometric.utils import spmm

from lit_mmrec.nn.sparse import edge_list_matmul, fused, matmul_with_transpose, symmetric_spmm


def fused_edge_list(edge_index: Adj, edge_weight: OptTensor, x: Tensor) -> bool:
    """Whether the fused CPU edge-list kernel applies: an ``edge_index [2, E]`` with weights, on the CPU."""
    return (
        isinstance(edge_index, Tensor)
        and edge_index.layout == torch.strided
        and edge_weight is not None
        and x.device.type == "cpu"
    )


class SumConv(SimpleConv):
    """``out = A x`` over a constant sparse ``A``.

    Args:
        symmetric: ``A`` is symmetric (not checked), so its backward needs no transpose.
    """

    def __init__(self, symmetric: bool = False) -> None:
        super().__init__(aggr="sum")
        self.symmetric = symmetric

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        edge_index: Adj,
        edge_weight: OptTensor = None,
        size: Size = None,
        transpose: Tensor | None = None,
    ) -> Tensor:
        """``[N_src, F] -> [N_dst, F]``. ``size``: ``(N_src, N_dst)`` for an ``edge_index`` of a
        rectangular ``A``; ``transpose``: ``A^T`` as torch sparse CSR, for the fused backward."""
        if fused_edge_list(edge_index, edge_weight, x):
            num_rows = x.shape[0] if size is None else size[1]
            return edge_list_matmul(edge_index[1], edge_index[0], edge_weight, x, num_rows)
        if fused(edge_index, x):
            if transpose is not None and not self.symmetric:
                return matmul_with_transpose(edge_index, transpose, x)
            return self.message_and_aggregate(edge_index, (x, None))
        return super().forward((x, None), edge_index, edge_weight, size)

    def message_and_aggregate(self, adj_t: Adj, x: OptPairTensor) -> Tensor:
        """``A x[0]`` for a sparse ``A``: the fused CPU product for a symmetric torch CSR ``A``, PyG's
        ``spmm`` otherwise."""
        if self.symmetric and fused(adj_t, x[0]):
            return symmetric_spmm(adj_t, x[0])
        return spmm(adj_t, x[0], reduce="sum")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(symmetric={self.symmetric})"
