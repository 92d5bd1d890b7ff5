"""MMGCF: LightGCN rows late-fused with the projected modal features against a dense reference, its loss,
and the degree-sensitively pruned training graph re-drawn each epoch."""

import pytest
import torch
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.mmgcf import MMGCF
from lit_mmrec.nn.edge_pruning import degree_sensitive_keep


def make(data, **kwargs):
    torch.manual_seed(0)
    model = MMGCF(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                  embedding_dim=8, feat_embed_dim=8, **kwargs)
    model.attach(data)
    return model


def reference(model, data, adjacency, layers):
    """LightGCN's layer mean over the dense graph; items: (I + (f_image + f_text) / 2) / 2."""
    ego = torch.cat([model.user_embedding, model.item_embedding]).detach()
    hidden, total = ego, ego
    for _ in range(layers):
        hidden = adjacency @ hidden
        total = total + hidden
    total = total / (layers + 1)
    users, items = total[: data.num_users], total[data.num_users :]
    features = [model.projection[m](data.item_features[m]).detach() for m in ("image", "text")]
    return users, (items + (features[0] + features[1]) / 2) / 2


def test_representations_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_layers=2, reg_weight=0.01)
    model.eval()  # the full graph
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    users, items = reference(model, data, adjacency, 2)
    with torch.no_grad():
        got_users, got_items = model.representations()
    assert torch.allclose(got_users, users, atol=1e-6) and torch.allclose(got_items, items, atol=1e-6)

    u, p, n = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 4, 5, 5]), torch.tensor([6, 7, 8, 0])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    bpr = -torch.nn.functional.logsigmoid((users[u] * items[p]).sum(1) - (users[u] * items[n]).sum(1)).mean()
    rows = (model.user_embedding[u], model.item_embedding[p], model.item_embedding[n])
    reg = 0.01 * sum((r.detach() ** 2).sum() for r in rows) / (2 * 4)
    assert torch.allclose(terms["bpr"], bpr, atol=1e-6)
    assert torch.allclose(terms["reg"], reg, atol=1e-8)


def test_training_graph_is_the_degree_sensitively_pruned_graph_redrawn_each_epoch(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_layers=1, dropout=0.5)
    model.train()
    graphs = []
    for epoch in range(3):
        torch.manual_seed(10 + epoch)
        model.resample_pruned_graph()
        graphs.append(model._pruned_adjacency.to_dense())
        torch.manual_seed(10 + epoch)
        keep = degree_sensitive_keep(model.edge_weights, 0.5)
        assert keep.numel() == len(data.train) // 2
        expected = dense_bipartite(data.train.users[keep], data.train.items[keep], data.num_users, data.num_items)
        assert torch.allclose(graphs[-1], expected, atol=1e-6)
        users, items = reference(model, data, expected, 1)
        with torch.no_grad():
            got_users, got_items = model.forward()
        assert torch.allclose(got_users, users, atol=1e-6) and torch.allclose(got_items, items, atol=1e-6)
    assert all(not torch.equal(a, b) for a, b in zip(graphs, graphs[1:], strict=False))


@pytest.mark.parametrize("fusion", ["mean", "sum", "concat"])
def test_sgurinit_space_follows_the_fusion(tiny_dataset, fusion):
    data = load_mmrec_dataset(tiny_dataset)
    (target,) = make(data, fusion=fusion).user_init_targets()
    if fusion == "concat":
        assert target.item_space == "none"
    else:
        raw = data.item_features["text"]
        model = make(data, fusion=fusion)
        assert torch.allclose(target.item_space("text", raw), model.projection["text"](raw).detach())


def test_invalid_hyperparameters_are_refused(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    with pytest.raises(ValueError, match="dropout"):
        make(data, dropout=1.0)
    with pytest.raises(ValueError, match="feature_dim"):
        MMGCF(num_users=6, num_items=10, feature_dims=data.feature_dims, embedding_dim=8, feat_embed_dim=4)
    with pytest.raises(ValueError, match="finite"):
        make(data, reg_weight=float("nan"))
    with pytest.raises(ValueError, match="audio"):
        make(data, modalities=["audio"])
