"""The fused CPU kernels of lit_mmrec.nn.sparse against dense references (values and gradients)."""

import pytest
import torch

from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import csr_mm, csr_pair, int32_csr, matmul_with_transpose, symmetric_spmm


def test_symmetric_spmm_gradient_matches_dense():
    adjacency = bipartite_adjacency(torch.tensor([0, 1, 1, 2]), torch.tensor([1, 0, 2, 2]), 3, 3)
    dense = adjacency.to_dense()
    x1 = torch.randn(6, 4, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    weights = torch.randn(6, 4)
    (symmetric_spmm(adjacency, symmetric_spmm(adjacency, x1)) * weights).sum().backward()
    (dense @ (dense @ x2) * weights).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


@pytest.mark.parametrize("layout", ["sparse", "dense"])
def test_matmul_with_transpose_forward_and_backward_match_dense(layout):
    torch.manual_seed(3)
    dense = torch.rand(7, 5) * (torch.rand(7, 5) < 0.4)
    if layout == "sparse":
        matrix, matrix_t = csr_pair(dense.to_sparse())
    else:
        matrix, matrix_t = dense, dense.T.contiguous()
    x1 = torch.randn(5, 3, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    weights = torch.randn(7, 3)
    out = matmul_with_transpose(matrix, matrix_t, x1)
    assert torch.allclose(out, dense @ x2, atol=1e-6)
    (out * weights).sum().backward()
    (dense @ x2 * weights).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


def test_csr_mm_matches_torch_sparse_mm_with_empty_rows_and_either_index_width():
    generator = torch.Generator().manual_seed(1)
    dense = torch.rand(30, 20, generator=generator)
    dense[dense < 0.8] = 0.0
    dense[[0, 7, 29]] = 0.0  # rows without entries
    x = torch.randn(20, 5, generator=generator)
    wide = dense.to_sparse_csr()
    for matrix in (wide, int32_csr(wide)):
        assert torch.allclose(csr_mm(matrix, x), dense @ x, atol=1e-6)
    assert torch.equal(csr_mm(wide, x)[[0, 7, 29]], torch.zeros(3, 5))
    assert torch.allclose(csr_mm(wide.to_sparse_coo(), x), dense @ x, atol=1e-6)  # other layouts: torch
