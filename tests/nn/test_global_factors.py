"""LOBSTER's global factor embeddings (lit_mmrec.nn.global_factors) against a dense reference."""

import pytest
import torch

from lit_mmrec.nn.global_factors import GlobalFactors


def test_every_row_gets_the_sum_of_the_factors_and_each_factor_the_summed_gradient():
    torch.manual_seed(0)
    factors = GlobalFactors(3, 4)
    table = torch.randn(5, 4, requires_grad=True)
    upstream = torch.randn(5, 4)
    out = factors(table)
    weight = factors.weight.detach()
    expected = table.detach() + weight[0] + weight[1] + weight[2]
    assert torch.allclose(out, expected)
    out.backward(upstream)
    # d out / d F_k = sum over the rows of the upstream gradient, the same for every factor row
    assert torch.allclose(factors.weight.grad, upstream.sum(0).expand(3, 4))
    assert torch.allclose(table.grad, upstream)


def test_factors_start_xavier_uniform_and_bad_sizes_are_refused():
    torch.manual_seed(0)
    weight = GlobalFactors(8, 64).weight
    bound = (6 / (8 + 64)) ** 0.5
    assert weight.shape == (8, 64) and weight.abs().max() <= bound and weight.std() > bound / 4
    with pytest.raises(ValueError):
        GlobalFactors(0, 4)
