import math

import pytest
import torch

from lit_mmrec.nn.denoising_losses import (
    confidence_weighted_bpr,
    confidence_weights,
    cosine_matrix,
    label_distribution,
    neighbour_discrimination_loss,
    pseudo_labels,
    symmetric_bernoulli_kl,
)


def test_symmetric_kl_equals_the_authors_expression():
    torch.manual_seed(0)
    x, y = torch.randn(5, 7), torch.randn(5, 7)
    p, q = torch.sigmoid(x), torch.sigmoid(y)

    def kl(a, b):
        return a * torch.log(a) - a * torch.log(b) + (1 - a) * torch.log(1 - a) - (1 - a) * torch.log(1 - b)

    assert torch.allclose(symmetric_bernoulli_kl(x, y), (kl(p, q) + kl(q, p)).mean(), atol=1e-6)
    assert symmetric_bernoulli_kl(x, x) == 0
    # finite where the probabilities round to 0 and 1 (the authors' expression gives NaN there)
    assert torch.isfinite(symmetric_bernoulli_kl(torch.tensor([60.0]), torch.tensor([-60.0])))


def test_confidence_weights_closed_form():
    # two triples, three graphs; logits chosen so the sigmoids are simple
    pos = torch.tensor([[0.0, 2.0], [0.0, -2.0], [0.0, 0.0]])
    neg = torch.tensor([[math.log(3.0), math.log(3.0)]] * 3)  # σ = 0.75 everywhere: n̄ = 0.75
    w_pos, w_neg = confidence_weights(pos, neg)
    s = torch.sigmoid(torch.tensor(2.0)).item()
    # triple 0: every graph says 0.5, variance 0
    assert w_pos[0].item() == pytest.approx(0.5)
    # triple 1: values s, 1 - s, 0.5; mean 0.5; unbiased variance ((s - .5)^2 * 2) / 2
    var = (s - 0.5) ** 2
    assert w_pos[1].item() == pytest.approx(0.5 * math.exp(-var) ** 2, rel=1e-6)
    # both means 0.5 < 0.75: w- = max - n̄, clamped at 0
    assert w_neg[0].item() == 0.0  # 0.5 - 0.75 < 0
    assert w_neg[1].item() == pytest.approx(max(s - 0.75, 0.0), rel=1e-6)
    assert ((w_pos >= 0) & (w_pos <= 1) & (w_neg >= 0) & (w_neg <= 1)).all()
    # a positive above the average negative is never flipped
    _, none = confidence_weights(torch.full((3, 2), 4.0), torch.zeros(3, 2))
    assert (none == 0).all()


def test_confidence_weights_lie_in_unit_interval_and_carry_no_gradient():
    torch.manual_seed(1)
    pos, neg = torch.randn(3, 50, requires_grad=True) * 5, torch.randn(3, 50) * 5
    w_pos, w_neg = confidence_weights(pos, neg)
    assert not w_pos.requires_grad and not w_neg.requires_grad
    assert ((w_pos >= 0) & (w_pos <= 1) & (w_neg >= 0) & (w_neg <= 1)).all()
    with pytest.raises(ValueError, match="two graphs"):
        confidence_weights(torch.zeros(1, 4), torch.zeros(1, 4))


def test_weighted_bpr_closed_form():
    pos, neg = torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0])
    plain = -torch.nn.functional.logsigmoid(pos - neg).mean()
    assert torch.allclose(confidence_weighted_bpr(pos, neg, torch.ones(2), torch.zeros(2)), plain)
    w_pos, w_neg = torch.tensor([0.5, 0.25]), torch.tensor([0.0, 1.0])
    expected = (0.5 * math.log1p(math.exp(-2.0)) + 0.25 * math.log1p(math.exp(2.0)) + math.log1p(math.exp(-2.0))) / 2
    assert confidence_weighted_bpr(pos, neg, w_pos, w_neg).item() == pytest.approx(expected, rel=1e-6)


def test_pseudo_labels_and_neighbour_discrimination_match_direct_sums():
    torch.manual_seed(2)
    views = [torch.randn(12, 4) for _ in range(3)]
    anchors = torch.tensor([0, 5, 7])
    dists = [label_distribution(cosine_matrix(v[anchors], v)) for v in views]
    assert torch.allclose(dists[0].sum(1), torch.ones(3))
    multimodal, single = pseudo_labels(dists, count=3)[2]
    agreed = dists[0] + dists[1] + 2 * dists[2]
    for b in range(3):
        assert set(multimodal[b].tolist()) == set(agreed[b].topk(3).indices.tolist())
        rest = [j for j in dists[2][b].argsort(descending=True).tolist() if j not in multimodal[b].tolist()]
        assert set(single[b].tolist()) == set(rest[:3])
    tau = 0.2
    loss = neighbour_discrimination_loss(cosine_matrix(views[2][anchors], views[2]), multimodal, single, tau)
    unit = torch.nn.functional.normalize(views[2], dim=1)
    e = torch.exp(unit[anchors] @ unit.T / tau)
    total = e.sum(1)
    mm = e.gather(1, multimodal).sum(1)
    s = e.gather(1, single).sum(1)
    expected = (-torch.log(mm / total) - torch.log(s / (total - mm))).mean()
    assert torch.allclose(loss, expected, atol=1e-5)
    # with few items the sets shrink to fit: 4 items give two of each
    small = [label_distribution(cosine_matrix(v[:2, :], v[:4])) for v in views]
    m, s = pseudo_labels(small, count=10)[0]
    assert m.shape == (2, 2) and s.shape == (2, 2)


def test_neighbour_discrimination_value_and_gradient_equal_autograd_of_the_formula():
    torch.manual_seed(3)
    views = [torch.randn(30, 5, dtype=torch.float64) for _ in range(2)]
    anchors = torch.tensor([0, 4, 9, 17, 29])
    cosines = [cosine_matrix(v[anchors], v) for v in views]
    multimodal, single = pseudo_labels([label_distribution(c) for c in cosines], count=4)[1]
    for tau in (0.2, 1.0):
        x = cosines[1].detach().requires_grad_()
        loss = neighbour_discrimination_loss(x, multimodal, single, tau)
        (grad,) = torch.autograd.grad(loss, x)
        y = x.detach().requires_grad_()
        logits = y / tau
        log_all = torch.logsumexp(logits, 1)
        log_mm = torch.logsumexp(logits.gather(1, multimodal), 1)
        log_s = torch.logsumexp(logits.gather(1, single), 1)
        rest = log_all + torch.log1p(-torch.exp(log_mm - log_all))
        expected = ((log_all - log_mm) + (rest - log_s)).mean()
        (expected_grad,) = torch.autograd.grad(expected, y)
        assert torch.isfinite(loss) and torch.allclose(loss, expected, rtol=1e-12)
        assert torch.allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)
