"""LOBSTER's modality-adaptive BPR (lit_mmrec.nn.modality_adaptive_bpr) against the weights written out."""

import math

import torch

from lit_mmrec.nn.modality_adaptive_bpr import block_scores, modality_adaptive_bpr, modality_adaptive_weights


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
