"""Modality-adaptive BPR (lit_mmrec.nn.modality_adaptive_bpr): COHESION's weighted scores and LOBSTER's loss
against references with the weights written out."""

import math

import pytest
import torch

from lit_mmrec.nn.modality_adaptive_bpr import (
    block_scores,
    modality_adaptive_bpr,
    modality_adaptive_scores,
    modality_adaptive_weights,
)


def test_weights_are_one_minus_the_softmax_of_the_margins():
    pos = torch.tensor([[2.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    neg = torch.tensor([[0.0, 1.0, 1.0], [0.5, 0.5, 0.5]])
    margins = [[2.0, -1.0, 0.0], [0.0, 0.0, 0.0]]
    expected = []
    for row in margins:
        z = sum(math.exp(m) for m in row)
        expected.append([1 - math.exp(m) / z for m in row])
    weights = modality_adaptive_weights(pos, neg)
    assert torch.allclose(weights, torch.tensor(expected))
    # the block that separates the pair best weighs least; equal margins weigh equally (1 - 1/M)
    assert weights[0].argmin() == 0 and weights[0].argmax() == 1
    assert torch.allclose(weights[1], torch.full((3,), 2 / 3))


def test_loss_and_gradient_match_a_dense_reference_with_constant_weights():
    torch.manual_seed(0)
    users = torch.randn(5, 3 * 4, requires_grad=True)
    pos, neg = torch.randn(5, 12), torch.randn(5, 12)
    loss = modality_adaptive_bpr(block_scores(users, pos, 3), block_scores(users, neg, 3))
    loss.backward()

    # written out: per-block scores, weights as constants, summed over the batch
    u = users.detach().clone().requires_grad_(True)
    s_pos = torch.stack([(u[:, 4 * m : 4 * m + 4] * pos[:, 4 * m : 4 * m + 4]).sum(1) for m in range(3)], 1)
    s_neg = torch.stack([(u[:, 4 * m : 4 * m + 4] * neg[:, 4 * m : 4 * m + 4]).sum(1) for m in range(3)], 1)
    w = 1 - torch.softmax((s_pos - s_neg).detach(), 1)
    expected = -torch.log(torch.sigmoid((w * s_pos).sum(1) - (w * s_neg).sum(1))).sum()
    expected.backward()
    assert torch.allclose(loss, expected, atol=1e-5)
    assert torch.allclose(users.grad, u.grad, atol=1e-5)


def test_no_gradient_flows_through_the_weights():
    pos = torch.tensor([[1.0, -1.0]], requires_grad=True)
    assert not modality_adaptive_weights(pos, torch.zeros(1, 2)).requires_grad


def test_scores_equal_the_loop_reference():
    torch.manual_seed(0)
    b, k, d = 5, 3, 4
    users, positives, negatives = (torch.randn(b, k * d, requires_grad=True) for _ in range(3))
    got_pos, got_neg = modality_adaptive_scores(users, positives, negatives, k)
    users, positives, negatives = (t.detach().double() for t in (users, positives, negatives))
    for row in range(b):
        pos = [float(users[row, j * d : (j + 1) * d] @ positives[row, j * d : (j + 1) * d]) for j in range(k)]
        neg = [float(users[row, j * d : (j + 1) * d] @ negatives[row, j * d : (j + 1) * d]) for j in range(k)]
        margins = [p - n for p, n in zip(pos, neg, strict=True)]
        total = sum(torch.tensor(margins).exp().tolist())
        weights = [1 - torch.tensor(m).exp().item() / total for m in margins]
        assert got_pos[row].item() == pytest.approx(sum(w * p for w, p in zip(weights, pos, strict=True)), rel=1e-5, abs=1e-6)
        assert got_neg[row].item() == pytest.approx(sum(w * n for w, n in zip(weights, neg, strict=True)), rel=1e-5, abs=1e-6)


def test_weights_favour_the_worst_ranking_block_and_carry_no_gradient():
    positive = torch.tensor([[3.0, 0.0, -1.0]], requires_grad=True)
    negative = torch.zeros(1, 3)
    weights = modality_adaptive_weights(positive, negative)
    assert not weights.requires_grad
    assert torch.allclose(weights.sum(-1), torch.tensor([2.0]))
    assert weights[0, 2] > weights[0, 1] > weights[0, 0]
    # the gradient of the weighted score is the weights themselves (no term through the softmax)
    users = torch.ones(1, 6)
    items = torch.tensor([[1.0, 2.0, 0.0, 0.0, -0.5, -0.5]], requires_grad=True)
    pos, _ = modality_adaptive_scores(users, items, torch.zeros(1, 6), 3)
    pos.sum().backward()
    expected = modality_adaptive_weights(block_scores(users, items.detach(), 3), torch.zeros(1, 3)).repeat_interleave(2, 1)
    assert torch.allclose(items.grad, expected)


def test_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="divisible"):
        block_scores(torch.zeros(2, 5), torch.zeros(2, 5), 2)
