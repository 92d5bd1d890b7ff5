"""The low-rank user-item graph kept as factors (lit_mmrec.nn.low_rank_graph) against dense references."""

import pytest
import torch

import lit_mmrec.nn.low_rank_graph as low_rank_graph
from lit_mmrec.nn.low_rank_graph import (
    low_rank_entries,
    low_rank_propagate,
    normalised_interactions,
    truncated_svd,
)


def random_graph(num_users=12, num_items=9, seed=0):
    """Distinct (user, item) pairs, every user and item with at least one."""
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(num_users, num_items, generator=g) < 0.35
    dense[torch.arange(num_users), torch.arange(num_users) % num_items] = True
    dense[torch.arange(num_items) % num_users, torch.arange(num_items)] = True
    users, items = dense.nonzero(as_tuple=True)
    return users, items, dense.double()


def dense_normalised(dense):
    d_u, d_i = dense.sum(1), dense.sum(0)
    return dense / torch.sqrt(d_u[:, None] * d_i[None, :]).clamp_min(1e-30)


def test_normalised_interactions_match_dense():
    users, items, dense = random_graph()
    sparse = normalised_interactions(users, items, 12, 9)
    assert torch.allclose(torch.from_numpy(sparse.toarray()), dense_normalised(dense))


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_truncated_svd_equals_dense_rank_r_reconstruction(rank):
    users, items, dense = random_graph()
    r_dense = dense_normalised(dense)
    left, values, right = truncated_svd(normalised_interactions(users, items, 12, 9), rank)
    assert left.shape == (12, rank) and values.shape == (rank,) and right.shape == (9, rank)
    u, s, vh = torch.linalg.svd(r_dense)
    assert torch.allclose(values.double(), s[:rank], atol=1e-6)
    assert bool((values[:-1] >= values[1:]).all())  # largest first
    reference = u[:, :rank] @ torch.diag(s[:rank]) @ vh[:rank]
    assert torch.allclose((left * values) @ right.T, reference.float(), atol=1e-5)


def test_truncated_svd_refuses_a_rank_arpack_cannot_give():
    users, items, _ = random_graph()
    with pytest.raises(ValueError, match="SVD rank"):
        truncated_svd(normalised_interactions(users, items, 12, 9), 9)


def test_propagation_equals_the_dense_bipartite_product():
    torch.manual_seed(0)
    p, q, w = torch.randn(12, 4), torch.randn(9, 4), torch.rand(4)
    users, items = torch.randn(12, 5), torch.randn(9, 5)
    m = p @ torch.diag(w) @ q.T
    out_users, out_items = low_rank_propagate(users, items, p, w, q)
    square = torch.zeros(21, 21)
    square[:12, 12:], square[12:, :12] = m, m.T
    expected = square @ torch.cat([users, items])
    assert torch.allclose(out_users, expected[:12], atol=1e-5)
    assert torch.allclose(out_items, expected[12:], atol=1e-5)


@pytest.mark.parametrize("chunk", [1 << 22, 9 * 2, 5])
def test_entries_are_the_thresholded_dense_matrix_whatever_the_chunk(monkeypatch, chunk):
    monkeypatch.setattr(low_rank_graph, "_ENTRY_CHUNK_ELEMENTS", chunk)
    torch.manual_seed(1)
    p, q, w = torch.randn(12, 3), torch.randn(9, 3), torch.rand(3)
    m = p @ torch.diag(w) @ q.T
    users, items, values = low_rank_entries(p, w, q, 0.5)
    kept = m.abs() >= 0.5
    assert 0 < kept.sum() < m.numel()
    rebuilt = torch.zeros_like(m)
    rebuilt[users, items] = values
    assert users.numel() == int(kept.sum())
    assert torch.allclose(rebuilt, m * kept, atol=1e-6)
    with pytest.raises(ValueError, match="threshold"):
        low_rank_entries(p, w, q, 0.0)
