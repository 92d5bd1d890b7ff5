"""The WGAN-GP gradient penalty (lit_mmrec.nn.gradient_penalty) against closed forms."""

import pytest
import torch

from lit_mmrec.nn.gradient_penalty import gradient_penalty


def test_linear_critic_closed_form():
    # D(x) = <w, x>: the gradient is w everywhere, the penalty (|w| - 1)^2 whatever the interpolates
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    penalty = gradient_penalty(lambda x: x @ w, real, fake)
    assert torch.allclose(penalty, torch.tensor(16.0))
    (grad,) = torch.autograd.grad(penalty, w)  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(grad, 2 * 4.0 * w.detach() / 5.0)


def test_quadratic_critic_at_given_interpolates():
    # D(x) = c |x|^2: gradient 2 c x̂, penalty mean (2 |c| |x̂| - 1)^2 at x̂ = α real + (1 - α) fake
    c = torch.tensor(0.7, requires_grad=True)
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    alpha = torch.rand(5, 1)
    penalty = gradient_penalty(lambda x: c * (x**2).sum(1), real, fake, alpha)
    mixed = alpha * real + (1 - alpha) * fake
    expected = ((2 * c * mixed.norm(dim=1) - 1) ** 2).mean()
    assert torch.allclose(penalty, expected)
    assert torch.allclose(torch.autograd.grad(penalty, c)[0], torch.autograd.grad(expected, c)[0])


def test_inputs_receive_no_gradient():
    real = torch.randn(4, 3, requires_grad=True)
    penalty = gradient_penalty(lambda x: x.sum(1), real, torch.randn(4, 3))
    assert torch.allclose(penalty, torch.tensor((3**0.5 - 1) ** 2))
    assert not penalty.requires_grad


def test_refuses_unequal_shapes():
    with pytest.raises(ValueError, match="equal-shaped"):
        gradient_penalty(lambda x: x.sum(1), torch.zeros(3, 2), torch.zeros(2, 2))
