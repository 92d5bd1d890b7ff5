"""info_nce against the formula of SMORE's (and MGCN's) code, including logits that would overflow
an unshifted exponent."""

import torch
import torch.nn.functional as F

from lit_mmrec.nn.contrastive import info_nce


def original_info_nce(view1, view2, temperature):
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    pos = torch.exp((view1 * view2).sum(dim=-1) / temperature)
    total = torch.exp(view1 @ view2.T / temperature).sum(dim=1)
    return torch.mean(-torch.log(pos / total))


def test_matches_the_original_formula_and_its_gradient():
    torch.manual_seed(0)
    a = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    ours = info_nce(a, b, 0.2)
    ours.backward()
    grads = a.grad.clone(), b.grad.clone()
    a.grad = b.grad = None
    expected = original_info_nce(a, b, 0.2)
    expected.backward()
    assert torch.allclose(ours, expected, atol=1e-12)
    assert torch.allclose(grads[0], a.grad, atol=1e-12) and torch.allclose(grads[1], b.grad, atol=1e-12)


def test_finite_where_the_unshifted_exponent_overflows():
    torch.manual_seed(0)
    a = torch.randn(4, 3)
    value = info_nce(a, a, 0.001)  # exp(1000) overflows float32; the shifted form does not
    assert torch.isfinite(value) and value.item() >= 0
    assert not torch.isfinite(original_info_nce(a, a, 0.001))
