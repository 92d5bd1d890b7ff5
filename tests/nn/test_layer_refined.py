"""LayerRefinedConv (lit_mmrec.nn.layer_refined) against a dense reference: values and gradients, on the
fused CPU path (torch CSR) and PyG's own paths (COO, edge_index)."""

import pytest
import torch

from lit_mmrec.nn.layer_refined import LayerRefinedConv
from lit_mmrec.nn.normalisation import bipartite_adjacency

USERS = torch.tensor([0, 0, 1, 2, 2, 3])
ITEMS = torch.tensor([1, 2, 0, 2, 3, 3])
NUM_USERS, NUM_ITEMS = 4, 5  # item 4 is isolated: its propagated rows are zero, so is its weight
N = NUM_USERS + NUM_ITEMS


def adjacency_as(kind: str):
    csr = bipartite_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    coo = csr.to_sparse_coo().coalesce()
    if kind == "csr":
        return csr, None
    if kind == "coo":
        return coo, None
    return coo.indices(), coo.values()


def dense_reference(x, layers):
    """sum_{l=1..L} x^(l), x^(l) = cos(A x^(l-1), x^(0)) * A x^(l-1), the cosine written out."""
    dense = bipartite_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS).to_dense()
    hidden, total = x, torch.zeros_like(x)
    for _ in range(layers):
        hidden = dense @ hidden
        # an isolated node's propagated row is zero: its cosine is 0 (the clamp keeps its gradient finite)
        norms = (hidden.pow(2).sum(1) * x.pow(2).sum(1)).clamp_min(1e-30).sqrt()
        hidden = ((hidden * x).sum(1) / norms).unsqueeze(1) * hidden
        total = total + hidden
    return total


@pytest.mark.parametrize("kind", ["csr", "coo", "edge_index"])
@pytest.mark.parametrize("layers", [1, 2, 4])
def test_layer_refined_matches_dense_values_and_gradients(kind, layers):
    torch.manual_seed(layers)
    x = torch.randn(N, 3, requires_grad=True)
    weights = torch.randn(N, 3)
    adjacency, edge_weight = adjacency_as(kind)
    out = LayerRefinedConv(layers)(x, adjacency, edge_weight)
    (out * weights).sum().backward()
    grad = x.grad.clone()
    x.grad = None
    expected = dense_reference(x, layers)
    (expected * weights).sum().backward()
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(grad, x.grad, atol=1e-5)
    assert out[NUM_USERS + 4].abs().sum() == 0  # the isolated item


def test_refinement_damps_layers_that_drift_from_the_ego_row():
    # one node pair: the propagated row of node 0 is node 1's row, orthogonal to node 0's own row
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    adjacency = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).to_sparse_csr()
    assert torch.equal(LayerRefinedConv(1)(x, adjacency), torch.zeros(2, 2))
    # aligned rows pass unchanged (cos = 1); the ego layer is not in the sum
    assert torch.allclose(LayerRefinedConv(2)(x, torch.eye(2).to_sparse_csr()), 2 * x)


def test_split_and_arguments():
    x = torch.randn(N, 3)
    adjacency, _ = adjacency_as("csr")
    users, items = LayerRefinedConv(2).forward_split(x[:NUM_USERS], x[NUM_USERS:], adjacency)
    assert torch.allclose(torch.cat([users, items]), LayerRefinedConv(2)(x, adjacency))
    with pytest.raises(ValueError, match="num_layers"):
        LayerRefinedConv(0)
