r"""The WGAN-GP gradient penalty (Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017),
as MMSSL's ``gradient_penalty`` (HKUDS/MMSSL ``main.py``) computes it.

With ``x_r, x_f`` real and generated rows (``[B, F]``, both detached), ``α_b ~ U(0, 1)`` one per row and
``D`` the critic:

    x̂_b = α_b x_r,b + (1 - α_b) x_f,b
    penalty = mean_b ( ||∇_x̂ D(x̂)_b||_2 - 1 )^2

The gradient is taken with ``create_graph=True``, so the penalty back-propagates into ``D``'s parameters.
The original multiplies by its constant ``LAMBDA = 0.3`` (and by ``gp_rate``); the caller weights it here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """``mean((||∇D(x̂)||_2 - 1)^2)`` at the interpolates ``x̂ = α real + (1 - α) fake``.

    Args:
        critic: maps ``[B, F]`` rows to ``[B]`` scores.
        real: ``[B, F]`` real rows (detached here).
        fake: ``[B, F]`` generated rows (detached here).
        alpha: ``[B, 1]`` interpolation weights; None draws them from U(0, 1) (the global generator).
    """
    if real.shape != fake.shape or real.dim() != 2:
        raise ValueError(f"real and fake must be equal-shaped [B, F], got {tuple(real.shape)} and {tuple(fake.shape)}")
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, device=real.device, dtype=real.dtype)
    interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (gradients,) = torch.autograd.grad(scores, interpolates, torch.ones_like(scores), create_graph=True)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()
