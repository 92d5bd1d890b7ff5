import pytest
import torch

from lit_mmrec.nn import knn_graph
from lit_mmrec.nn.knn_graph import (
    cached_knn_neighbours,
    knn_neighbours,
    mixed_knn_graph,
    mixing_weights,
    normalised_knn_adjacency,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


def brute_force_knn(features, k):
    norms = features.norm(dim=1)
    valid = norms > 0
    unit = features / norms.clamp_min(1e-12).unsqueeze(1)
    sim = unit @ unit.T
    sim[:, ~valid] = float("-inf")
    values, index = sim.topk(min(k, int(valid.sum())), dim=1)
    return index, values, valid


@pytest.mark.parametrize("chunk_elements", [1 << 24, 7])  # one chunk; many chunks of one row
def test_knn_matches_brute_force_and_skips_zero_rows(monkeypatch, chunk_elements):
    monkeypatch.setattr(knn_graph, "_SIMILARITY_CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(0)
    features = torch.randn(30, 6)
    features[[3, 17]] = 0.0  # items without features
    neighbours, similarity = knn_neighbours(features, 5)
    index, values, valid = brute_force_knn(features, 5)
    assert torch.equal(neighbours[valid], index[valid])
    assert torch.allclose(similarity[valid], values[valid], atol=1e-6)
    assert (neighbours[~valid] == -1).all() and (similarity[~valid] == 0).all()
    assert not torch.isin(neighbours, torch.tensor([3, 17])).any()  # zero rows are nobody's neighbour
    assert torch.isfinite(similarity).all()
    assert (neighbours[valid, 0] == torch.arange(30)[valid]).all()  # itself first, as in MMRec


def test_knn_with_fewer_candidates_than_k_leaves_slots_empty():
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    neighbours, similarity = knn_neighbours(features, 4)
    assert neighbours.tolist() == [[0, 1, -1, -1], [1, 0, -1, -1], [-1, -1, -1, -1]]
    assert similarity[0, :2].tolist() == [1.0, 0.0]


def dense_normalised(neighbours, weights=None):
    n = neighbours.shape[0]
    a = torch.zeros(n, n)
    for i in range(n):
        for slot, j in enumerate(neighbours[i].tolist()):
            if j >= 0:
                a[i, j] = 1.0 if weights is None else weights[i, slot]
    d = a.sum(1)
    inv = torch.where(d > 0, d.clamp_min(1e-30).rsqrt(), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("weighted", [False, True])
def test_normalised_knn_adjacency_matches_dense(weighted):
    torch.manual_seed(1)
    features = torch.rand(12, 4)  # positive: positive cosines, positive weighted degrees
    features[5] = 0
    neighbours, similarity = knn_neighbours(features, 3)
    adjacency = normalised_knn_adjacency(neighbours, similarity if weighted else None)
    expected = dense_normalised(neighbours, similarity if weighted else None)
    assert torch.allclose(adjacency.to_dense(), expected, atol=1e-6)
    if not weighted:  # MMRec: every row has k entries, all equal to 1/k
        values = adjacency.to_dense()[torch.arange(12) != 5]
        assert torch.allclose(values[values > 0], torch.full_like(values[values > 0], 1 / 3))


def test_mixed_graph_is_weighted_sum_and_cached(tmp_path):
    torch.manual_seed(2)
    features = {"image": torch.randn(20, 8), "text": torch.randn(20, 5)}
    weights = mixing_weights(["image", "text"], None, "test")
    assert weights == pytest.approx({"image": 0.1, "text": 0.9})
    graph = mixed_knn_graph(features, weights, 4, cache_dir=tmp_path)
    expected = 0.1 * dense_normalised(knn_neighbours(features["image"], 4)[0]) + 0.9 * dense_normalised(
        knn_neighbours(features["text"], 4)[0]
    )
    assert torch.allclose(graph.to_dense(), expected, atol=1e-6)
    assert len(list(tmp_path.glob("item_knn-*.pt"))) == 2
    again = cached_knn_neighbours(features["text"], 4, cache_dir=tmp_path)  # read from the cache
    assert torch.equal(again[0], knn_neighbours(features["text"], 4)[0])


def test_mixing_weights_renormalise_and_name_missing_modality():
    assert mixing_weights(["text"], None, "FREEDOM") == {"text": 1.0}
    assert mixing_weights(["image"], None, "FREEDOM") == {"image": 1.0}
    with pytest.raises(ValueError, match="'audio'"):
        mixing_weights(["audio", "text"], None, "FREEDOM")
    assert mixing_weights(["audio", "text"], {"audio": 1, "text": 3}, "X") == {"audio": 0.25, "text": 0.75}
