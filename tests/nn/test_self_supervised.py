"""negative_cosine_loss (lit_mmrec.nn.self_supervised): its closed form, its gradient, the stop-gradient."""

import math

import torch

from lit_mmrec.nn.self_supervised import negative_cosine_loss


def test_closed_form_on_a_tiny_example():
    p = torch.tensor([[1.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    z = torch.tensor([[1.0, 1.0], [3.0, 4.0], [-2.0, -2.0]])
    # cosines: 1/sqrt(2), 1, -1
    assert math.isclose(negative_cosine_loss(p, z).item(), -(1 / math.sqrt(2) + 1 - 1) / 3, rel_tol=1e-6)


def test_gradient_reaches_predictions_only():
    torch.manual_seed(0)
    p = torch.randn(5, 4, requires_grad=True)
    z = torch.randn(5, 4, requires_grad=True)
    negative_cosine_loss(p, z).backward()
    assert z.grad is None  # stop-gradient: the target branch receives nothing
    # d/dp_b of -cos(p_b, z_b) / B = -(z_b / (|p_b||z_b|) - cos_b p_b / |p_b|^2) / B
    pd, zd = p.detach(), z.detach()
    pn, zn = pd.norm(dim=1, keepdim=True), zd.norm(dim=1, keepdim=True)
    cos = (pd * zd).sum(1, keepdim=True) / (pn * zn)
    expected = -(zd / (pn * zn) - cos * pd / pn**2) / 5
    assert torch.allclose(p.grad, expected, atol=1e-6)
