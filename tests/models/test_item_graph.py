import logging
import pickle

import numpy as np
import pytest
import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models import item_graph
from lit_mmrec.models.item_graph import (
    cached_knn_neighbours,
    cooccurrence_neighbours,
    csr_pair,
    knn_neighbours,
    mixed_knn_graph,
    mixing_weights,
    normalised_knn_adjacency,
    read_user_graph_dict,
    sparse_matmul,
    user_cooccurrence_graph,
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
    monkeypatch.setattr(item_graph, "_SIMILARITY_CHUNK_ELEMENTS", chunk_elements)
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


def test_sparse_matmul_forward_and_backward_match_dense():
    torch.manual_seed(3)
    dense = torch.rand(7, 7) * (torch.rand(7, 7) < 0.4)
    matrix, matrix_t = csr_pair(dense.to_sparse())
    x1 = torch.randn(7, 3, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    weights = torch.randn(7, 3)
    (sparse_matmul(matrix, matrix_t, sparse_matmul(matrix, matrix_t, x1)) * weights).sum().backward()
    (dense @ (dense @ x2) * weights).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


def brute_force_cooccurrence(users, items, num_users, num_items, k):
    r = torch.zeros(num_users, num_items)
    r[users, items] = 1
    c = r @ r.T
    c.fill_diagonal_(0)
    neighbours = torch.full((num_users, k), -1)
    counts = torch.zeros(num_users, k)
    for u in range(num_users):
        order = sorted((v for v in range(num_users) if c[u, v] > 0), key=lambda v: (-c[u, v].item(), v))[:k]
        neighbours[u, : len(order)] = torch.tensor(order, dtype=torch.long)
        counts[u, : len(order)] = c[u, order]
    return neighbours, counts


@pytest.mark.parametrize("pair_chunk", [1 << 22, 5])
def test_cooccurrence_matches_brute_force(monkeypatch, pair_chunk):
    monkeypatch.setattr(item_graph, "_PAIR_CHUNK", pair_chunk)
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.integers(0, 15, 60))
    items = torch.from_numpy(rng.integers(0, 9, 60))  # duplicates included; user ids 15, 16 unused
    neighbours, counts = cooccurrence_neighbours(users, items, 17, 9, 4)
    expected_neighbours, expected_counts = brute_force_cooccurrence(users, items, 17, 9, 4)
    assert torch.equal(neighbours, expected_neighbours)
    assert torch.equal(counts, expected_counts)


def save_user_graph_dict(path, graph):
    np.save(path, graph, allow_pickle=True)


def test_read_user_graph_dict_round_trip(tmp_path):
    graph = {0: [[2, 1], [3.0, 1.0]], 1: [[0], [1.0]], 2: [[0, 1, 3], [3.0, 2.0, 1.0]], 3: [[], []]}
    save_user_graph_dict(tmp_path / "g.npy", graph)
    neighbours, counts = read_user_graph_dict(tmp_path / "g.npy", 4, 2)
    assert neighbours.tolist() == [[2, 1], [0, -1], [0, 1], [-1, -1]]
    assert counts.tolist() == [[3.0, 1.0], [1.0, 0.0], [3.0, 2.0], [0.0, 0.0]]
    assert read_user_graph_dict(tmp_path / "g.npy", 5, 2) is None  # wrong number of users


class Payload:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').close()",))


def test_read_user_graph_dict_refuses_code(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.npy"
    array = np.empty((), dtype=object)
    array[()] = {0: Payload()}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(array, handle, protocol=3)
    with caplog.at_level(logging.WARNING):
        assert read_user_graph_dict(path, 1, 2) is None
    assert not (tmp_path / "PWNED").exists()
    assert "refusing to load builtins.exec" in caplog.text


def test_user_graph_source_file_or_built(tiny_dataset, caplog):
    data = load_mmrec_dataset(tiny_dataset)
    with caplog.at_level(logging.INFO):
        built_neighbours, built_counts, origin = user_cooccurrence_graph(data, 3)
    assert origin == "built" and "built from" in caplog.text
    expected = cooccurrence_neighbours(data.train.users, data.train.items, data.num_users, data.num_items, 3)
    assert torch.equal(built_neighbours, expected[0]) and torch.equal(built_counts, expected[1])
    with pytest.raises(ValueError, match="user_graph_dict.npy"):
        user_cooccurrence_graph(data, 3, source="file")
    # the MMRec file, in the order the script writes it
    graph = {
        u: [
            built_neighbours[u][built_neighbours[u] >= 0].tolist(),
            built_counts[u][built_neighbours[u] >= 0].tolist(),
        ]
        for u in range(data.num_users)
    }
    save_user_graph_dict(tiny_dataset / "user_graph_dict.npy", graph)
    neighbours, counts, origin = user_cooccurrence_graph(data, 3)
    assert origin.startswith("file:") and torch.equal(neighbours, built_neighbours)
    assert user_cooccurrence_graph(data, 3, source="build")[2] == "built"
