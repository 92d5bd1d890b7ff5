import torch
import torch.nn.functional as F

from lit_mmrec.nn.node_info_nce import node_info_nce


def reference(view1, view2, nodes, temperature):
    """HKUDS' contrastLoss, written out."""
    a, c = F.normalize(view1, p=2), F.normalize(view2, p=2)
    numerator = torch.exp((a[nodes] * c[nodes]).sum(-1) / temperature)
    denominator = torch.exp(a[nodes] @ c.T / temperature).sum(-1)
    return -torch.log(numerator / denominator).mean()


def test_matches_the_dense_reference_and_its_gradient():
    torch.manual_seed(0)
    view1 = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    view2 = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    nodes = torch.tensor([0, 3, 3, 8, 5])
    for temperature in (0.5, 0.1):
        ours = node_info_nce(view1, view2, nodes, temperature)
        expected = reference(view1, view2, nodes, temperature)
        assert torch.allclose(ours, expected, rtol=1e-10)
        grads = torch.autograd.grad(ours, [view1, view2])
        expected_grads = torch.autograd.grad(expected, [view1, view2])
        for got, want in zip(grads, expected_grads, strict=True):
            assert torch.allclose(got, want, rtol=1e-8, atol=1e-12)


def test_small_temperature_does_not_overflow():
    torch.manual_seed(1)
    view = torch.randn(6, 3)
    loss = node_info_nce(view, view, torch.arange(6), 0.001)
    assert torch.isfinite(loss)
