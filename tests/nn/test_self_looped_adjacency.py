import torch

from lit_mmrec.nn.self_looped_adjacency import self_looped_bipartite_adjacency


def test_matches_the_dense_reference():
    users, items = torch.tensor([0, 0, 1, 2, 0]), torch.tensor([1, 2, 2, 0, 1])  # (0, 1) twice; user 3 and item 3 alone
    num_users, num_items = 4, 4
    a = torch.zeros(8, 8)
    a[users, items + num_users] = 1
    a[items + num_users, users] = 1
    a = a + torch.eye(8)
    inv = a.sum(1).pow(-0.5)
    expected = inv[:, None] * a * inv[None, :]
    got = self_looped_bipartite_adjacency(users, items, num_users, num_items)
    assert got.layout == torch.sparse_csr
    assert torch.allclose(got.to_dense(), expected)
    assert got.to_dense()[3, 3] == 1.0 and got.to_dense()[7, 7] == 1.0
