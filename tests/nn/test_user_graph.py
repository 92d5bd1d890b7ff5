"""The user co-occurrence graph shared by DRAGON and DualGNN: MMRec's per-epoch padding, the sparse
matrix, and the mixin's per-mode weights and matrices."""

import logging
import math
import pickle

import numpy as np
import pytest
import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.dragon import DRAGON
from lit_mmrec.models.dualgnn import DualGNN
from lit_mmrec.nn import user_graph
from lit_mmrec.nn.user_graph import (
    check_user_graph_source,
    cooccurrence_neighbours,
    read_user_graph_dict,
    user_cooccurrence_graph,
    user_graph_matrix,
    user_graph_weights,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


def test_user_graph_padding_follows_mmrec_polya_urn():
    counts = torch.tensor([[2.0, 1.0, 0.0, 0.0], [3.0, 2.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    valid = torch.tensor([[True, True, False, False], [True] * 4, [False] * 4])
    fixed = user_graph_weights(counts, valid, pad=False)
    assert torch.allclose(fixed[0, :2], torch.softmax(torch.tensor([2.0, 1.0]), 0))
    assert torch.allclose(fixed[1], torch.softmax(counts[1], 0)) and (fixed[2] == 0).all()
    torch.manual_seed(0)
    repeats = 3000
    padded = user_graph_weights(counts[:1].repeat(repeats, 1), valid[:1].repeat(repeats, 1), pad=True)
    assert torch.allclose(padded.sum(1), torch.ones(repeats)) and (padded[:, 2:] == 0).all()
    # 2 neighbours padded to 4 by MMRec's loop: extra copies of the first are 0, 1, 2 with p = 1/3 each,
    # i.e. it appears 1, 2 or 3 times and its weight is c e^2 / (c e^2 + (4 - c) e^1)
    e2, e1 = math.exp(2), math.exp(1)
    outcomes = torch.tensor([c * e2 / (c * e2 + (4 - c) * e1) for c in (1, 2, 3)])
    which = (padded[:, :1] - outcomes).abs().argmin(1)
    assert torch.allclose(padded[:, 0], outcomes[which], atol=1e-5)
    frequencies = torch.bincount(which, minlength=3).float() / repeats
    assert torch.allclose(frequencies, torch.full((3,), 1 / 3), atol=0.04)
    # a user with k neighbours is never padded, one without any has no weights
    again = user_graph_weights(counts, valid, pad=True)
    assert torch.allclose(again[1], fixed[1]) and (again[2] == 0).all()


def test_user_graph_matrix_adds_repeated_slots():
    neighbours = torch.tensor([[1, 1, -1], [0, 2, -1], [-1, -1, -1]])
    weights = torch.tensor([[0.25, 0.5, 0.0], [0.75, 0.25, 0.0], [0.0, 0.0, 0.0]])
    matrix, transpose = user_graph_matrix(neighbours, weights)
    expected = torch.tensor([[0.0, 0.75, 0.0], [0.75, 0.0, 0.25], [0.0, 0.0, 0.0]])
    assert torch.allclose(matrix.to_dense(), expected) and torch.allclose(transpose.to_dense(), expected.T)


def test_check_user_graph_source():
    for source in ("auto", "file", "build"):
        check_user_graph_source(source)
    with pytest.raises(ValueError, match="user_graph_source"):
        check_user_graph_source("download")


@pytest.mark.parametrize("backbone", [DRAGON, DualGNN])
def test_mixin_weights_and_matrices_per_mode(tiny_dataset, backbone):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = backbone(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, user_graph_k=5)
    model.attach(data)
    valid = model.user_neighbour_valid
    assert torch.equal(valid, model.user_neighbours >= 0)
    assert torch.equal(model.eval_user_weights, user_graph_weights(model.user_neighbour_counts, valid, pad=False))

    model.eval()
    assert model.user_weights() is model.eval_user_weights
    graph = model.user_graph()
    assert model.user_graph() is graph  # built once for evaluation
    expected = user_graph_matrix(model.user_neighbours, model.eval_user_weights)
    assert all(torch.equal(a.to_dense(), b.to_dense()) for a, b in zip(graph, expected, strict=True))

    model.train()
    model.on_train_epoch_start()  # draws this epoch's padding
    weights = model.user_weights()
    assert model.user_weights() is weights and (weights[~valid] == 0).all()
    epoch_graph = model.user_graph()
    assert model.user_graph() is epoch_graph  # built once per epoch
    expected = user_graph_matrix(model.user_neighbours, weights)
    assert torch.equal(epoch_graph[0].to_dense(), expected[0].to_dense())
    model.resample_user_graph()
    assert model.user_weights() is not weights and model.user_graph() is not epoch_graph


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
    monkeypatch.setattr(user_graph, "_PAIR_CHUNK", pair_chunk)
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
