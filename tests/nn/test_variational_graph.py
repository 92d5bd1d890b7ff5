import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from lit_mmrec.nn.variational_graph import (
    MeanConv,
    VariationalGraphEncoder,
    gaussian_kl,
    mean_adjacency,
    product_of_experts,
    reparametrise,
)

USERS, ITEMS = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 3, 1, 1, 2, 3])


def dense_mean_adjacency(num_users=3, num_items=4):
    n = num_users + num_items
    a = torch.eye(n)
    a[USERS, ITEMS + num_users] = 1
    a[ITEMS + num_users, USERS] = 1
    return a / a.sum(1, keepdim=True)


def test_mean_adjacency_averages_over_neighbours_and_self():
    assert torch.allclose(mean_adjacency(USERS, ITEMS, 3, 4).to_dense(), dense_mean_adjacency())


def test_product_of_experts_is_the_precision_weighted_closed_form():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    got_mu, got_logvar = product_of_experts(mu, logvar, eps=0.0)
    precision = 1 / logvar.exp()
    assert torch.allclose(got_mu, (mu * precision).sum(0) / precision.sum(0), atol=1e-6)
    assert torch.allclose(got_logvar.exp(), 1 / precision.sum(0), atol=1e-6)
    # two experts: var = v1 v2 / (v1 + v2), mu = (mu1 v2 + mu2 v1) / (v1 + v2)
    v1, v2 = logvar[0].exp(), logvar[1].exp()
    two_mu, two_logvar = product_of_experts(mu[:2], logvar[:2], eps=0.0)
    assert torch.allclose(two_mu, (mu[0] * v2 + mu[1] * v1) / (v1 + v2), atol=1e-5)
    assert torch.allclose(two_logvar.exp(), v1 * v2 / (v1 + v2), atol=1e-6)
    # one expert is itself; a nearly flat expert leaves the other as it is
    one_mu, one_logvar = product_of_experts(mu[:1], logvar[:1], eps=0.0)
    assert torch.allclose(one_mu, mu[0]) and torch.allclose(one_logvar, logvar[0], atol=1e-6)
    flat_mu, _ = product_of_experts(torch.stack([mu[0], mu[1]]), torch.stack([logvar[0], torch.full_like(mu[0], 30.0)]))
    assert torch.allclose(flat_mu, mu[0], atol=1e-5)


def test_product_of_experts_is_the_normalised_product_of_densities():
    mu, logvar = torch.tensor([[0.3], [-1.2]]), torch.tensor([[0.5], [-0.4]])
    got_mu, got_logvar = product_of_experts(mu, logvar, eps=0.0)
    x = torch.linspace(-8, 8, 200001)
    density = Normal(mu[0], (0.5 * logvar[0]).exp()).log_prob(x).exp() * Normal(mu[1], (0.5 * logvar[1]).exp()).log_prob(x).exp()
    density = density / torch.trapezoid(density, x)
    mean = torch.trapezoid(density * x, x)
    assert math.isclose(float(got_mu), float(mean), abs_tol=1e-4)
    assert math.isclose(float(got_logvar.exp()), float(torch.trapezoid(density * (x - mean) ** 2, x)), abs_tol=1e-4)


def test_kl_is_the_closed_form_and_zero_at_the_prior():
    torch.manual_seed(1)
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3)
    closed = (0.5 * (logvar.exp() + mu**2 - 1 - logvar)).sum(1).mean()
    assert torch.allclose(gaussian_kl(mu, logvar), closed, atol=1e-6)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert torch.allclose(gaussian_kl(mu, logvar), reference, atol=1e-5)
    assert gaussian_kl(torch.zeros(4, 2), torch.zeros(4, 2)) == 0
    big = torch.full((1, 1), 50.0)  # clamped at 10, as the original
    assert torch.allclose(gaussian_kl(torch.zeros(1, 1), big), torch.tensor(0.5 * (math.exp(10) - 1 - 10)))


def test_reparametrise_samples_around_mu_with_a_tenth_of_the_deviation():
    mu, logvar = torch.full((200_000,), 2.0), torch.full((200_000,), math.log(4.0))
    assert torch.equal(reparametrise(mu, logvar, training=False), mu)
    torch.manual_seed(2)
    z = reparametrise(mu, logvar, training=True)
    assert abs(float(z.mean()) - 2.0) < 1e-3 and abs(float(z.std()) - 0.2) < 1e-3


def test_encoder_matches_dense_reference():
    torch.manual_seed(3)
    adjacency = mean_adjacency(USERS, ITEMS, 3, 4)
    adjacency_t = adjacency.t().to_sparse_coo().coalesce().to_sparse_csr()
    dense = dense_mean_adjacency()
    encoder = VariationalGraphEncoder(num_users=3, input_dim=5, latent_dim=6, out_dim=4, num_layers=1).eval()
    features = torch.randn(4, 5)
    g = torch.nn.functional.leaky_relu
    normalise = torch.nn.functional.normalize

    def conv(layer, x):
        return normalise(dense @ x @ layer.weight + layer.bias, dim=1)

    x = normalise(torch.cat([encoder.preference, encoder.projection(features)]), dim=1)
    x = g(encoder.gates[0](g(conv(encoder.convs[0], x))))
    mu = encoder.gate_mu(g(conv(encoder.conv_mu, x))) + g(encoder.linear_mu(x))
    logvar = encoder.gate_logvar(g(conv(encoder.conv_logvar, x))) + g(encoder.linear_logvar(x))
    got_mu, got_logvar = encoder(features, adjacency, adjacency_t)
    assert torch.allclose(got_mu, mu, atol=1e-5) and torch.allclose(got_logvar, logvar, atol=1e-5)
    # dropout acts in training only
    layer = MeanConv(6, 4).train()
    assert not torch.equal(layer(x.new_ones(7, 6), adjacency, adjacency_t), layer.eval()(x.new_ones(7, 6), adjacency, adjacency_t))


@pytest.mark.parametrize("num_layers", [0, 2])
def test_encoder_widths_for_any_number_of_layers(num_layers):
    adjacency = mean_adjacency(USERS, ITEMS, 3, 4)
    encoder = VariationalGraphEncoder(3, 5, 6, 4, num_layers)
    mu, logvar = encoder(torch.randn(4, 5), adjacency, adjacency.t().to_sparse_csr())
    assert mu.shape == logvar.shape == (7, 4)
