"""InfoNCE with intra- and inter-view negatives (lit_mmrec.nn.cross_view_info_nce) against a loop."""

import math

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.nn.cross_view_info_nce import cross_view_info_nce


def reference(view1, view2, tau):
    a, c = F.normalize(view1, dim=1).tolist(), F.normalize(view2, dim=1).tolist()
    def s(x, y):
        return math.exp(sum(p * q for p, q in zip(x, y, strict=True)) / tau)
    losses = []
    for b in range(len(a)):
        denominator = sum(s(a[b], a[j]) for j in range(len(a)) if j != b) + sum(s(a[b], c[j]) for j in range(len(a)))
        losses.append(-math.log(s(a[b], c[b]) / denominator + 1e-8))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("tau", [0.2, 0.5, 1.0])
def test_matches_the_loop(tau):
    torch.manual_seed(0)
    view1, view2 = torch.randn(6, 4), torch.randn(6, 4)
    assert cross_view_info_nce(view1, view2, tau).item() == pytest.approx(reference(view1, view2, tau), rel=1e-5)


def test_identical_views_of_orthogonal_rows():
    # a_b = c_b orthonormal: positive e^{1/τ}, each of the 2(B - 1) negatives e^0
    rows = torch.eye(4)
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 6) + 1e-8)
    assert cross_view_info_nce(rows, rows, 0.5).item() == pytest.approx(expected, rel=1e-6)


def test_refuses_an_overflowing_temperature():
    with pytest.raises(ValueError, match="temperature"):
        cross_view_info_nce(torch.ones(2, 2), torch.ones(2, 2), 0.01)
