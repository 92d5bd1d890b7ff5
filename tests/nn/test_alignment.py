import numpy as np
import pytest
import torch

from lit_mmrec.nn.alignment import mean_variance_alignment


def test_matches_closed_form_over_all_pairs():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(loc, scale, size=(7, 5)) for loc, scale in ((0.0, 1.0), (0.5, 2.0), (-1.0, 0.3), (2.0, 1.5))]
    expected = 0.0
    for a in range(4):
        for b in range(a + 1, 4):
            x, y = arrays[a], arrays[b]
            expected += abs(x.var(ddof=1) - y.var(ddof=1)) + abs(x.mean() - y.mean())
    got = mean_variance_alignment([torch.tensor(x) for x in arrays])
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_is_zero_for_equal_statistics_and_sends_gradient():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert mean_variance_alignment([x, x.flip(0)]).item() == pytest.approx(0.0, abs=1e-6)
    mean_variance_alignment([x, 2 * x.detach() + 1]).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_needs_two_representations():
    with pytest.raises(ValueError):
        mean_variance_alignment([torch.zeros(3)])
