"""Recall / NDCG / Precision / MAP @K (lit_mmrec/metrics/recall_ndcg.py) against hand and brute-force values."""

import math

import pytest
import torch

from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.metrics.recall_ndcg import TopKMetrics


def test_hand_computed_example():
    # user A: ground truth {x, y} (2 items); ranked hits at ranks 1 and 3
    # user B: ground truth 3 items; one hit at rank 2
    hits = torch.tensor([[1, 0, 1], [0, 1, 0]], dtype=torch.bool)
    num_relevant = torch.tensor([2, 3])
    metric = TopKMetrics([1, 3])
    metric.update(hits, num_relevant)
    out = metric.compute()
    log2 = math.log2
    # K = 1
    assert out["recall@1"].item() == pytest.approx((1 / 2 + 0) / 2)
    assert out["precision@1"].item() == pytest.approx((1 + 0) / 2)
    assert out["ndcg@1"].item() == pytest.approx((1.0 + 0.0) / 2)
    assert out["map@1"].item() == pytest.approx((1.0 + 0.0) / 2)
    # K = 3
    recall_a, recall_b = 2 / 2, 1 / 3
    assert out["recall@3"].item() == pytest.approx((recall_a + recall_b) / 2)
    assert out["precision@3"].item() == pytest.approx((2 / 3 + 1 / 3) / 2)
    ndcg_a = (1 + 1 / log2(4)) / (1 + 1 / log2(3))  # ideal over min(2, 3) = 2 positions
    ndcg_b = (1 / log2(3)) / (1 + 1 / log2(3) + 1 / log2(4))
    assert out["ndcg@3"].item() == pytest.approx((ndcg_a + ndcg_b) / 2, rel=1e-6)
    map_a = (1 / 1 + 2 / 3) / 2
    map_b = (1 / 2) / 3
    assert out["map@3"].item() == pytest.approx((map_a + map_b) / 2, rel=1e-6)


def brute_force(scores, truth_sets, k):
    recall = ndcg = precision = ap = 0.0
    users = 0
    for row, truth in zip(scores, truth_sets, strict=False):
        if not truth:
            continue
        users += 1
        ranked = sorted(range(len(row)), key=lambda i: -row[i])[:k]
        hits = [1 if i in truth else 0 for i in ranked]
        recall += sum(hits) / len(truth)
        precision += sum(hits) / k
        dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
        idcg = sum(1 / math.log2(j + 2) for j in range(min(len(truth), k)))
        ndcg += dcg / idcg
        ap += sum(hits[j] * sum(hits[: j + 1]) / (j + 1) for j in range(k)) / min(len(truth), k)
    return {f"recall@{k}": recall / users, f"ndcg@{k}": ndcg / users, f"precision@{k}": precision / users, f"map@{k}": ap / users}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force_on_random_scores(seed):
    generator = torch.Generator().manual_seed(seed)
    num_users, num_items = 40, 30
    scores = torch.rand(num_users, num_items, generator=generator)
    # some users have more relevant items than K, some none
    truth_sets = []
    users, items = [], []
    for u in range(num_users):
        size = int(torch.randint(0, 15, (1,), generator=generator))
        chosen = torch.randperm(num_items, generator=generator)[:size].tolist()
        truth_sets.append(set(chosen))
        users += [u] * size
        items += chosen
    truth = UserItemIndex(torch.tensor(users), torch.tensor(items), num_users, num_items)
    metric = TopKMetrics([5, 10])
    all_users = torch.arange(num_users)
    for chunk in torch.split(all_users, 7):
        top = torch.topk(scores[chunk], 10, dim=1).indices
        metric.update(truth.contains(chunk, top), truth.counts(chunk))
    out = metric.compute()
    for k in (5, 10):
        expected = brute_force(scores.tolist(), truth_sets, k)
        for name, value in expected.items():
            assert out[name].item() == pytest.approx(value, rel=1e-5), name


def test_invalid_cutoffs():
    with pytest.raises(ValueError, match="positive"):
        TopKMetrics([0, 10])


def test_empty_ground_truth_users_are_not_counted():
    metric = TopKMetrics([2])
    metric.update(torch.tensor([[True, False], [False, False]]), torch.tensor([1, 0]))
    assert metric.compute()["recall@2"].item() == pytest.approx(1.0)
