"""SelfCF (SELFCF_ed): the target branch receives no gradient, the loss equals its closed form, ranking
scores are <g(e_u), e_i> + <e_u, g(e_i)>, and training propagates over BUIR's edge-dropped graph."""

import pytest
import torch
import torch.nn.functional as F
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.selfcf import SelfCF

BATCH = torch.tensor([0, 1, 2, 2, 5]), torch.tensor([3, 4, 5, 6, 9]), torch.tensor([0, 0, 0, 0, 0])


def make(data, **kwargs):
    torch.manual_seed(0)
    model = SelfCF(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                   embedding_dim=8, **kwargs)
    model.attach(data)
    return model


def dense_encoder(model, data, adjacency=None):
    """LightGCN's layer mean over a dense adjacency (default: the full normalised graph)."""
    if adjacency is None:
        adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    hidden = total = torch.cat([model.user_embedding, model.item_embedding])
    for _ in range(model.num_layers):
        hidden = adjacency @ hidden
        total = total + hidden
    total = total / (model.num_layers + 1)
    return total[: data.num_users], total[data.num_users :]


def closed_form(g, users, items, target_users, target_items):
    """1/2 (-mean cos(g(e_u), t_i)) + 1/2 (-mean cos(g(e_i), t_u)), the cosine written out."""
    def nc(p, z):
        return -((p * z).sum(1) / (p.norm(dim=1) * z.norm(dim=1))).mean()

    return nc(g(users), target_items) / 2 + nc(g(items), target_users) / 2


def test_loss_equals_closed_form_and_target_branch_gets_no_gradient(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, reg_weight=0.0)
    model.eval()  # full graph, no target dropout: the targets are the online rows, detached
    users, positives, _ = BATCH
    terms = model.loss(*BATCH)
    assert set(terms) == {"ssl"}
    terms["ssl"].backward()
    grads = [p.grad.clone() for p in (model.user_embedding, model.item_embedding, model.predictor.weight)]
    model.zero_grad()
    # reference: the targets as constants (stop-gradient)
    user_rows, item_rows = dense_encoder(model, data)
    eu, ei = user_rows[users], item_rows[positives]
    expected = closed_form(model.predictor, eu, ei, eu.detach(), ei.detach())
    assert torch.allclose(terms["ssl"], expected, atol=1e-6)
    expected.backward()
    for got, want in zip(grads, (model.user_embedding.grad, model.item_embedding.grad, model.predictor.weight.grad),
                         strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    # without the stop-gradient the user-table gradient differs: the check above can fail
    model.zero_grad()
    user_rows, item_rows = dense_encoder(model, data)
    eu, ei = user_rows[users], item_rows[positives]
    closed_form(model.predictor, eu, ei, eu, ei).backward()
    assert not torch.allclose(grads[0], model.user_embedding.grad, atol=1e-6)


def test_training_loss_with_embedding_dropout_and_regulariser(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, dropout=0.5, max_edge_dropout=0.0, reg_weight=0.01)
    model.train()
    users, positives, _ = BATCH
    torch.manual_seed(3)
    terms = model.loss(*BATCH)
    with torch.no_grad():
        user_rows, item_rows = dense_encoder(model, data)
        eu, ei = user_rows[users], item_rows[positives]
        torch.manual_seed(3)  # the same dropout masks, drawn in the same order (users, then items)
        tu, ti = F.dropout(eu, 0.5), F.dropout(ei, 0.5)
        assert (tu == 0).any() and torch.allclose(tu[tu != 0], 2 * eu[tu != 0])
        assert torch.allclose(terms["ssl"], closed_form(model.predictor, eu, ei, tu, ti), atol=1e-6)
        assert torch.allclose(terms["reg"], 0.01 * 0.5 * (eu.pow(2).sum() + ei.pow(2).sum()), atol=1e-7)


def test_ranking_scores_sum_both_directions(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data)
    model.eval()
    with torch.no_grad():
        user_repr, item_repr = model.representations()
        eu, ei = dense_encoder(model, data)
        g = model.predictor
        expected = g(eu) @ ei.T + eu @ g(ei).T
    assert user_repr.shape == (data.num_users, 16) and item_repr.shape == (data.num_items, 16)
    assert torch.allclose(user_repr @ item_repr.T, expected, atol=1e-6)


def test_edge_dropout_keeps_entries_at_one_rate_and_rescales(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, max_edge_dropout=1.0)
    model.train()
    full = model.adjacency.to_dense()
    torch.manual_seed(5)
    matrix, matrix_t = model.edge_dropped_adjacency()
    torch.manual_seed(5)
    rate = float(torch.rand(()))
    keep = torch.rand(model.adjacency_values.numel()) >= rate
    dropped = torch.zeros_like(full)
    dropped[model.adjacency_rows[keep], model.adjacency_cols[keep]] = model.adjacency_values[keep] / (1 - rate)
    assert 0 < keep.sum() < keep.numel()
    assert torch.allclose(matrix.to_dense(), dropped) and torch.allclose(matrix_t.to_dense(), dropped.T)
    # each non-zero is dropped on its own: the kept matrix is not symmetric, its values are Â's, rescaled
    assert not torch.equal(dropped, dropped.T)
    kept = dropped != 0
    assert torch.allclose(dropped[kept] * (1 - rate), full[kept])
    # training propagates over a fresh draw (the same draw here, under the same seed)
    torch.manual_seed(5)
    users, items = model.encode()
    ref_users, ref_items = dense_encoder(model, data, dropped)
    assert torch.allclose(users, ref_users, atol=1e-6) and torch.allclose(items, ref_items, atol=1e-6)


def test_arguments_are_checked():
    for bad in ({"dropout": 1.0}, {"max_edge_dropout": 1.5}, {"num_layers": -1}, {"dropout": float("nan")}):
        with pytest.raises(ValueError):
            SelfCF(num_users=4, num_items=4, **bad)
