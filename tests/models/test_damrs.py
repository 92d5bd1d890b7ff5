"""DA-MRS on the tiny data set: the denoised item graphs and the loss against dense references (the
blocks themselves: tests/nn/test_cooccurrence.py, tests/nn/test_denoising_losses.py)."""

import pytest
import torch
import torch.nn.functional as F
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.damrs import DAMRS
from lit_mmrec.nn.denoising_losses import confidence_weights

pytestmark = pytest.mark.usefixtures("isolated_cache")


def make_model(data, **kwargs):
    torch.manual_seed(0)
    model = DAMRS(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, **kwargs
    )
    model.attach(data)
    return model


def dense(graph):
    return graph.to_dense()


def test_denoised_graphs_keep_only_consistent_and_cooccurring_pairs(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make_model(data, knn_k=4, cooccurrence_k=2, min_common_users=2)
    n = data.num_items
    interactions = torch.zeros(data.num_users, n)
    interactions[data.train.users, data.train.items] = 1.0
    shared = interactions.T @ interactions
    behaviour = dense(model.item_graph("behaviour")[0])
    off_diagonal = (behaviour > 0) & ~torch.eye(n, dtype=torch.bool)
    assert off_diagonal.any()
    assert (shared[off_diagonal] >= 2).all()  # a subset of the co-occurrence graph
    assert (off_diagonal.sum(1) <= 2).all()
    assert (behaviour.diagonal() > 0).all()  # A + I
    consistent = torch.ones(n, n, dtype=torch.bool)
    for m in ("image", "text"):
        unit = F.normalize(data.item_features[m], dim=1)
        sim = unit @ unit.T
        consistent &= sim >= sim.mean()
    for m in ("image", "text"):
        edges = dense(model.item_graph(m)[0]) > 0
        assert edges.any() and (edges.sum(1) <= 4).all()
        assert consistent[edges].all()  # a subset of the consistent pairs, hence of either kNN candidate set


def normalised(adjacency):
    d = adjacency.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * adjacency * inv[None, :]


def test_representations_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make_model(data, knn_k=3, num_pseudo_labels=2)
    graphs = [normalised((dense(model.item_graph(g)[0]) > 0).float()) for g in model.graph_names]
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    ego = torch.cat([model.user_embedding, model.item_embedding]).detach()
    mean = (ego + adjacency @ ego + adjacency @ adjacency @ ego) / 3
    users_ref, items_ref = mean[: data.num_users], mean[data.num_users :]
    views = [g @ model.item_embedding.detach() for g in graphs]
    content = torch.stack(views).mean(0)
    with torch.no_grad():
        users, items = model.forward()
    assert torch.allclose(users, users_ref, atol=1e-6)
    assert torch.allclose(items, items_ref + content, atol=1e-6)

    u, p, n = torch.tensor([0, 1, 2, 0]), torch.tensor([3, 4, 5, 6]), torch.tensor([6, 7, 8, 9])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    assert set(terms) == {"bpr", "kl", "neighbour"}
    eu = users_ref[u]
    pos_logits = torch.stack([(eu * F.normalize(v[p], dim=1)).sum(1) for v in views])
    neg_logits = torch.stack([(eu * F.normalize(v[n], dim=1)).sum(1) for v in views])
    w_pos, w_neg = confidence_weights(pos_logits, neg_logits)
    assert ((w_pos >= 0) & (w_pos <= 1) & (w_neg >= 0) & (w_neg <= 1)).all()
    final = items_ref + content
    s_pos, s_neg = (eu * final[p]).sum(1), (eu * final[n]).sum(1)
    # the closed form: -w+ log σ(s+ - s-) - w- log σ(s- - s+), averaged
    bpr = (-w_pos * torch.log(torch.sigmoid(s_pos - s_neg)) - w_neg * torch.log(torch.sigmoid(s_neg - s_pos))).mean()
    assert torch.allclose(terms["bpr"], bpr, atol=1e-6)
    batch_items, batch_users = torch.unique(torch.cat([p, n])), torch.unique(u)
    x = users_ref[batch_users] @ F.normalize(items_ref[batch_items], dim=1).T
    y = users_ref[batch_users] @ F.normalize(content[batch_items], dim=1).T
    px, py = torch.sigmoid(x), torch.sigmoid(y)
    kl = px * torch.log(px / py) + (1 - px) * torch.log((1 - px) / (1 - py))
    kl = kl + py * torch.log(py / px) + (1 - py) * torch.log((1 - py) / (1 - px))
    assert torch.allclose(terms["kl"], kl.mean(), atol=1e-6)
    assert torch.isfinite(terms["neighbour"]) and terms["neighbour"] > 0


def test_loss_trains_and_weights_can_be_switched_off(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make_model(data, kl_weight=0.0, neighbor_weight=0.0)
    terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    assert set(terms) == {"bpr"}
    model = make_model(data, modalities=["text"])
    assert model.graph_names == ["text", "behaviour"]
    total = sum(model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])).values())
    total.backward()
    assert model.item_embedding.grad.abs().sum() > 0 and model.user_embedding.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [{"kl_weight": float("nan")}, {"neighbor_weight": -1.0}, {"temperature": 0.0}, {"knn_k": 0}, {"min_common_users": 0}],
)
def test_invalid_hyperparameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        DAMRS(num_users=3, num_items=4, feature_dims={"text": 2}, **kwargs)
