"""EdgeConv (lit_mmrec.nn.routing): edge scores and weighted aggregations against a dense reference,
on the fused CPU path and on PyG's own message passing, with gradients in rows and weights."""

import pytest
import torch

from lit_mmrec.data.pairs import row_pointers
from lit_mmrec.nn.routing import BipartiteEdges, EdgeConv

NUM_USERS, NUM_ITEMS = 4, 6


def bipartite_edges():
    users = torch.tensor([0, 0, 1, 1, 1, 3, 3])  # user 2 and item 5 have no edges
    items = torch.tensor([1, 4, 0, 1, 2, 2, 3])
    item_order = torch.argsort(items, stable=True)
    return BipartiteEdges(
        users, items, row_pointers(users, NUM_USERS), row_pointers(items, NUM_ITEMS), item_order, users[item_order]
    )


@pytest.fixture(params=["fused", "pyg"])
def conv(request, monkeypatch):
    layer = EdgeConv()
    if request.param == "pyg":
        monkeypatch.setattr(EdgeConv, "_fused", staticmethod(lambda x: False))
    return layer


def test_scores_are_edge_dot_products_with_gradients(conv):
    edges = bipartite_edges()
    p = torch.randn(NUM_USERS, 3, requires_grad=True)
    f = torch.randn(NUM_ITEMS, 3, requires_grad=True)
    scores = conv.scores(edges, p, f)
    expected = (p[edges.users] * f[edges.items]).sum(-1)
    assert torch.allclose(scores, expected, atol=1e-6)
    weights = torch.randn(scores.numel())
    grads = torch.autograd.grad((scores * weights).sum(), [p, f])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, torch.autograd.grad((expected * weights).sum(), [p, f]), strict=True))


@pytest.mark.parametrize("to", ["users", "items"])
def test_aggregation_matches_dense_with_gradients_in_weights_and_rows(conv, to):
    edges = bipartite_edges()
    weights = torch.randn(edges.users.numel(), requires_grad=True)
    dense = torch.zeros(NUM_USERS, NUM_ITEMS).index_put((edges.users, edges.items), weights)
    matrix = dense if to == "users" else dense.T
    rows = torch.randn(matrix.shape[1], 3, requires_grad=True)
    out = conv(edges, weights, rows, to)
    expected = matrix @ rows
    assert out.shape == expected.shape and torch.allclose(out, expected, atol=1e-6)
    probe = torch.randn_like(out)
    grads = torch.autograd.grad((out * probe).sum(), [weights, rows])
    references = torch.autograd.grad((expected * probe).sum(), [weights, rows])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, references, strict=True))
