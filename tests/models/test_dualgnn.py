"""DualGNN: representations and loss against a dense re-statement of the original model, the user
graph (built from training data, read from MMRec's file, padded per epoch), modalities, SG-URInit."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.dualgnn import DualGNN
from lit_mmrec.nn.user_graph import cooccurrence_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_reference(model: DualGNN, data) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' forward with dense matrices: per-modality GCN (x + h + h_1), weighted-sum users,
    summed items, plus the softmax-weighted user co-occurrence graph (evaluation weights)."""
    n_users, n_items = data.num_users, data.num_items
    a = torch.zeros(n_users + n_items, n_users + n_items)
    a[data.train.users, data.train.items + n_users] = 1
    a[data.train.items + n_users, data.train.users] = 1
    degree = a.sum(1)
    inv = torch.where(degree > 0, degree.pow(-0.5), torch.zeros_like(degree))
    adjacency = inv[:, None] * a * inv[None, :]
    reps = []
    for m in model.modalities:
        mlp = model.item_mlp[m]
        items = mlp[2](F.leaky_relu(mlp[0](data.item_features[m])))
        x = F.normalize(torch.cat([model.preference[m], items]), dim=1)
        h = adjacency @ x
        reps.append(x + h + adjacency @ h)
    items = sum(r[n_users:] for r in reps)
    if model.modality_weight is None:
        users = reps[0][:n_users]
    else:
        users = torch.stack([r[:n_users] for r in reps], 2) @ model.modality_weight.unsqueeze(2)
        users = users.squeeze(2)
    neighbours, counts = cooccurrence_neighbours(data.train.users, data.train.items, n_users, n_items, model.user_graph_k)
    beta = torch.zeros(n_users, n_users)
    for u in range(n_users):
        valid = neighbours[u] >= 0
        if valid.any():
            beta[u, neighbours[u][valid]] = torch.softmax(counts[u][valid], 0)
    return users + beta @ users, items


@pytest.mark.parametrize("modalities", [["image", "text"], ["text"], ["audio", "image", "text"]])
def test_representations_and_loss_match_dense_reference(tiny_dataset, modalities):
    np.save(tiny_dataset / "audio_feat.npy", np.random.default_rng(2).normal(size=(10, 5)).astype(np.float32))
    data = load_mmrec_dataset(tiny_dataset, modalities=modalities)
    torch.manual_seed(0)
    model = DualGNN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, feature_hidden_dim=12, user_graph_k=2)
    model.attach(data)
    model.eval()
    assert (model.modality_weight is None) == (len(modalities) == 1)
    with torch.no_grad():
        users, items = dense_reference(model, data)
        got_users, got_items = model.representations()
    assert got_users.shape == (data.num_users, 8)
    assert torch.allclose(got_users, users, atol=1e-5) and torch.allclose(got_items, items, atol=1e-5)

    u, p, n = torch.tensor([0, 1, 1]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    diff = (users[u] * items[p]).sum(1) - (users[u] * items[n]).sum(1)
    assert torch.allclose(terms["bpr"], -torch.log2(torch.sigmoid(diff)).mean(), atol=1e-5)
    reg = sum((model.preference[m][u] ** 2).mean() for m in modalities)
    if model.modality_weight is not None:
        reg = reg + (model.modality_weight**2).mean()
    assert torch.allclose(terms["reg"], model.reg_weight * reg)


def test_training_pads_the_user_graph_each_epoch(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = DualGNN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, user_graph_k=5)
    model.attach(data)
    model.train()
    model.resample_user_graph()
    graph, graph_t = model.user_graph()
    model.eval()
    dense, evaluation = graph.to_dense(), model.user_graph()[0].to_dense()
    model.train()
    assert torch.allclose(graph_t.to_dense(), dense.T)
    has_neighbours = (model.user_neighbours >= 0).any(1)
    assert torch.allclose(dense.sum(1)[has_neighbours], torch.ones(int(has_neighbours.sum())))
    assert ((dense > 0) == (evaluation > 0)).all()  # same neighbours, padded weights
    users = torch.tensor([0, 1, 2])
    sum(model.loss(users, torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])).values()).backward()
    assert all(p.grad is not None for p in model.preference.values())


def test_user_graph_read_from_mmrec_file_or_built(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    graph = {u: [[(u + 1) % data.num_users], [1.0]] for u in range(data.num_users)}
    np.save(tiny_dataset / "user_graph_dict.npy", graph, allow_pickle=True)
    model = DualGNN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, user_graph_k=3)
    model.attach(data)
    assert model.user_graph_origin.startswith("file:")
    expected = torch.zeros(data.num_users, data.num_users)
    expected[torch.arange(data.num_users), (torch.arange(data.num_users) + 1) % data.num_users] = 1
    model.eval()
    assert torch.allclose(model.user_graph()[0].to_dense(), expected)
    built = DualGNN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, user_graph_k=3, user_graph_source="build")
    built.attach(data)
    assert built.user_graph_origin == "built"


def test_modality_errors():
    with pytest.raises(ValueError, match="'image'"):
        DualGNN(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["image", "text"])
    with pytest.raises(ValueError, match="at least one modality"):
        DualGNN(num_users=10, num_items=10, feature_dims={})
    with pytest.raises(ValueError, match="user_graph_source"):
        DualGNN(num_users=10, num_items=10, feature_dims={"text": 8}, user_graph_source="download")


def test_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = DualGNN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=16)
    targets = model.user_init_targets()
    assert [t.name for t in targets] == ["preference[image]", "preference[text]"]
    for target, m in zip(targets, ("image", "text"), strict=True):
        assert target.table is model.preference[m] and target.modalities == [m]
        projected = target.item_space(m, data.item_features[m])
        assert projected.shape == (data.num_items, 16) and not projected.requires_grad
        assert torch.allclose(projected.norm(dim=1), torch.ones(data.num_items))
    assert math.isclose(float(model.modality_weight.detach().sum(1).mean()), 1.0, rel_tol=1e-6)
