"""Symmetric normalisation of the user-item graph against a dense reference and PyG's gcn_norm."""

import torch
from helpers import dense_bipartite
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from lit_mmrec.nn.normalisation import bipartite_adjacency, symmetric_normalised_weights, user_item_block
from lit_mmrec.nn.sparse import int32_csr


def test_bipartite_adjacency_matches_dense_reference_and_gcn_norm():
    users = torch.tensor([0, 0, 1, 2, 2, 2])
    items = torch.tensor([0, 1, 1, 0, 2, 3])
    num_users, num_items = 4, 5  # user 3 and item 4 are isolated
    adjacency = bipartite_adjacency(users, items, num_users, num_items)
    assert torch.allclose(adjacency.to_dense(), dense_bipartite(users, items, num_users, num_items))
    edge_index = torch.stack([torch.cat([users, items + num_users]), torch.cat([items + num_users, users])])
    edge_index, values = gcn_norm(edge_index, None, num_users + num_items, add_self_loops=False)
    pyg = torch.sparse_coo_tensor(edge_index, values, adjacency.shape).to_dense()
    assert torch.allclose(adjacency.to_dense(), pyg)


def test_adjacency_has_int32_indices_and_the_same_products():
    generator = torch.Generator().manual_seed(0)
    users = torch.randint(0, 50, (300,), generator=generator)
    items = torch.randint(0, 40, (300,), generator=generator)
    pairs = torch.unique(users * 40 + items)
    adjacency = bipartite_adjacency(pairs // 40, pairs % 40, 50, 40)
    assert adjacency.crow_indices().dtype == adjacency.col_indices().dtype == torch.int32
    wide = torch.sparse_csr_tensor(
        adjacency.crow_indices().long(), adjacency.col_indices().long(), adjacency.values(), adjacency.shape
    )
    x = torch.randn(90, 16, generator=generator)
    assert torch.equal(torch.sparse.mm(adjacency, x), torch.sparse.mm(wide, x))
    assert torch.equal(int32_csr(wide).crow_indices(), adjacency.crow_indices())


def test_weighted_normalisation_uses_row_sums_and_drops_empty_rows():
    rows, cols = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 0, 2])
    weights = torch.tensor([1.0, 3.0, 2.0, 0.0], requires_grad=True)  # node 2's row sums to 0
    values = symmetric_normalised_weights(rows, cols, weights, 4)
    degree = torch.tensor([4.0, 2.0, 0.0, 0.0])
    inv = torch.where(degree > 0, degree.rsqrt(), torch.zeros(4))
    assert torch.allclose(values, weights * inv[rows] * inv[cols])
    values.sum().backward()
    assert torch.isfinite(weights.grad).all()


def test_weighted_normalisation_is_gcn_norm_on_row_sums_and_safe_for_negative_degrees():
    rows, cols = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([1, 2, 0, 2, 0])
    weights = torch.tensor([0.5, 0.25, 1.0, 2.0, 0.75])
    edge_index = torch.stack([rows, cols])
    _, pyg = gcn_norm(edge_index, weights, 3, add_self_loops=False, flow="target_to_source")
    assert torch.allclose(symmetric_normalised_weights(rows, cols, weights, 3), pyg)
    negative = torch.tensor([0.5, 0.25, 1.0, 2.0, -0.75])  # node 2's row sums to -0.75
    values = symmetric_normalised_weights(rows, cols, negative, 3)
    assert torch.isfinite(values).all() and values[4] == 0 and values[1] == 0


def test_user_item_block_is_the_users_rows_of_the_bipartite_graph():
    users, items = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([1, 3, 0, 2, 3])
    adjacency = bipartite_adjacency(users, items, 3, 4)
    block = user_item_block(adjacency, 3, 4)
    assert block.shape == (3, 4)
    torch.testing.assert_close(block.to_dense(), adjacency.to_dense()[:3, 3:])
