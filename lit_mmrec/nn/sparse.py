"""Graph structures built from training interactions, and sparse propagation over them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lit_mmrec.data.pairs import pairs_to_csr


def symmetric_normalise(rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of a symmetric binary edge list, as a sparse CSR ``[size, size]`` float32.

    Nodes without edges get degree 0 and no entries (MMRec adds 1e-7 to degrees for the
    same effect). Indices are int32 (:func:`int32_csr`).
    """
    degree = torch.bincount(rows, minlength=size).float()
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt[degree == 0] = 0.0
    return int32_csr(pairs_to_csr(rows, cols, size, size, inv_sqrt[rows] * inv_sqrt[cols]))


def int32_csr(matrix: torch.Tensor) -> torch.Tensor:
    """The CSR ``matrix`` with int32 indices when they fit (below 2^31 entries and rows): torch's CPU
    sparse product converts int64 indices on every call (measured ~30% of a product on the
    Baby-shaped graph); the results are identical."""
    if matrix._nnz() >= 2**31 - 1 or max(matrix.shape) >= 2**31 - 1:
        return matrix
    return torch.sparse_csr_tensor(
        matrix.crow_indices().int(), matrix.col_indices().int(), matrix.values(), matrix.shape
    )


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


def summed_propagate(adjacency: torch.Tensor, x: torch.Tensor, num_layers: int) -> torch.Tensor:
    """``x + A x + ... + A^L x`` over ``L = num_layers`` layers of the symmetric sparse ``A``."""
    return _SummedPropagate.apply(adjacency, x, num_layers, 1)


def light_propagate(adjacency: torch.Tensor, x: torch.Tensor, num_layers: int) -> torch.Tensor:
    """LightGCN propagation: ``mean(x, A x, ..., A^L x)`` over ``L = num_layers`` layers."""
    return _SummedPropagate.apply(adjacency, x, num_layers, num_layers + 1)


def light_propagate_split(
    adjacency: torch.Tensor, users: torch.Tensor, items: torch.Tensor, num_layers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`light_propagate` of ``[users; items]`` over the user-item graph of
    :func:`bipartite_adjacency`, returned as ``(user rows, item rows)``."""
    return _BipartitePropagate.apply(adjacency, users, items, num_layers, num_layers + 1)
