import pytest
import torch

from lit_mmrec.nn import cooccurrence
from lit_mmrec.nn.cooccurrence import (
    cached_consistent_knn_neighbours,
    cached_item_cooccurrence_neighbours,
    consistent_knn_neighbours,
    item_cooccurrence_neighbours,
    with_self_loops,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


def edge_set(neighbours):
    return {(i, j) for i, row in enumerate(neighbours.tolist()) for j in row if j >= 0}


def dense_counts(users, items, num_users, num_items):
    interactions = torch.zeros(num_users, num_items)
    interactions[users, items] = 1.0
    counts = interactions.T @ interactions
    counts.fill_diagonal_(0)
    return counts


@pytest.mark.parametrize("min_common", [1, 2])
def test_cooccurrence_matches_dense_reference(min_common):
    torch.manual_seed(0)
    users, items = torch.randint(0, 12, (80,)), torch.randint(0, 9, (80,))
    neighbours, counts = item_cooccurrence_neighbours(users, items, 12, 9, 3, min_common)
    dense = dense_counts(users, items, 12, 9)
    for i in range(9):
        # reference: stable sort by decreasing count keeps the smaller id first among ties
        order = sorted(range(9), key=lambda j: (-dense[i, j].item(), j))
        expected = [j for j in order if j != i and dense[i, j] >= min_common][:3]
        got = [j for j in neighbours[i].tolist() if j >= 0]
        assert got == expected
        assert counts[i, : len(got)].tolist() == [dense[i, j].item() for j in expected]
        assert (counts[i, len(got) :] == 0).all()


def test_cooccurrence_threshold_drops_single_shared_users():
    # items 0 and 1 share users 0 and 1; item 2 shares only user 0 with them
    users, items = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 1, 2, 0, 1])
    neighbours, counts = item_cooccurrence_neighbours(users, items, 2, 3, 2, min_common=2)
    assert neighbours.tolist() == [[1, -1], [0, -1], [-1, -1]]
    assert counts.tolist() == [[2.0, 0.0], [2.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="min_common"):
        item_cooccurrence_neighbours(users, items, 2, 3, 2, min_common=0)


def dense_consistent_knn(features, k):
    n = next(iter(features.values())).shape[0]
    sims = {}
    for m, x in features.items():
        unit = x / x.norm(dim=1, keepdim=True)
        sims[m] = unit @ unit.T
    consistent = torch.ones(n, n, dtype=torch.bool)
    for sim in sims.values():
        consistent &= sim >= sim.mean()
    out = {}
    for m, sim in sims.items():
        rows = []
        for i in range(n):
            candidates = [j for j in range(n) if consistent[i, j]]
            candidates.sort(key=lambda j: -sim[i, j].item())
            rows.append(candidates[:k])
        out[m] = rows
    return out, consistent


@pytest.mark.parametrize("chunk_elements", [1 << 24, 7])  # one chunk; many chunks of one row
def test_consistent_knn_matches_dense_reference(monkeypatch, chunk_elements):
    monkeypatch.setattr(cooccurrence, "_SIMILARITY_CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(1)
    features = {"image": torch.randn(25, 6), "text": torch.randn(25, 4)}
    got = consistent_knn_neighbours(features, 4)
    expected, consistent = dense_consistent_knn(features, 4)
    for m in features:
        rows = [[j for j in row if j >= 0] for row in got[m].tolist()]
        assert rows == expected[m]
        # the defining property: only pairs every modality finds at least averagely similar
        assert all(consistent[i, j] for i, j in edge_set(got[m]))
    # the constraint removes edges: fewer than the plain kNN graph's n * k
    assert len(edge_set(got["image"])) < 25 * 4


def test_consistent_knn_skips_zero_rows_and_caches():
    torch.manual_seed(2)
    features = {"text": torch.randn(10, 3)}
    features["text"][4] = 0.0
    got = consistent_knn_neighbours(features, 3)["text"]
    assert (got[4] == -1).all() and not (got == 4).any()
    again = cached_consistent_knn_neighbours(features, 3)
    assert torch.equal(again["text"], got)
    assert torch.equal(cached_consistent_knn_neighbours(features, 3)["text"], got)


def test_cached_cooccurrence_and_self_loops():
    users, items = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 0, 1, 2])
    neighbours = cached_item_cooccurrence_neighbours(users, items, 3, 3, 2, 1)
    assert neighbours.tolist() == [[1, -1], [0, -1], [-1, -1]]
    assert with_self_loops(neighbours).tolist() == [[0, 1, -1], [1, 0, -1], [2, -1, -1]]
