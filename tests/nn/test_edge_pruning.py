"""FREEDOM's degree-sensitive edge pruning (lit_mmrec.nn.edge_pruning)."""

import torch

from lit_mmrec.nn.edge_pruning import degree_sensitive_keep, degree_sensitive_weights


def test_weights_are_inverse_sqrt_degree_products():
    users = torch.tensor([0, 0, 0, 1, 2])
    items = torch.tensor([0, 1, 2, 0, 0])
    weights = degree_sensitive_weights(users, items, 4, 3)
    d_user = torch.tensor([3.0, 1.0, 1.0, 0.0])
    d_item = torch.tensor([3.0, 1.0, 1.0])
    assert torch.allclose(weights, 1.0 / torch.sqrt(d_user[users] * d_item[items]))


def test_keep_draws_distinct_edges_favouring_low_degree_ones():
    weights = torch.tensor([1.0] * 10 + [1e-4] * 10)
    torch.manual_seed(0)
    kept = degree_sensitive_keep(weights, 0.5)
    assert kept.numel() == 10 and kept.unique().numel() == 10
    assert (kept < 10).sum() >= 9  # the heavy edges are almost always the ones kept
