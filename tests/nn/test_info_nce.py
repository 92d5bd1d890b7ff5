"""InfoNCE between two views of the same rows (lit_mmrec.nn.info_nce)."""

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.nn.info_nce import dropout_views_info_nce, info_nce, rows_info_nce


def original_info_nce(view1, view2, temperature):
    """The originals' formula (PGL's ``InfoNCE``): exp, sum, log (overflows for a small temperature)."""
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    pos = torch.exp((view1 * view2).sum(-1) / temperature)
    total = torch.exp(view1 @ view2.T / temperature).sum(1)
    return -torch.log(pos / total).mean()


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_matches_the_original_formula_and_its_gradients(temperature):
    torch.manual_seed(0)
    a, b = torch.randn(7, 5, requires_grad=True), torch.randn(7, 5, requires_grad=True)
    loss, reference = info_nce(a, b, temperature), original_info_nce(a, b, temperature)
    assert torch.allclose(loss, reference, atol=1e-6)
    grads = torch.autograd.grad(loss, (a, b))
    for got, expected in zip(grads, torch.autograd.grad(reference, (a, b)), strict=True):
        assert torch.allclose(got, expected, atol=1e-6)


def test_finite_where_the_original_overflows():
    a = torch.randn(4, 3, requires_grad=True)
    loss = info_nce(a, a.detach(), 1e-3)  # exp(1 / 1e-3) overflows float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()
    assert not torch.isfinite(original_info_nce(a, a.detach(), 1e-3))


def test_dropout_views():
    torch.manual_seed(0)
    rows = torch.randn(6, 8)
    assert torch.allclose(dropout_views_info_nce(rows, 0.0, 0.2), info_nce(rows, rows, 0.2))
    # two independent masks: reproducible under a seed, and unlike the identical views
    torch.manual_seed(1)
    first = dropout_views_info_nce(rows, 0.5, 0.2)
    torch.manual_seed(1)
    assert torch.equal(first, dropout_views_info_nce(rows, 0.5, 0.2))
    assert not torch.allclose(first, info_nce(rows, rows, 0.2))
    with pytest.raises(ValueError, match="same shape"):
        info_nce(rows, rows[:3], 0.2)


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_rows_with_repeats_match_the_gathered_batch_and_its_gradients(temperature):
    """Each distinct row once, weighted by its count, as anchor and as candidate: the batch's loss, where a
    repeated row is a negative of itself."""
    torch.manual_seed(0)
    table1 = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    table2 = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([3, 0, 3, 8, 5, 3, 0, 7])
    loss = rows_info_nce(table1, table2, rows, temperature)
    reference = original_info_nce(table1[rows], table2[rows], temperature)
    assert torch.allclose(loss, reference, rtol=1e-12)
    grads = torch.autograd.grad(loss, (table1, table2))
    for got, expected in zip(grads, torch.autograd.grad(reference, (table1, table2)), strict=True):
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-14)
    # without repeats it is info_nce of the gathered rows
    distinct = torch.tensor([4, 1, 6])
    assert torch.allclose(rows_info_nce(table1, table2, distinct, temperature),
                          info_nce(table1[distinct], table2[distinct], temperature), rtol=1e-12)
