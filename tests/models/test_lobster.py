"""LOBSTER: the branches (ID, image, text) with the global factor embeddings and the modality-adaptive BPR
against a dense reference, and the pruned training graph (LayerGCN's alternation)."""

import pytest
import torch
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.lobster import LOBSTER
from lit_mmrec.nn.edge_pruning import degree_sensitive_keep


def make(data, **kwargs):
    torch.manual_seed(0)
    model = LOBSTER(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                    embedding_dim=8, **kwargs)
    model.attach(data)
    return model


def reference(model, data, adjacency, layers):
    """Each branch written out densely: ego rows with the factor sums, x^(0) + the refined layers; concatenated."""
    g_u = model.user_factors.weight.detach().sum(0)
    g_i = model.item_factors.weight.detach().sum(0)
    users, items = [], []
    for branch, table in (("id", model.item_embedding), ("image", data.item_features["image"]),
                          ("text", data.item_features["text"])):
        linear = model.item_encoder[branch][0]
        item_rows = torch.tanh(table.detach() @ linear.weight.detach().T + linear.bias.detach()) + g_i
        ego = torch.cat([model.user_embedding.detach() + g_u, item_rows])
        hidden, total = ego, ego
        for _ in range(layers):
            hidden = adjacency @ hidden
            cosine = (hidden * ego).sum(1) / (hidden.norm(dim=1) * ego.norm(dim=1)).clamp_min(1e-30)
            hidden = cosine.unsqueeze(1) * hidden
            total = total + hidden
        users.append(total[: data.num_users])
        items.append(total[data.num_users :])
    return users, items


def test_branches_factors_and_adaptive_bpr_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_layers=3, num_user_factors=3, num_item_factors=2, reg_weight=0.01)
    model.eval()  # the full graph
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    users, items = reference(model, data, adjacency, 3)
    with torch.no_grad():
        got_users, got_items = model.representations()
    assert got_users.shape == (data.num_users, 24)
    assert torch.allclose(got_users, torch.cat(users, 1), atol=1e-5)
    assert torch.allclose(got_items, torch.cat(items, 1), atol=1e-5)

    u, p, n = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 4, 5, 5]), torch.tensor([6, 7, 8, 0])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    s_pos = torch.stack([(users[b][u] * items[b][p]).sum(1) for b in range(3)], 1)
    s_neg = torch.stack([(users[b][u] * items[b][n]).sum(1) for b in range(3)], 1)
    weights = 1 - torch.softmax(s_pos - s_neg, 1)
    bpr = -torch.nn.functional.logsigmoid((weights * (s_pos - s_neg)).sum(1)).sum()
    rows = (model.user_embedding[u], model.item_embedding[p], model.item_embedding[n])
    reg = 0.01 * 0.5 * sum((r.detach() ** 2).sum() for r in rows)
    assert torch.allclose(terms["bpr"], bpr, atol=1e-4)
    assert torch.allclose(terms["reg"], reg, atol=1e-8)


def test_every_factor_row_learns_the_same_step(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_user_factors=3, num_item_factors=2)
    model.train()
    sum(model.loss(torch.tensor([0, 1]), torch.tensor([3, 4]), torch.tensor([6, 7])).values()).backward()
    for factors in (model.user_factors.weight.grad, model.item_factors.weight.grad):
        assert factors.abs().sum() > 0 and torch.allclose(factors, factors[0].expand_as(factors))


def test_training_graph_is_the_alternately_pruned_graph(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, num_layers=2, dropout=0.5)
    model.train()
    for epoch in range(2):
        torch.manual_seed(10 + epoch)
        model.resample_pruned_graph(epoch)
        torch.manual_seed(10 + epoch)
        keep = degree_sensitive_keep(model.pruning_weights(epoch), 0.5)
        expected = dense_bipartite(data.train.users[keep], data.train.items[keep], data.num_users, data.num_items)
        users, items = reference(model, data, expected, 2)
        with torch.no_grad():
            got_users, got_items = model.forward()
        assert torch.allclose(got_users, torch.cat(users, 1), atol=1e-5)
        assert torch.allclose(got_items, torch.cat(items, 1), atol=1e-5)
    assert torch.equal(model.pruning_weights(1), torch.ones_like(model.edge_weights))


def test_sgurinit_compares_the_user_table_with_the_branch_encoders(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data)
    (target,) = model.user_init_targets()
    raw = data.item_features["image"]
    assert target.table is model.user_embedding and target.modalities == ["image", "text"]
    assert torch.allclose(target.item_space("image", raw), model.item_encoder["image"](raw).detach())


def test_invalid_hyperparameters_are_refused(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    with pytest.raises(ValueError, match="factor"):
        make(data, num_user_factors=0)
    with pytest.raises(ValueError, match="dropout"):
        make(data, dropout=1.0)
    with pytest.raises(ValueError, match="audio"):
        make(data, modalities=["audio"])
    with pytest.raises(ValueError, match="finite"):
        make(data, reg_weight=float("inf"))
