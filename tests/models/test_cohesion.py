import math

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.cohesion import COHESION
from lit_mmrec.nn.knn_graph import knn_neighbours
from lit_mmrec.nn.user_graph import cooccurrence_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_normalised(a):
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def make(data, **kwargs):
    torch.manual_seed(0)
    model = COHESION(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8,
        feature_hidden_dim=12, knn_k=3, user_graph_k=2, **kwargs,
    )
    model.attach(data)
    return model


def test_early_fusion_matches_the_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data)
    with torch.no_grad():
        for branch, features in (("id", model.item_embedding), ("image", data.item_features["image"])):
            mlp = model.item_mlp[branch]
            z = mlp[2](F.leaky_relu(mlp[0](features)))
            expected = torch.sqrt(torch.abs((model.item_embedding**2 + z**2) / 2 + 1e-8))
            assert torch.allclose(model.fused_items(branch), expected, atol=1e-6)


def test_representations_and_adaptive_bpr_match_the_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    n_users, n_items, d = data.num_users, data.num_items, 8
    model = make(data)
    model.eval()
    a = torch.zeros(n_users + n_items, n_users + n_items)
    a[data.train.users, data.train.items + n_users] = 1
    a[data.train.items + n_users, data.train.users] = 1
    adjacency = dense_normalised(a)
    item_graph = torch.zeros(n_items, n_items)
    for m, w in (("image", 0.1), ("text", 0.9)):
        neighbours, _ = knn_neighbours(data.item_features[m], 3)
        knn = torch.zeros(n_items, n_items)
        knn[torch.arange(n_items).unsqueeze(1).expand_as(neighbours), neighbours] = 1
        item_graph += w * dense_normalised(knn)
    neighbours, counts = cooccurrence_neighbours(data.train.users, data.train.items, n_users, n_items, 2)
    beta = torch.zeros(n_users, n_users)
    for u in range(n_users):
        valid = neighbours[u] >= 0
        if valid.any():
            beta[u, neighbours[u][valid]] = torch.softmax(counts[u][valid], 0)
    with torch.no_grad():
        blocks = []
        for branch in ("id", "image", "text"):
            features = model.item_embedding if branch == "id" else data.item_features[branch]
            mlp = model.item_mlp[branch]
            z = mlp[2](F.leaky_relu(mlp[0](features)))
            fused = torch.sqrt((model.item_embedding**2 + z**2) / 2 + 1e-8)
            x = F.normalize(torch.cat([model.preference[branch], fused]), dim=1)
            total, h = x, x
            for _ in range(2):
                h = adjacency @ h
                h = F.cosine_similarity(h, x, dim=-1).unsqueeze(1) * h
                total = total + h
            blocks.append(total)
        h = torch.cat(blocks, 1)
        users_repr = h[:n_users] + beta @ h[:n_users]
        items_repr = h[n_users:] + item_graph @ h[n_users:]
        got_users, got_items = model.representations()
        assert torch.allclose(got_users, users_repr, atol=1e-5)
        assert torch.allclose(got_items, items_repr, atol=1e-5)

        users, positives, negatives = torch.tensor([0, 2, 5]), torch.tensor([1, 4, 9]), torch.tensor([3, 0, 7])
        u, p, q = users_repr[users], items_repr[positives], items_repr[negatives]
        pos_blocks = torch.stack([(u[:, k * d : (k + 1) * d] * p[:, k * d : (k + 1) * d]).sum(1) for k in range(3)], 1)
        neg_blocks = torch.stack([(u[:, k * d : (k + 1) * d] * q[:, k * d : (k + 1) * d]).sum(1) for k in range(3)], 1)
        weights = 1 - torch.softmax(pos_blocks - neg_blocks, dim=1)
        margin = (weights * pos_blocks).sum(1) - (weights * neg_blocks).sum(1)
        bpr = -torch.log2(torch.sigmoid(margin)).mean()
        reg = 1e-3 * sum(model.preference[m][users].pow(2).mean() for m in ("image", "text"))
        terms = model.loss(users, positives, negatives)
    assert torch.allclose(terms["bpr"], bpr, atol=1e-6)
    assert torch.allclose(terms["reg"], reg)
    assert not torch.allclose(bpr, -torch.log2(torch.sigmoid((u * p).sum(1) - (u * q).sum(1))).mean())


def test_detached_id_branch_gets_no_gradient(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    for detach in (False, True):
        model = make(data, detach_id_branch=detach)
        sum(model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])).values()).backward()
        untouched = model.preference["id"].grad is None and model.item_mlp["id"][0].weight.grad is None
        assert untouched == detach
        assert model.item_embedding.grad is not None and model.item_embedding.grad.abs().sum() > 0


def test_pruning_keeps_the_share_of_edges(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, dropout=0.5)
    model.train()
    model.resample_pruned_graph()
    assert model._pruned_adjacency.values().numel() == 2 * math.floor(0.5 * len(data.train))


@pytest.mark.parametrize(
    "bad", [{"num_layers": 0}, {"dropout": 1.0}, {"knn_k": 0}, {"user_graph_source": "web"}, {"modalities": ["id"]}]
)
def test_rejects_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        COHESION(num_users=3, num_items=4, feature_dims={"image": 2, "text": 2, "id": 3}, **bad)
