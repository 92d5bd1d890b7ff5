import math

import numpy as np
import pytest
import torch

from lit_mmrec.nn.diffusion import Denoiser, GaussianDiffusion, diffusion_betas, timestep_embedding


def hand_schedule(scale, low, high, steps, first):
    """β and ᾱ written out from the definitions, in Python floats."""
    variance = [scale * low + (scale * high - scale * low) * j / (steps - 1) for j in range(steps)]
    alpha_bar = [1 - v for v in variance]
    betas = [1 - alpha_bar[0]] + [min(1 - alpha_bar[j] / alpha_bar[j - 1], 0.999) for j in range(1, steps)]
    if first is not None:
        betas[0] = first
    cumulative, product = [], 1.0
    for beta in betas:
        product *= 1 - beta
        cumulative.append(product)
    return betas, cumulative


@pytest.mark.parametrize("first", [1e-4, None])
def test_schedule_matches_closed_forms(first):
    diffusion = GaussianDiffusion(0.1, 1e-4, 0.02, 3, fixed_first_beta=first)
    betas, alpha_bar = hand_schedule(0.1, 1e-4, 0.02, 3, first)
    assert np.allclose(diffusion.betas.numpy(), betas, rtol=1e-12, atol=0)
    assert np.allclose(diffusion.alphas_cumprod.numpy(), alpha_bar, rtol=1e-12, atol=0)
    # without the fixed first β, 1 - ᾱ_t is the linspace of the noise variances itself
    if first is None:
        assert np.allclose(1 - diffusion.alphas_cumprod.numpy(), [1e-5, 0.5 * (1e-5 + 2e-3), 2e-3], rtol=1e-9)
    # posterior of x_{t-1} by Bayes: q(x_{t-1}|x_0) = N(√ᾱ_{t-1} x_0, 1-ᾱ_{t-1}), q(x_t|x_{t-1}) = N(√(1-β_t) x_{t-1}, β_t)
    for t in range(1, 3):
        prior_mean_coef, prior_var = math.sqrt(alpha_bar[t - 1]), 1 - alpha_bar[t - 1]
        precision = 1 / prior_var + (1 - betas[t]) / betas[t]
        variance = 1 / precision
        assert diffusion.posterior_variance[t].item() == pytest.approx(variance, rel=1e-9)
        assert diffusion.posterior_mean_x0[t].item() == pytest.approx(variance * prior_mean_coef / prior_var, rel=1e-9)
        assert diffusion.posterior_mean_xt[t].item() == pytest.approx(variance * math.sqrt(1 - betas[t]) / betas[t], rel=1e-9)
    # at t = 0 the posterior is the point x_0
    assert diffusion.posterior_variance[0].item() == 0.0
    assert diffusion.posterior_mean_x0[0].item() == pytest.approx(1.0)
    assert diffusion.posterior_mean_xt[0].item() == 0.0
    assert torch.equal(diffusion.posterior_log_variance[:2], diffusion.posterior_variance[1].log().repeat(2))


def test_betas_are_capped():
    assert diffusion_betas(1.0, 0.5, 0.9999, 2)[1].item() == 0.999  # 1 - 0.0001 / 0.5 capped


def test_q_sample_and_posterior_mean():
    diffusion = GaussianDiffusion(0.1, 1e-4, 0.02, 5)
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(4, 6, generator=generator), torch.randn(4, 6, generator=generator)
    t = torch.tensor([0, 1, 3, 4])
    a = diffusion.alphas_cumprod[t].double().unsqueeze(1)  # 1 - a is about 1e-4: the reference in float64
    expected = a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()
    assert torch.allclose(diffusion.q_sample(x0, t, noise).double(), expected, rtol=1e-5, atol=1e-6)
    xt = torch.randn(4, 6, generator=generator)
    c1, c2 = diffusion.posterior_mean_x0[t].double().unsqueeze(1), diffusion.posterior_mean_xt[t].double().unsqueeze(1)
    expected = c1 * x0.double() + c2 * xt.double()
    assert torch.allclose(diffusion.posterior_mean(x0, xt, t).double(), expected, rtol=1e-5, atol=1e-6)


class Identity(torch.nn.Module):
    def forward(self, x, t, dropout=True):
        return x


class Zero(torch.nn.Module):
    def forward(self, x, t, dropout=True):
        return torch.zeros_like(x)


def test_p_sample_runs_every_reverse_step_from_the_rows():
    diffusion = GaussianDiffusion(0.1, 1e-4, 0.02, 5)
    x0 = torch.rand(3, 7)
    factor = (diffusion.posterior_mean_x0 + diffusion.posterior_mean_xt).prod().item()
    assert torch.allclose(diffusion.p_sample(Identity(), x0), factor * x0, atol=1e-6)


def test_training_loss_is_the_snr_weighted_error():
    diffusion = GaussianDiffusion(0.1, 1e-4, 0.02, 5)
    x0 = torch.rand(16, 7)
    torch.manual_seed(3)
    loss, prediction = diffusion.training_losses(Zero(), x0)
    torch.manual_seed(3)
    t = torch.randint(0, 5, (16,))
    snr = diffusion.alphas_cumprod / (1 - diffusion.alphas_cumprod)
    weight = torch.tensor([1.0 if s == 0 else (snr[s - 1] - snr[s]).item() for s in t.tolist()])
    assert torch.equal(prediction, torch.zeros_like(x0))
    assert torch.allclose(loss, weight.float() * x0.square().mean(1), rtol=1e-6)


def test_timestep_embedding_and_denoiser_layers():
    emb = timestep_embedding(torch.tensor([0, 2]), 5)
    half = torch.exp(-math.log(10000) * torch.arange(2) / 2)
    assert torch.allclose(emb[1], torch.cat([torch.cos(2 * half), torch.sin(2 * half), torch.zeros(1)]))
    assert torch.equal(emb[0], torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]))
    torch.manual_seed(0)
    denoiser = Denoiser(6, [4], time_embedding_dim=4)
    x, t = torch.rand(3, 6), torch.tensor([0, 1, 4])
    h = torch.cat([x, denoiser.time_layer(timestep_embedding(t, 4))], 1)
    expected = denoiser.out_layers[0](torch.tanh(denoiser.in_layers[0](h)))
    assert torch.allclose(denoiser(x, t, dropout=False), expected)
    assert [layer.weight.shape for layer in denoiser.in_layers] == [(4, 10)]
    assert [layer.weight.shape for layer in denoiser.out_layers] == [(6, 4)]
    assert not torch.equal(denoiser(x, t, dropout=True), expected)


def test_diffusion_loss_decreases_on_a_toy_graph():
    """Two communities of users over two blocks of items: the denoiser learns to reconstruct the rows."""
    torch.manual_seed(0)
    rows = torch.zeros(40, 20)
    rows[:20, :10] = (torch.rand(20, 10) < 0.6).float()
    rows[20:, 10:] = (torch.rand(20, 10) < 0.6).float()
    diffusion = GaussianDiffusion(0.1, 1e-4, 0.02, 5)
    denoiser = Denoiser(20, [32], time_embedding_dim=10)
    optimiser = torch.optim.Adam(denoiser.parameters(), lr=1e-3)

    def evaluate():
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(1)
            return float(sum(diffusion.training_losses(denoiser, rows)[0].mean() for _ in range(10)))

    before = evaluate()
    for _ in range(150):
        optimiser.zero_grad()
        diffusion.training_losses(denoiser, rows)[0].mean().backward()
        optimiser.step()
    assert evaluate() < 0.5 * before


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="steps"):
        GaussianDiffusion(0.1, 1e-4, 0.02, 0)
    with pytest.raises(ValueError, match="noise_scale"):
        GaussianDiffusion(0.1, 0.03, 0.02, 5)
    with pytest.raises(ValueError, match="sampling_steps"):
        GaussianDiffusion(0.1, 1e-4, 0.02, 5).p_sample(Identity(), torch.rand(2, 3), sampling_steps=6)
    with pytest.raises(ValueError, match="dropout"):
        Denoiser(5, [3], dropout=1.0)
