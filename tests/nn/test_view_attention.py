"""ViewAttention against its formulas written out densely."""

import pytest
import torch

from lit_mmrec.nn.view_attention import ViewAttention


def test_matches_dense_formula_and_residual_is_sum_minus_attention():
    torch.manual_seed(0)
    attention = ViewAttention(5)
    views = [torch.randn(7, 5) for _ in range(3)]
    (w1, b1), w2 = (attention.score[0].weight, attention.score[0].bias), attention.score[2].weight
    scores = torch.stack([(torch.tanh(z @ w1.T + b1) @ w2.T).squeeze(1) for z in views], 1)
    weights = scores.exp() / scores.exp().sum(1, keepdim=True)
    expected = sum(weights[:, k, None] * z for k, z in enumerate(views))
    with torch.no_grad():
        assert torch.allclose(attention.weights(views), weights, atol=1e-6)
        assert torch.allclose(attention(views), expected, atol=1e-6)
        assert torch.allclose(attention.residual(views), sum(views) - expected, atol=1e-6)


def test_equal_views_pass_through_and_gradient_reaches_the_scorer():
    attention = ViewAttention(4)
    z = torch.randn(6, 4)
    assert torch.allclose(attention([z, z, z]), z, atol=1e-6)
    attention.residual([z, 2 * z]).sum().backward()
    assert attention.score[0].weight.grad.abs().sum() > 0


def test_refuses_no_views_and_bad_width():
    with pytest.raises(ValueError):
        ViewAttention(4).weights([])
    with pytest.raises(ValueError):
        ViewAttention(0)
