
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.dragon import DRAGON
from lit_mmrec.nn.knn_graph import knn_neighbours
from lit_mmrec.nn.user_graph import cooccurrence_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_normalised(a):
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def test_representations_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    n_users, n_items = data.num_users, data.num_items
    torch.manual_seed(0)
    model = DRAGON(
        num_users=n_users, num_items=n_items, feature_dims=data.feature_dims, embedding_dim=8, feature_hidden_dim=12, knn_k=3, user_graph_k=2
    )
    model.attach(data)
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
    with torch.no_grad():
        blocks = []
        for m in ("image", "text"):
            mlp = model.item_mlp[m]
            items = mlp[2](F.leaky_relu(mlp[0](data.item_features[m])))
            x = F.normalize(torch.cat([model.preference[m], items]), dim=1)
            blocks.append(x + adjacency @ x + adjacency @ adjacency @ x)
        h = torch.cat(blocks, 1)
        alpha = model.modality_weight
        users = torch.cat([alpha[:, :1] * h[:n_users, :8], alpha[:, 1:] * h[:n_users, 8:]], 1)
        items = h[n_users:] + item_graph @ h[n_users:]
        neighbours, counts = cooccurrence_neighbours(data.train.users, data.train.items, n_users, n_items, 2)
        beta = torch.zeros(n_users, n_users)
        for u in range(n_users):
            valid = neighbours[u] >= 0
            if valid.any():
                beta[u, neighbours[u][valid]] = torch.softmax(counts[u][valid], 0)
        users = users + beta @ users
        got_users, got_items = model.representations()
    assert torch.allclose(got_users, users, atol=1e-5)
    assert torch.allclose(got_items, items, atol=1e-5)

    u, p, n = torch.tensor([0, 1, 1]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    diff = (users[u] * items[p]).sum(1) - (users[u] * items[n]).sum(1)
    assert torch.allclose(terms["bpr"], -torch.log2(torch.sigmoid(diff)).mean(), atol=1e-5)
    reg = (
        (model.preference["image"][u] ** 2).mean()
        + (model.preference["text"][u] ** 2).mean()
        + (alpha**2).mean()
    )
    assert torch.allclose(terms["reg"], model.reg_weight * reg)


def test_user_graph_read_from_mmrec_file(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    graph = {u: [[(u + 1) % data.num_users], [1.0]] for u in range(data.num_users)}
    np.save(tiny_dataset / "user_graph_dict.npy", graph, allow_pickle=True)
    model = DRAGON(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, user_graph_k=3)
    model.attach(data)
    assert model.user_graph_origin.startswith("file:")
    assert model.user_neighbours[:, 0].tolist() == [(u + 1) % data.num_users for u in range(data.num_users)]
    assert (model.eval_user_weights[:, 0] == 1).all() and (model.eval_user_weights[:, 1:] == 0).all()
    built = DRAGON(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, user_graph_k=3, user_graph_source="build"
    )
    built.attach(data)
    assert built.user_graph_origin == "built"


def test_missing_modality_and_single_modality(tiny_dataset):
    with pytest.raises(ValueError, match="'image'"):
        DRAGON(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["image", "text"])
    data = load_mmrec_dataset(tiny_dataset, modalities=["text"])
    model = DRAGON(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    assert model.modality_weight is None and model.graph_weights == {"text": 1.0}
    model.attach(data)
    users, items = model.forward()
    assert users.shape == (data.num_users, 8) and items.shape == (data.num_items, 8)
    assert set(model.loss(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))) == {"bpr", "reg"}


def test_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = DRAGON(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=16)
    model.attach(data)
    targets = model.user_init_targets()
    assert [t.name for t in targets] == ["preference[image]", "preference[text]"]
    for target, m in zip(targets, ("image", "text"), strict=True):
        assert target.table is model.preference[m] and target.table.shape == (data.num_users, 16)
        assert target.modalities == [m]
        projected = target.item_space(m, data.item_features[m])
        assert projected.shape == (data.num_items, 16) and not projected.requires_grad
        assert torch.allclose(projected.norm(dim=1), torch.ones(data.num_items))


def test_training_user_graph_paths_agree(tiny_dataset, monkeypatch):
    from lit_mmrec.models import dragon

    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = DRAGON(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, user_graph_k=3)
    model.attach(data)
    model.train()
    model.resample_user_graph()
    batch = torch.tensor([0, 1, 1, 5]), torch.tensor([2, 3, 4, 5]), torch.tensor([6, 7, 8, 9])
    losses, grads = [], []
    for ratio in (0, 100):  # gather over the batch's users / one sparse product over all users
        monkeypatch.setattr(dragon, "_FULL_PRODUCT_RATIO", ratio)
        model.zero_grad()
        terms = model.loss(*batch)
        sum(terms.values()).backward()
        losses.append(terms["bpr"].detach())
        grads.append(model.preference["text"].grad.clone())
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
