"""Relation rows and the generated user-item graph (lit_mmrec.nn.generated_graph) against dense forms."""

import torch
import torch.nn.functional as F

from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.nn.generated_graph import relation_rows, row_normalised, top_k_relations


def setup_case():
    torch.manual_seed(0)
    users, items = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([1, 3, 0, 2, 4, 5])
    index = UserItemIndex(users, items, 4, 6)
    dense = torch.zeros(4, 6)
    dense[users, items] = 1
    return torch.randn(4, 3), torch.randn(6, 3), index, dense


def test_relation_rows_zero_the_seen_items_then_normalise():
    user_repr, item_repr, index, dense = setup_case()
    batch = torch.tensor([2, 0, 3])
    rows = relation_rows(user_repr[batch], item_repr, batch, index)
    expected = F.normalize((user_repr[batch] @ item_repr.T) * (1 - dense[batch]), dim=1)
    assert torch.allclose(rows, expected, atol=1e-6)


def test_top_k_relations_pick_the_best_unseen_items_in_chunks():
    user_repr, item_repr, index, dense = setup_case()
    scores = (user_repr @ item_repr.T).masked_fill(dense.bool(), float("-inf"))
    users, items = top_k_relations(user_repr, item_repr, index, 2, chunk_size=3)
    assert torch.equal(users, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    assert torch.equal(items.view(4, 2), scores.topk(2, dim=1).indices)
    assert not dense[users, items].any()


def test_row_normalised_dense_form():
    rows, cols = torch.tensor([0, 0, 2, 2, 2]), torch.tensor([1, 2, 0, 1, 3])
    dense = torch.zeros(3, 4)
    dense[rows, cols] = 1
    expected = dense / dense.sum(1, keepdim=True).clamp_min(1).sqrt()
    assert torch.allclose(row_normalised(rows, cols, 3, 4).to_dense(), expected)
