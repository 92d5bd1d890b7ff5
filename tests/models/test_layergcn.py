"""LayerGCN: the layer-refined combination against a dense reference, MMRec's summed loss, and the
per-epoch pruned graph (re-drawn each epoch, degree-sensitive in MMRec's even epochs, uniform in its odd ones)."""

import pytest
import torch
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.layergcn import LayerGCN
from lit_mmrec.nn.edge_pruning import degree_sensitive_keep


def make(data, **kwargs):
    torch.manual_seed(0)
    model = LayerGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                     embedding_dim=8, **kwargs)
    model.attach(data)
    return model


def refined_sum(adjacency, ego, layers):
    """sum_{l=1..L} x^(l), x^(l) = cos(A x^(l-1), E^(0)) A x^(l-1), dense and written out."""
    hidden, total = ego, torch.zeros_like(ego)
    for _ in range(layers):
        hidden = adjacency @ hidden
        cosine = (hidden * ego).sum(1) / (hidden.norm(dim=1) * ego.norm(dim=1)).clamp_min(1e-30)
        hidden = cosine.unsqueeze(1) * hidden
        total = total + hidden
    return total


def test_representations_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_layers=3, reg_weight=0.01)
    model.eval()  # the full graph
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    ego = torch.cat([model.user_embedding, model.item_embedding]).detach()
    expected = refined_sum(adjacency, ego, 3)
    with torch.no_grad():
        users, items = model.representations()
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-6)

    u, p, n = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 4, 5, 5]), torch.tensor([6, 7, 8, 0])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    eu, ep, en = expected[u], expected[data.num_users + p], expected[data.num_users + n]
    bpr = -torch.nn.functional.logsigmoid((eu * ep).sum(1) - (eu * en).sum(1)).sum()
    rows = (model.user_embedding[u], model.item_embedding[p], model.item_embedding[n])
    reg = 0.01 * 0.5 * sum((r.detach() ** 2).sum() for r in rows)
    assert torch.allclose(terms["bpr"], bpr, atol=1e-5)
    assert torch.allclose(terms["reg"], reg, atol=1e-8)


def test_training_graph_is_the_pruned_graph_redrawn_each_epoch(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_layers=2, dropout=0.5)
    model.train()
    graphs = []
    for epoch in range(4):
        torch.manual_seed(10 + epoch)
        model.resample_pruned_graph(epoch)
        graphs.append(model._pruned_adjacency.to_dense())
        # the kept edges renormalised over themselves, drawn with this epoch's weights
        torch.manual_seed(10 + epoch)
        keep = degree_sensitive_keep(model.pruning_weights(epoch), 0.5)
        assert keep.numel() == len(data.train) // 2
        expected = dense_bipartite(data.train.users[keep], data.train.items[keep], data.num_users, data.num_items)
        assert torch.allclose(graphs[-1], expected, atol=1e-6)
        # training propagates over it
        ego = torch.cat([model.user_embedding, model.item_embedding]).detach()
        with torch.no_grad():
            assert torch.allclose(torch.cat(model.forward()), refined_sum(expected, ego, 2), atol=1e-6)
    assert all(not torch.equal(a, b) for a, b in zip(graphs, graphs[1:], strict=False))


@pytest.mark.parametrize("pruning", ["alternate", "degree"])
def test_pruning_distribution_per_epoch(tiny_dataset, pruning):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, dropout=0.5, pruning=pruning)
    weights = model.edge_weights
    heavy = weights > weights.median()  # edges between low-degree nodes
    torch.manual_seed(0)
    for epoch in (0, 1):
        kept = torch.zeros_like(weights)
        for _ in range(400):
            kept[degree_sensitive_keep(model.pruning_weights(epoch), 0.5)] += 1
        ratio = kept[heavy].mean() / kept[~heavy].mean()
        if epoch == 0 or pruning == "degree":  # degree-sensitive: low-degree edges survive more often
            assert torch.equal(model.pruning_weights(epoch), weights) and ratio > 1.2
        else:  # MMRec's odd epochs: uniform
            assert torch.equal(model.pruning_weights(epoch), torch.ones_like(weights)) and abs(ratio - 1) < 0.1


def test_no_dropout_trains_on_the_full_graph_and_arguments_are_checked(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, dropout=0.0)
    model.resample_pruned_graph(0)
    assert model._pruned_adjacency is model.adjacency
    for bad in ({"num_layers": 0}, {"dropout": 1.0}, {"dropout": float("nan")}, {"pruning": "random"}):
        with pytest.raises(ValueError):
            LayerGCN(num_users=4, num_items=4, **bad)
