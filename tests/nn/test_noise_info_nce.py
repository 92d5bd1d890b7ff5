import torch
import torch.nn.functional as F

from lit_mmrec.nn.noise_info_nce import noise_views_info_nce, sign_noise


def reference_info_nce(a, c, tau):
    a, c = F.normalize(a, dim=1), F.normalize(c, dim=1)
    return (-torch.log(torch.exp((a * c).sum(1) / tau) / torch.exp(a @ c.T / tau).sum(1))).mean()


def test_noise_has_length_epsilon_in_the_rows_orthant():
    torch.manual_seed(0)
    x = torch.randn(16, 8)
    noisy = sign_noise(x, 0.1)
    assert torch.allclose((noisy - x).norm(dim=1), torch.full((16,), 0.1))
    assert ((noisy - x) * x >= 0).all()
    assert torch.equal(sign_noise(torch.zeros(3, 4), 0.1), torch.zeros(3, 4))  # zero entries get no noise


def test_noise_views_info_nce_equals_the_closed_form_on_the_same_draws():
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    got = noise_views_info_nce(x, 0.1, 0.2)
    torch.manual_seed(3)
    u1, u2 = torch.rand_like(x), torch.rand_like(x)
    view1 = x + 0.1 * torch.sign(x) * F.normalize(u1, dim=-1)
    view2 = x + 0.1 * torch.sign(x) * F.normalize(u2, dim=-1)
    assert torch.allclose(got, reference_info_nce(view1, view2, 0.2), atol=1e-5)
