"""LightConv (lit_mmrec.nn.light_conv) against a dense reference, on every adjacency type PyG takes:
values and gradients, both combinations, the fused CPU path and PyG's own path, and PyG's LGConv."""

import pytest
import torch
from torch_geometric.nn import LGConv

from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.normalisation import bipartite_adjacency

USERS = torch.tensor([0, 0, 1, 2, 2, 3])
ITEMS = torch.tensor([1, 2, 0, 2, 3, 3])
NUM_USERS, NUM_ITEMS = 4, 5  # item 4 is isolated
N = NUM_USERS + NUM_ITEMS


def adjacency_as(kind: str):
    """``(adjacency, edge_weight)`` of the normalised user-item graph in one of PyG's adjacency types."""
    csr = bipartite_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    coo = csr.to_sparse_coo().coalesce()
    if kind == "csr":  # the fused CPU path
        return csr, None
    if kind == "coo":  # PyG's spmm
        return coo, None
    return coo.indices(), coo.values()  # edge_index + edge_weight: PyG's message/aggregate


def dense_reference(x, layers, combine):
    dense = bipartite_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS).to_dense()
    hidden, total = x, x
    for _ in range(layers):
        hidden = dense @ hidden
        total = total + hidden
    return total / (layers + 1) if combine == "mean" else total


@pytest.mark.parametrize("kind", ["csr", "coo", "edge_index"])
@pytest.mark.parametrize("combine", ["mean", "sum"])
@pytest.mark.parametrize("layers", [0, 1, 3])
def test_light_conv_matches_dense_values_and_gradients(kind, combine, layers):
    adjacency, edge_weight = adjacency_as(kind)
    conv = LightConv(layers, combine)
    x = torch.randn(N, 4, requires_grad=True)
    y = x.detach().clone().requires_grad_()
    weights = torch.randn(N, 4)
    out = conv(x, adjacency, edge_weight)
    expected = dense_reference(y, layers, combine)
    assert out.shape == (N, 4)
    assert torch.allclose(out, expected, atol=1e-6)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-5)


@pytest.mark.parametrize("kind", ["csr", "coo"])
def test_forward_split_is_forward_of_the_stacked_tables(kind):
    adjacency, _ = adjacency_as(kind)
    conv = LightConv(2)
    weights = torch.randn(N, 4)
    u, i = torch.randn(NUM_USERS, 4, requires_grad=True), torch.randn(NUM_ITEMS, 4, requires_grad=True)
    x = torch.cat([u, i]).detach().requires_grad_()
    out_u, out_i = conv.forward_split(u, i, adjacency)
    assert torch.equal(torch.cat([out_u, out_i]), conv(x.detach(), adjacency))
    (out_i * weights[NUM_USERS:]).sum().backward()  # one output unused: zero gradient through it
    (conv(x, adjacency)[NUM_USERS:] * weights[NUM_USERS:]).sum().backward()
    assert torch.allclose(torch.cat([u.grad, i.grad]), x.grad, atol=1e-6)


def test_fused_forward_is_bit_identical_to_adding_layers_left_to_right():
    adjacency, _ = adjacency_as("csr")
    x = torch.randn(N, 8)
    conv = LightConv(3)
    hidden, total = x, x.clone()
    for _ in range(3):
        hidden = conv.message_and_aggregate(adjacency, hidden)
        total = total + hidden
    assert torch.equal(conv(x, adjacency), total / 4)


def test_one_layer_is_pygs_lgconv_on_the_raw_edges():
    """LGConv normalises the raw graph itself (gcn_norm): the same Â as bipartite_adjacency's."""
    raw = torch.stack([torch.cat([USERS, ITEMS + NUM_USERS]), torch.cat([ITEMS + NUM_USERS, USERS])])
    x = torch.randn(N, 4)
    csr, _ = adjacency_as("csr")
    assert torch.allclose(LightConv(1, "sum")(x, csr) - x, LGConv()(x, raw), atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        LightConv(-1)
    with pytest.raises(ValueError, match="combine"):
        LightConv(1, "max")
