"""Chunked full ranking (lit_mmrec/metrics/retrieval.py): masked top-K."""

import torch

from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.metrics.retrieval import rank_top_k


def test_rank_top_k_chunked_equals_unchunked_and_masks_training_items():
    generator = torch.Generator().manual_seed(3)
    num_users, num_items, dim = 50, 80, 8
    user_repr = torch.randn(num_users, dim, generator=generator)
    item_repr = torch.randn(num_items, dim, generator=generator)
    train_users = torch.randint(num_users, (400,), generator=generator)
    train_items = torch.randint(num_items, (400,), generator=generator)
    train = UserItemIndex(train_users, train_items, num_users, num_items)
    users = torch.arange(num_users)
    full_scores, full_items = rank_top_k(user_repr, item_repr, users, 20, train)
    chunked = [rank_top_k(user_repr[c], item_repr, c, 20, train) for c in torch.split(users, 7)]
    assert torch.equal(torch.cat([c[1] for c in chunked]), full_items)
    assert torch.allclose(torch.cat([c[0] for c in chunked]), full_scores, atol=1e-5)
    # dense reference with the training items masked
    dense = user_repr @ item_repr.T
    dense[train_users, train_items] = float("-inf")
    assert torch.equal(torch.topk(dense, 20, dim=1).indices, full_items)
    assert not train.contains(users, full_items).any()
