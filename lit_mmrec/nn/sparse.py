"""Sparse-product kernels: the fused CPU paths of the propagation layers :mod:`lit_mmrec.nn.light_conv`
and :mod:`lit_mmrec.nn.sum_conv` (:mod:`lit_mmrec.nn.routing` keeps its edge kernels beside its layer
and multiplies with :func:`csr_mm`).

Each ``autograd.Function`` here exists because it was measured faster than torch's generic autograd
through a sparse operand on the CPU (which transposes a CSR matrix on every backward call); the
layers use them for a torch sparse CSR adjacency on the CPU and PyG's ``spmm`` elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def int32_csr(matrix: torch.Tensor) -> torch.Tensor:
    """The CSR ``matrix`` with int32 indices when they fit (below 2^31 entries and rows): torch's CPU
    sparse product converts int64 indices on every call (measured ~30% of a product on the
    Baby-shaped graph); the results are identical."""
    if matrix._nnz() >= 2**31 - 1 or max(matrix.shape) >= 2**31 - 1:
        return matrix
    return torch.sparse_csr_tensor(
        matrix.crow_indices().int(), matrix.col_indices().int(), matrix.values(), matrix.shape
    )


def fused(adjacency: object, x: torch.Tensor) -> bool:
    """Whether the fused CPU kernels apply to a layer's adjacency: a torch sparse CSR tensor, and
    features on the CPU (elsewhere the layers take PyG's own path)."""
    return isinstance(adjacency, torch.Tensor) and adjacency.layout == torch.sparse_csr and x.device.type == "cpu"


def csr_mm(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a sparse CSR ``matrix`` and a dense 2-D ``x`` (no gradient through ``matrix``).

    On the CPU this is ``F.embedding_bag`` (row ``r`` = the sum of ``x[col] * value`` over its entries),
    whose kernel measured 3-4x faster than ``torch.sparse.mm`` on the Baby-shaped graph (one thread);
    the sums agree to float32 rounding (they are not bit-identical). Elsewhere (CUDA) and for other
    layouts it is ``torch.sparse.mm``.
    """
    if matrix.layout != torch.sparse_csr or x.device.type != "cpu" or x.dim() != 2:
        return torch.sparse.mm(matrix, x)
    crow, col = matrix.crow_indices(), matrix.col_indices()
    if crow.dtype != col.dtype:
        crow, col = crow.long(), col.long()
    return F.embedding_bag(
        col, x, crow, mode="sum", per_sample_weights=matrix.values().to(x.dtype), include_last_offset=True
    )


class _SymmetricSpmm(torch.autograd.Function):
    """``A @ x`` for a symmetric sparse ``A``; the backward is ``A @ grad`` (``A^T = A``).

    torch's generic backward for a CSR operand transposes the matrix on every call, which
    measured 3x slower than this on the Baby-shaped graph (2 CPU cores).
    """

    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adjacency = adjacency
        return csr_mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, csr_mm(ctx.adjacency, grad.contiguous())


def symmetric_spmm(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adjacency @ x`` where ``adjacency`` is a symmetric sparse matrix (not checked here)."""
    return _SymmetricSpmm.apply(adjacency, x)


def _layer_sum(adjacency: torch.Tensor, x: torch.Tensor, num_layers: int, divisor: float) -> torch.Tensor:
    """``(x + A x + ... + A^L x) / divisor``, the layers accumulated in place (no autograd)."""
    total = x.clone()
    hidden = x
    for _ in range(num_layers):
        hidden = csr_mm(adjacency, hidden)
        total.add_(hidden)
    return total.div_(divisor) if divisor != 1 else total


def _layer_sum_backward(adjacency: torch.Tensor, grad: torch.Tensor, num_layers: int, divisor: float) -> torch.Tensor:
    """The gradient of :func:`_layer_sum` for a symmetric ``A``: the same sum applied to ``g = grad / divisor``,
    in Horner form ``g + A (g + A (g + ...))``."""
    g = grad / divisor if divisor != 1 else grad.contiguous()
    total = g
    for _ in range(num_layers):
        total = csr_mm(adjacency, total).add_(g)
    return total


class _SummedPropagate(torch.autograd.Function):
    """``(x + A x + ... + A^L x) / divisor`` for a symmetric sparse ``A``, as one autograd node.

    The forward accumulates the layers in place; the backward is the same sum applied to the
    gradient in Horner form (``A^T = A``): ``L`` products and ``L`` in-place additions, where the
    per-layer autograd graph (an out-of-place sum, a division over the whole table, and their
    backward nodes) cost as much again in memory traffic as the products themselves (measured on
    the Baby-shaped LightGCN step). The forward is bit-identical to adding the layers left to right
    and dividing; the backward agrees to rounding.
    """

    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, x: torch.Tensor, num_layers: int, divisor: float) -> torch.Tensor:  # type: ignore[override]
        ctx.adjacency, ctx.num_layers, ctx.divisor = adjacency, num_layers, divisor
        return _layer_sum(adjacency, x, num_layers, divisor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, _layer_sum_backward(ctx.adjacency, grad, ctx.num_layers, ctx.divisor), None, None


class _BipartitePropagate(torch.autograd.Function):
    """:class:`_SummedPropagate` of ``[users; items]`` returned as ``(users, items)``: the
    concatenation and the split happen inside one node, so the backward makes no full-size
    zero-filled slice gradients to add up (measured on the Baby-shaped LightGCN step). The two
    outputs are views of one tensor: not to be modified in place."""

    @staticmethod
    def forward(ctx, adjacency, users, items, num_layers: int, divisor: float):  # type: ignore[override]
        ctx.adjacency, ctx.num_layers, ctx.divisor, ctx.num_users = adjacency, num_layers, divisor, users.shape[0]
        total = _layer_sum(adjacency, torch.cat([users, items]), num_layers, divisor)
        return total[: users.shape[0]], total[users.shape[0] :]

    @staticmethod
    def backward(ctx, grad_users, grad_items):  # type: ignore[override]
        num_items = ctx.adjacency.shape[0] - ctx.num_users
        if grad_users is None:
            grad_users = grad_items.new_zeros(ctx.num_users, grad_items.shape[1])
        if grad_items is None:
            grad_items = grad_users.new_zeros(num_items, grad_users.shape[1])
        grad = torch.cat([grad_users, grad_items])
        total = _layer_sum_backward(ctx.adjacency, grad, ctx.num_layers, ctx.divisor)
        return None, total[: ctx.num_users], total[ctx.num_users :], None, None


def summed_propagate(adjacency: torch.Tensor, x: torch.Tensor, num_layers: int, divisor: float = 1.0) -> torch.Tensor:
    """``(x + A x + ... + A^L x) / divisor`` over ``L = num_layers`` layers of the symmetric sparse CSR
    ``A`` (one autograd node; :class:`lit_mmrec.nn.light_conv.LightConv`'s fused path)."""
    return _SummedPropagate.apply(adjacency, x, num_layers, divisor)


def split_summed_propagate(
    adjacency: torch.Tensor, users: torch.Tensor, items: torch.Tensor, num_layers: int, divisor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`summed_propagate` of ``[users; items]`` returned as ``(user rows, item rows)``."""
    return _BipartitePropagate.apply(adjacency, users, items, num_layers, divisor)


def csr_pair(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, M^T)`` of a sparse COO matrix, both as CSR (for :func:`matmul_with_transpose`)."""
    matrix = matrix.coalesce()
    return matrix.to_sparse_csr(), matrix.t().coalesce().to_sparse_csr()


def _product(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x``: :func:`csr_mm` for a sparse ``matrix``, ``torch.mm`` for a dense one."""
    return csr_mm(matrix, x) if matrix.layout != torch.strided else torch.mm(matrix, x)


class _ProductWithTranspose(torch.autograd.Function):
    """``M @ x`` for a constant (sparse or dense) ``M``, with the backward ``M^T @ grad`` using a
    precomputed ``M^T``: torch's own backward for a sparse CSR operand transposes ``M`` on every call
    (:func:`symmetric_spmm` covers symmetric matrices), and for a dense ``M`` a contiguous ``M^T``
    made the 4096-d image features' weight gradient twice as fast on the CPU (LGMRec)."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, matrix_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.matrix_t = matrix_t
        return _product(matrix, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, None, _product(ctx.matrix_t, grad.contiguous())


def matmul_with_transpose(matrix: torch.Tensor, matrix_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a constant (sparse or dense, not necessarily symmetric) ``matrix`` whose
    transpose is ``matrix_t``; differentiable in ``x``."""
    return _ProductWithTranspose.apply(matrix, matrix_t, x)


#: Edges whose value gradient is formed at once in :class:`_EdgeListMatmul` (x their feature width).
_EDGE_CHUNK_ELEMENTS = 1 << 22


class _EdgeListMatmul(torch.autograd.Function):
    """``A @ x`` for ``A`` given as an edge list ``(rows, cols, values)``, differentiable in ``values``
    and ``x``. The backward forms ``dL/dvalue_e = <grad[row_e], x[col_e]>`` in chunks of edges and
    ``A^T @ grad`` as one sparse product; memory ``O(|E| + n D)`` (torch's autograd through a sparse
    COO matrix measured ~10x slower, an ``index_add`` over gathered rows stores ``|E| x D``)."""

    @staticmethod
    def forward(ctx, rows, cols, values, x, num_rows):  # type: ignore[override]
        indices = torch.stack([rows, cols])
        matrix = torch.sparse_coo_tensor(indices, values, (num_rows, x.shape[0])).coalesce()
        ctx.save_for_backward(rows, cols, values, x)
        ctx.num_rows = num_rows
        return csr_mm(matrix.to_sparse_csr(), x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rows, cols, values, x = ctx.saved_tensors
        grad = grad.contiguous()
        grad_values = grad_x = None
        if ctx.needs_input_grad[2]:
            grad_values = torch.empty_like(values)
            step = max(1, _EDGE_CHUNK_ELEMENTS // max(1, x.shape[1]))
            for start in range(0, rows.numel(), step):
                stop = start + step
                grad_values[start:stop] = (grad[rows[start:stop]] * x[cols[start:stop]]).sum(-1)
        if ctx.needs_input_grad[3]:
            transpose = torch.sparse_coo_tensor(
                torch.stack([cols, rows]), values.detach(), (x.shape[0], ctx.num_rows)
            ).coalesce()
            grad_x = csr_mm(transpose.to_sparse_csr(), grad)
        return None, None, grad_values, grad_x, None


def edge_list_matmul(
    rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, x: torch.Tensor, num_rows: int
) -> torch.Tensor:
    """``A @ x`` with ``A [num_rows, len(x)]`` the sum of ``values[e]`` at ``(rows[e], cols[e])``;
    differentiable in ``values`` (the learned item graph of LATTICE) and in ``x``."""
    return _EdgeListMatmul.apply(rows, cols, values, x, num_rows)
