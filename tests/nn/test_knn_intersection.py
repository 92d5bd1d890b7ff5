import pytest
import torch

from lit_mmrec.nn.knn_intersection import augmented_user_item_adjacency, knn_intersection_edges


def dense_row_normalised(a):
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def test_intersection_edges_match_a_set_reference():
    torch.manual_seed(0)
    n, k = 12, 4
    tables = [torch.stack([torch.randperm(n)[:k] for _ in range(n)]) for _ in range(3)]
    tables[1][2, 1] = -1  # an unused slot is nobody
    rows, cols = knn_intersection_edges(tables)
    expected = {
        (i, j)
        for i in range(n)
        for j in set(tables[0][i].tolist()) & set(tables[1][i].tolist()) & set(tables[2][i].tolist())
        if j != i and j >= 0
    }
    got = list(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(got) == len(set(got)) and set(got) == expected


def test_one_table_gives_its_neighbours_without_the_item_itself():
    table = torch.tensor([[0, 2, 1], [1, 0, -1], [2, 0, 1]])
    rows, cols = knn_intersection_edges([table])
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 2), (0, 1), (1, 0), (2, 0), (2, 1)]


def test_augmented_graph_equals_the_dense_reference():
    """``D^-1/2 [[0, R], [R^T, C]] D^-1/2`` with row sums, the intersection edges directed."""
    num_users, num_items = 4, 5
    users = torch.tensor([0, 0, 1, 2, 2, 3])
    items = torch.tensor([0, 1, 1, 2, 4, 0])
    item_rows, item_cols = torch.tensor([0, 1, 3, 3]), torch.tensor([1, 0, 4, 2])  # 3 -> 4 without 4 -> 3
    got = augmented_user_item_adjacency(users, items, item_rows, item_cols, num_users, num_items).to_dense()
    a = torch.zeros(num_users + num_items, num_users + num_items)
    a[users, items + num_users] = 1
    a[items + num_users, users] = 1
    a[item_rows + num_users, item_cols + num_users] = 1
    expected = dense_row_normalised(a)
    assert torch.allclose(got, expected)
    assert not torch.allclose(got, got.T)  # directed intersection edges: not symmetric
    assert got[num_users + 3].sum() > 0 and got[:, num_users + 3][:num_users].sum() == 0  # item 3: no users


def test_tables_must_share_rows():
    with pytest.raises(ValueError, match="same rows"):
        knn_intersection_edges([torch.zeros(3, 2, dtype=torch.long), torch.zeros(4, 2, dtype=torch.long)])
