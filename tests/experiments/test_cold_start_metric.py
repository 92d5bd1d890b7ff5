import math

import pytest
import torch

from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.metrics.cold_start import cold_start_metrics, item_train_counts


def splits(num_users=30, num_items=40, seed=0):
    """Random train/test pairs; items 35-39 never appear in train, item counts vary widely."""
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for user in range(num_users):
        items = torch.randperm(num_items, generator=generator)[:8].tolist()
        popular = [i for i in items if i < 35]
        train += [(user, i) for i in popular[:4] if (user + i) % 3]  # some users get few training items
        test += [(user, i) for i in items[4:7]] if user % 5 else []  # some users have no test items
    def index(pairs):
        users, items = torch.tensor(pairs).T
        return UserItemIndex(users, items, num_users, num_items)
    return index(train), index(test), train, test


def brute_force(user_repr, item_repr, train, test, n, k, num_items, within_cold=False):
    counts = [0] * num_items
    for _, i in train:
        counts[i] += 1
    recalls, ndcgs = [], []
    for user in sorted({u for u, _ in test}):
        truth = {i for u, i in test if u == user and counts[i] <= n}
        if not truth:
            continue
        scores = (user_repr[user] @ item_repr.T).tolist()
        seen = {i for u, i in train if u == user}
        candidates = [i for i in range(num_items) if i not in seen and (counts[i] <= n or not within_cold)]
        ranked = sorted(candidates, key=lambda i: -scores[i])[:k]
        hits = [i in truth for i in ranked]
        recalls.append(sum(hits) / len(truth))
        dcg = sum(1 / math.log2(r + 2) for r, hit in enumerate(hits) if hit)
        ndcgs.append(dcg / sum(1 / math.log2(r + 2) for r in range(min(len(truth), k))))
    return sum(recalls) / len(recalls), sum(ndcgs) / len(ndcgs), len(recalls)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_matches_brute_force(chunk_size):
    train_index, test_index, train, test = splits()
    generator = torch.Generator().manual_seed(1)
    user_repr, item_repr = torch.randn(30, 6, generator=generator), torch.randn(40, 6, generator=generator)
    results = cold_start_metrics(user_repr, item_repr, train_index, test_index, [0, 1, 3, 100], [5, 10], chunk_size)
    for n in (0, 1, 3, 100):
        for k in (5, 10):
            recall, ndcg, users = brute_force(user_repr, item_repr, train, test, n, k, 40)
            assert results[n][f"recall@{k}"] == pytest.approx(recall, abs=1e-6)
            assert results[n][f"ndcg@{k}"] == pytest.approx(ndcg, abs=1e-6)
            assert results[n]["users"] == users
    assert results[100]["test_interactions"] == len(set(test))  # every item is cold at N = 100
    never_seen = {i for _, i in test} - {i for _, i in train}
    assert results[0]["cold_items"] == len(never_seen) > 0


def test_item_counts_and_no_cold_user():
    train_index, test_index, train, _ = splits()
    counts = item_train_counts(train_index)
    assert counts.tolist() == [sum(1 for _, j in train if j == i) for i in range(40)]
    # a test set whose only item was seen in training has no cold user at N = 0: metrics are 0, not NaN
    seen = int(counts.argmax())
    warm = UserItemIndex(torch.tensor([0]), torch.tensor([seen]), 30, 40)
    result = cold_start_metrics(torch.ones(30, 2), torch.ones(40, 2), train_index, warm, [0], [5])
    assert result[0]["users"] == 0 and result[0]["recall@5"] == 0.0
    with pytest.raises(ValueError):
        cold_start_metrics(torch.ones(30, 2), torch.ones(40, 2), train_index, warm, [-1], [5])


@pytest.mark.parametrize("chunk_size", [1, 1000])
def test_ranking_within_the_cold_items_matches_brute_force(chunk_size):
    train_index, test_index, train, test = splits()
    generator = torch.Generator().manual_seed(2)
    user_repr, item_repr = torch.randn(30, 6, generator=generator), torch.randn(40, 6, generator=generator)
    within = cold_start_metrics(user_repr, item_repr, train_index, test_index, [0, 1, 3], [5, 10], chunk_size,
                                protocol="cold")
    everything = cold_start_metrics(user_repr, item_repr, train_index, test_index, [0, 1, 3], [5, 10], chunk_size)
    for n in (0, 1, 3):
        for k in (5, 10):
            recall, ndcg, users = brute_force(user_repr, item_repr, train, test, n, k, 40, within_cold=True)
            assert within[n][f"recall@{k}"] == pytest.approx(recall, abs=1e-6)
            assert within[n][f"ndcg@{k}"] == pytest.approx(ndcg, abs=1e-6)
            assert within[n]["users"] == users == everything[n]["users"]
            # fewer candidates: never a lower recall than among all items
            assert within[n][f"recall@{k}"] >= everything[n][f"recall@{k}"] - 1e-9
    # N = 0: five never-seen items (35-39) and k = 10 > 5: every cold test item is in the top 10
    assert within[0]["recall@10"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="protocol"):
        cold_start_metrics(user_repr, item_repr, train_index, test_index, [0], [5], protocol="new")
