import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.lightgcn import LightGCN
from lit_mmrec.nn.sparse import (
    bipartite_adjacency,
    int32_csr,
    light_propagate,
    light_propagate_split,
    summed_propagate,
    symmetric_spmm,
)


def dense_normalised(users, items, num_users, num_items):
    n = num_users + num_items
    a = torch.zeros(n, n)
    a[users, items + num_users] = 1
    a[items + num_users, users] = 1
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def test_adjacency_and_propagation_match_dense_reference():
    users = torch.tensor([0, 0, 1, 2, 2, 2])
    items = torch.tensor([0, 1, 1, 0, 2, 3])
    num_users, num_items = 4, 5  # user 3 and item 4 are isolated
    adjacency = bipartite_adjacency(users, items, num_users, num_items)
    dense = dense_normalised(users, items, num_users, num_items)
    assert torch.allclose(adjacency.to_dense(), dense)
    x = torch.randn(9, 3, dtype=torch.float32)
    expected = (x + dense @ x + dense @ dense @ x) / 3
    assert torch.allclose(light_propagate(adjacency, x, 2), expected, atol=1e-6)


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


def test_symmetric_spmm_gradient_matches_dense():
    users = torch.tensor([0, 1, 1, 2])
    items = torch.tensor([1, 0, 2, 2])
    adjacency = bipartite_adjacency(users, items, 3, 3)
    dense = adjacency.to_dense()
    x1 = torch.randn(6, 4, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    weights = torch.randn(6, 4)
    (symmetric_spmm(adjacency, symmetric_spmm(adjacency, x1)) * weights).sum().backward()
    (dense @ (dense @ x2) * weights).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


def test_propagation_gradients_match_dense():
    users = torch.tensor([0, 0, 1, 2, 2, 3])
    items = torch.tensor([1, 2, 0, 2, 3, 3])
    adjacency = bipartite_adjacency(users, items, 4, 5)  # item 4 is isolated
    dense = adjacency.to_dense()
    weights = torch.randn(9, 4)

    def reference(x, layers):
        hidden, total = x, x
        for _ in range(layers):
            hidden = dense @ hidden
            total = total + hidden
        return total

    for layers in (0, 1, 3):
        x = torch.randn(9, 4, requires_grad=True)
        y = x.detach().clone().requires_grad_()
        ((summed_propagate(adjacency, x, layers) + 2 * light_propagate(adjacency, x, layers)) * weights).sum().backward()
        ((reference(y, layers) * (1 + 2 / (layers + 1))) * weights).sum().backward()
        assert torch.allclose(x.grad, y.grad, atol=1e-5)
    # split tables: the same forward, gradients to both tables, also when one output is unused
    u, i = torch.randn(4, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    x = torch.cat([u, i]).detach().requires_grad_()
    out_u, out_i = light_propagate_split(adjacency, u, i, 2)
    assert torch.equal(torch.cat([out_u, out_i]), light_propagate(adjacency, x.detach(), 2))
    (out_i * weights[4:]).sum().backward()
    (light_propagate(adjacency, x, 2)[4:] * weights[4:]).sum().backward()
    assert torch.allclose(torch.cat([u.grad, i.grad]), x.grad, atol=1e-6)


def test_lightgcn_loss_and_scores(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = LightGCN(data.num_users, data.num_items, data.feature_dims, embedding_dim=8)
    model.attach(data)
    users, items = model.forward()
    assert users.shape == (6, 8) and items.shape == (10, 8)
    terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    assert set(terms) == {"bpr", "reg"} and all(torch.isfinite(v) for v in terms.values())
    # EmbLoss: unsquared norms of the ego rows, divided by the batch size
    expected_reg = (
        model.user_embedding[[0, 1]].norm() + model.item_embedding[[2, 3]].norm() + model.item_embedding[[4, 5]].norm()
    ) / 2
    assert torch.allclose(terms["reg"], 1e-4 * expected_reg)


def test_csr_mm_matches_torch_sparse_mm_with_empty_rows_and_either_index_width():
    from lit_mmrec.nn.sparse import csr_mm

    generator = torch.Generator().manual_seed(1)
    dense = torch.rand(30, 20, generator=generator)
    dense[dense < 0.8] = 0.0
    dense[[0, 7, 29]] = 0.0  # rows without entries
    x = torch.randn(20, 5, generator=generator)
    wide = dense.to_sparse_csr()
    for matrix in (wide, int32_csr(wide)):
        assert torch.allclose(csr_mm(matrix, x), dense @ x, atol=1e-6)
    assert torch.equal(csr_mm(wide, x)[[0, 7, 29]], torch.zeros(3, 5))
    assert torch.allclose(csr_mm(wide.to_sparse_coo(), x), dense @ x, atol=1e-6)  # other layouts: torch
