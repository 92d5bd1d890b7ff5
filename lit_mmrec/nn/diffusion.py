r"""Gaussian diffusion over users' interaction rows and its denoiser (DiffRec's, as DiffMM uses it:
Jiang et al., ACM MM 2024, ``Model.py`` of HKUDS/DiffMM@fae20e6, classes ``GaussianDiffusion`` and
``Denoise``).

Schedule (``T`` steps, noise scale ``s``, bounds ``[v_min, v_max]``, all in float64): the cumulative
noise variances ``1 - ᾱ_t`` are ``linspace(s v_min, s v_max, T)``, so

    β_1 = s v_min,   β_t = min(1 - ᾱ_t / ᾱ_{t-1}, 0.999),   ᾱ_t = Π_{j<=t} (1 - β_j),

and, as the original (``beta_fixed=True``), ``β_1`` is then set to ``1e-4`` (``fixed_first_beta``) before
the ``ᾱ_t`` are recomputed from the ``β_t``. Forward process and posterior (``t`` counts from 0 in code):

    q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I)
    q(x_{t-1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, σ_t² I),
    c1_t = β_t sqrt(ᾱ_{t-1}) / (1 - ᾱ_t),  c2_t = (1 - ᾱ_{t-1}) sqrt(1 - β_t) / (1 - ᾱ_t),
    σ_t² = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)       (ᾱ_{-1} = 1).

The denoiser ``f(x_t, t)`` predicts ``x_0``. Training loss of a row (the ELBO with ``x_0``-prediction):
``w_t · mean_i (x_0 - f(x_t, t))_i²`` with ``t ~ U{0..T-1}``, ``w_t = SNR(t-1) - SNR(t)``, ``w_0 = 1``,
``SNR(t) = ᾱ_t / (1 - ᾱ_t)``. Sampling (``p_sample``) starts from ``x_0`` itself (``sampling_steps = 0``)
or from ``q(x_{k-1} | x_0)`` and runs the ``T`` reverse steps ``x_{t-1} = c1_t f(x_t, t) + c2_t x_t``
(plus ``σ_t ε`` for ``t > 0`` when ``sampling_noise``).

Denoiser: sinusoidal timestep embedding of width ``E`` (``cos`` then ``sin`` halves, frequencies
``10000^{-j / (E/2)}``) through ``Linear(E, E)``, concatenated to the (optionally L2-normalised, in
training dropped-out) row ``[B, I]``; then the ``in`` layers (``I + E -> h_1 -> ... -> h_n``, tanh after
each) and the ``out`` layers (``h_n -> ... -> I``, tanh between, none after the last). Weights
``N(0, 2 / (fan_in + fan_out))``, biases ``N(0, 0.001²)``, as the original's ``init_weights``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def diffusion_betas(noise_scale: float, noise_min: float, noise_max: float, steps: int) -> torch.Tensor:
    """``β_t`` ``[steps]`` (float64) whose cumulative noise variances ``1 - ᾱ_t`` are
    ``linspace(noise_scale * noise_min, noise_scale * noise_max, steps)`` (``β`` capped at 0.999)."""
    variance = np.linspace(noise_scale * noise_min, noise_scale * noise_max, steps, dtype=np.float64)
    alpha_bar = 1.0 - variance
    betas = [1.0 - alpha_bar[0]] + [min(1.0 - alpha_bar[i] / alpha_bar[i - 1], 0.999) for i in range(1, steps)]
    return torch.tensor(betas, dtype=torch.float64)


class GaussianDiffusion:
    """The schedule, forward noising, training loss and reverse sampling of a Gaussian diffusion over rows.

    Args:
        noise_scale: ``s``, scales both variance bounds (DiffMM: 0.1); must be positive.
        noise_min: lower bound ``v_min`` of the noise variances (DiffMM: 1e-4).
        noise_max: upper bound ``v_max`` (DiffMM: 0.02); ``0 < noise_min <= noise_max < 1``.
        steps: ``T`` diffusion steps (DiffMM: 5).
        fixed_first_beta: the value ``β_1`` is set to after the schedule is formed (DiffMM's ``beta_fixed``:
            1e-4); None keeps the computed ``s v_min``.
    """

    def __init__(
        self,
        noise_scale: float,
        noise_min: float,
        noise_max: float,
        steps: int,
        fixed_first_beta: float | None = 1e-4,
    ) -> None:
        if not steps >= 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not noise_scale > 0 or not 0 < noise_min <= noise_max < 1 or not noise_scale * noise_max < 1:
            raise ValueError(
                f"need noise_scale > 0 and 0 < noise_min <= noise_max with noise_scale * noise_max < 1, got "
                f"{noise_scale}, {noise_min}, {noise_max}"
            )
        if fixed_first_beta is not None and not 0 < fixed_first_beta < 1:
            raise ValueError(f"fixed_first_beta must lie in (0, 1), got {fixed_first_beta}")
        self.steps = steps
        betas = diffusion_betas(noise_scale, noise_min, noise_max, steps)
        if fixed_first_beta is not None:
            betas[0] = fixed_first_beta
        alphas = 1.0 - betas
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(alphas, 0)
        self.alphas_cumprod_prev = torch.cat([betas.new_ones(1), self.alphas_cumprod[:-1]])
        one_minus = 1.0 - self.alphas_cumprod
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / one_minus
        # the original's clipping: log σ_0² (= log 0) replaced by log σ_1²
        self.posterior_log_variance = torch.log(
            torch.cat([self.posterior_variance[1:2] if steps > 1 else betas[:1], self.posterior_variance[1:]])
        )
        self.posterior_mean_x0 = betas * self.alphas_cumprod_prev.sqrt() / one_minus
        self.posterior_mean_xt = (1.0 - self.alphas_cumprod_prev) * alphas.sqrt() / one_minus

    @staticmethod
    def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``values[t]`` as a ``[B, 1]`` column of ``like``'s dtype and device."""
        return values.to(like.device)[t].to(like.dtype).unsqueeze(1)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """``ᾱ_t / (1 - ᾱ_t)`` (float64) at the steps ``t``."""
        alpha_bar = self.alphas_cumprod.to(t.device)[t]
        return alpha_bar / (1.0 - alpha_bar)

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """A draw of ``x_t ~ q(x_t | x_0)`` for rows ``x_start [B, I]`` at steps ``t [B]``."""
        noise = torch.randn_like(x_start) if noise is None else noise
        return (self._at(self.alphas_cumprod.sqrt(), t, x_start) * x_start
                + self._at((1.0 - self.alphas_cumprod).sqrt(), t, x_start) * noise)

    def posterior_mean(self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``c1_t x_0 + c2_t x_t``: the mean of ``q(x_{t-1} | x_t, x_0)``."""
        return self._at(self.posterior_mean_x0, t, x_t) * x_start + self._at(self.posterior_mean_xt, t, x_t) * x_t

    def training_losses(self, denoiser: nn.Module, x_start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss [B], prediction [B, I])``: the SNR-weighted squared error of each row at a uniformly drawn
        step, and the denoiser's ``x_0`` prediction (for terms added on top, e.g. DiffMM's modality-aware loss)."""
        t = torch.randint(0, self.steps, (x_start.shape[0],), device=x_start.device)
        noise = torch.randn_like(x_start)
        prediction = denoiser(self.q_sample(x_start, t, noise), t, dropout=True)
        mse = (x_start - prediction).square().mean(1)
        weight = torch.where(t == 0, torch.ones_like(t, dtype=torch.float64), self.snr((t - 1).clamp_min(0)) - self.snr(t))
        return weight.to(mse.dtype) * mse, prediction

    @torch.no_grad()
    def p_sample(
        self, denoiser: nn.Module, x_start: torch.Tensor, sampling_steps: int = 0, sampling_noise: bool = False
    ) -> torch.Tensor:
        """The reverse process over all ``T`` steps from ``x_start`` (``sampling_steps = 0``) or from a draw of
        ``q(x_{sampling_steps - 1} | x_0)``; the mean alone at each step unless ``sampling_noise``."""
        if not 0 <= sampling_steps <= self.steps:
            raise ValueError(f"sampling_steps must lie in [0, {self.steps}], got {sampling_steps}")
        batch = x_start.shape[0]
        x_t = x_start
        if sampling_steps > 0:
            x_t = self.q_sample(x_start, torch.full((batch,), sampling_steps - 1, device=x_start.device))
        for step in reversed(range(self.steps)):
            t = torch.full((batch,), step, device=x_start.device, dtype=torch.long)
            x_t_next = self.posterior_mean(denoiser(x_t, t, dropout=False), x_t, t)
            if sampling_noise and step > 0:
                x_t_next = x_t_next + (0.5 * self._at(self.posterior_log_variance, t, x_t)).exp() * torch.randn_like(x_t)
            x_t = x_t_next
        return x_t


def timestep_embedding(t: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal embedding ``[B, width]`` of the steps ``t [B]``: ``cos`` half then ``sin`` half (a zero
    column appended for an odd ``width``)."""
    half = width // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float().unsqueeze(1) * freqs.unsqueeze(0)
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if width % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def _init_linear(layer: nn.Linear) -> nn.Linear:
    """The original's ``init_weights``: weight ``N(0, 2 / (fan_in + fan_out))``, bias ``N(0, 0.001²)``."""
    fan_out, fan_in = layer.weight.shape
    nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
    nn.init.normal_(layer.bias, 0.0, 0.001)
    return layer


class Denoiser(nn.Module):
    """The MLP that predicts ``x_0`` from a noised row and its step.

    Args:
        width: row width ``I`` (the number of items).
        hidden_dims: hidden widths ``h_1 .. h_n`` (DiffMM ``dims``: [1000]); the ``out`` layers mirror them.
        time_embedding_dim: ``E`` (DiffMM ``d_emb_size``: 10).
        normalise_input: L2-normalise each input row (DiffMM ``norm``: False).
        dropout: dropout on the input row in training (DiffMM: 0.5).
    """

    def __init__(
        self,
        width: int,
        hidden_dims: list[int],
        time_embedding_dim: int = 10,
        normalise_input: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if width <= 0 or not hidden_dims or any(h <= 0 for h in hidden_dims) or time_embedding_dim <= 0:
            raise ValueError(
                f"width, every hidden width and time_embedding_dim must be positive, got {width}, {hidden_dims}, "
                f"{time_embedding_dim}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.time_embedding_dim = time_embedding_dim
        self.normalise_input = normalise_input
        self.dropout = dropout
        self.time_layer = _init_linear(nn.Linear(time_embedding_dim, time_embedding_dim))
        ins = [width + time_embedding_dim, *hidden_dims]
        outs = [*hidden_dims[::-1], width]
        self.in_layers = nn.ModuleList(_init_linear(nn.Linear(a, b)) for a, b in zip(ins[:-1], ins[1:], strict=True))
        self.out_layers = nn.ModuleList(_init_linear(nn.Linear(a, b)) for a, b in zip(outs[:-1], outs[1:], strict=True))

    def forward(self, x: torch.Tensor, t: torch.Tensor, dropout: bool = True) -> torch.Tensor:
        """``[B, I]`` rows at steps ``t [B]`` -> the predicted ``x_0`` ``[B, I]``; ``dropout`` applies the input
        dropout (training), False skips it (sampling)."""
        step = self.time_layer(timestep_embedding(t, self.time_embedding_dim))
        if self.normalise_input:
            x = F.normalize(x, dim=-1)
        x = F.dropout(x, self.dropout, training=dropout)
        h = torch.cat([x, step], dim=-1)
        for layer in self.in_layers:
            h = torch.tanh(layer(h))
        for index, layer in enumerate(self.out_layers):
            h = layer(h)
            if index < len(self.out_layers) - 1:
                h = torch.tanh(h)
        return h
