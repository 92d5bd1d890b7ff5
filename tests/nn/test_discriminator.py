"""MMSSL's relation discriminator (lit_mmrec.nn.discriminator) against a dense reference."""

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.nn.discriminator import RelationDiscriminator


def reference(block, rows, slope):
    linears = [m for m in block.net if isinstance(m, torch.nn.Linear)]
    x = rows
    for linear in linears[:2]:
        x = F.leaky_relu(x @ linear.weight.T + linear.bias, slope)
        x = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)  # batch statistics, affine 1 / 0
    return 100 * torch.sigmoid(x @ linears[2].weight.T + linears[2].bias).view(-1)


@pytest.mark.parametrize("slope", [0.01, 1.0])
def test_matches_the_dense_reference_without_dropout(slope):
    torch.manual_seed(0)
    block = RelationDiscriminator(40, dropouts=(0.0, 0.0), negative_slope=slope)
    rows = torch.randn(6, 40)
    assert [m.out_features for m in block.net if isinstance(m, torch.nn.Linear)] == [10, 5, 1]
    scores = block(rows)
    assert scores.shape == (6,) and ((scores > 0) & (scores < 100)).all()
    assert torch.allclose(scores, reference(block, rows, slope), atol=1e-4)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in block.net if isinstance(m, torch.nn.Linear))
    assert not list(block.buffers())


def test_refuses_too_few_items():
    with pytest.raises(ValueError, match="at least 8"):
        RelationDiscriminator(7)
