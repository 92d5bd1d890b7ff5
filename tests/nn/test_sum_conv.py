"""SumConv (lit_mmrec.nn.sum_conv) against a dense reference: a rectangular A on every adjacency type
PyG takes, with and without the precomputed transpose, and the symmetric variant."""

import pytest
import torch

from lit_mmrec.nn import sum_conv
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv


def rectangular(seed=0):
    generator = torch.Generator().manual_seed(seed)
    dense = torch.rand(6, 4, generator=generator) * (torch.rand(6, 4, generator=generator) < 0.5)
    dense[2] = 0.0  # a receiving node without neighbours
    return dense


@pytest.mark.parametrize("kind", ["csr+transpose", "csr", "coo", "edge_index", "edge_index, PyG's path"])
def test_sum_conv_matches_dense_values_and_gradients(kind, monkeypatch):
    dense = rectangular()
    x = torch.randn(4, 3, requires_grad=True)
    y = x.detach().clone().requires_grad_()
    weights = torch.randn(6, 3)
    conv = SumConv()
    if kind == "csr+transpose":
        matrix, matrix_t = csr_pair(dense.to_sparse())
        out = conv(x, matrix, transpose=matrix_t)
    elif kind == "csr":
        out = conv(x, dense.to_sparse_csr())
    elif kind == "coo":
        out = conv(x, dense.to_sparse())
    else:  # (source j, target i) with A_ij, PyG's flow; the weights carry gradient too
        if kind.endswith("PyG's path"):
            monkeypatch.setattr(sum_conv, "fused_edge_list", lambda *args: False)
        rows, cols = dense.nonzero().unbind(1)
        values = dense[rows, cols].requires_grad_()
        out = conv(x, torch.stack([cols, rows]), values, size=(4, 6))
        (grad_values,) = torch.autograd.grad((out * weights).sum(), [values], retain_graph=True)
        assert torch.allclose(grad_values, (weights[rows] * y.detach()[cols]).sum(-1), atol=1e-6)
    assert out.shape == (6, 3)
    assert torch.allclose(out, dense @ y, atol=1e-6)
    (out * weights).sum().backward()
    (dense @ y * weights).sum().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-6)


def test_symmetric_sum_conv_needs_no_transpose():
    adjacency = bipartite_adjacency(torch.tensor([0, 1, 1, 2]), torch.tensor([1, 0, 2, 2]), 3, 3)
    dense = adjacency.to_dense()
    x = torch.randn(6, 2, requires_grad=True)
    y = x.detach().clone().requires_grad_()
    out = SumConv(symmetric=True)(SumConv(symmetric=True)(x, adjacency), adjacency)
    assert torch.allclose(out, dense @ dense @ y, atol=1e-6)
    out.sum().backward()
    (dense @ dense @ y).sum().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-6)
