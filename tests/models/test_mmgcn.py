"""MMGCN: the sparse propagation against a dense re-implementation of MMRec's GCN (forward and
gradients), modality handling and SG-URInit targets (training and the checkpoint round trip:
test_all_backbones.py)."""

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.mmgcn import MMGCN, mean_matrix, transpose_csr
from lit_mmrec.nn.losses import bpr_loss


def dense_reference(model, data):
    """MMRec's GCN on stacked nodes with a dense mean-aggregation matrix, averaged over modalities."""
    num_users, num_items = data.num_users, data.num_items
    n = num_users + num_items
    adjacency = torch.zeros(n, n)
    adjacency[data.train.users, data.train.items + num_users] = 1
    adjacency[data.train.items + num_users, data.train.users] = 1
    degree = adjacency.sum(1, keepdim=True)
    mean = torch.where(degree > 0, adjacency / degree.clamp_min(1), torch.zeros_like(adjacency))
    ids = torch.cat([model.user_embedding, model.item_embedding])
    total = 0
    for modality, gcn in model.gcns.items():
        features = data.item_features[modality]
        features = gcn.projection(features) if gcn.projection is not None else features
        x = F.normalize(torch.cat([gcn.preference, features]))
        for conv, linear, gate in zip(gcn.convs, gcn.linears, gcn.gates, strict=True):
            h = F.leaky_relu(mean @ x @ conv.weight.T)  # MMRec: propagate(x @ W), the same product
            x_hat = F.leaky_relu(x @ linear.weight.T + linear.bias) + ids
            x = F.leaky_relu(torch.cat([h, x_hat], 1) @ gate.weight.T + gate.bias)
        total = total + x
    representation = total / len(model.gcns)
    return representation[:num_users], representation[num_users:]


@pytest.mark.parametrize("transpose", [False, True], ids=["fewer-users", "more-users"])
@pytest.mark.parametrize("latent_dims", [None, {}], ids=["image-projected", "all-raw"])
def test_forward_and_gradients_match_dense_reference(tiny_dataset, transpose, latent_dims):
    data = load_mmrec_dataset(tiny_dataset)  # 6 users, 10 items
    if transpose:  # swap the roles: 10 users, 6 items (both branches of the sparse product order)
        data.train.users, data.train.items = data.train.items.clone(), data.train.users.clone()
        data.valid.users, data.valid.items = data.valid.items.clone(), data.valid.users.clone()
        data.test.users, data.test.items = data.test.items.clone(), data.test.users.clone()
        data.num_users, data.num_items = data.num_items, data.num_users
        data.item_features = {m: f[: data.num_items] for m, f in data.item_features.items()}
    torch.manual_seed(0)
    model = MMGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, latent_dims=latent_dims)
    model.attach(data)
    assert (model.gcns["image"].projection is not None) == (latent_dims is None)

    users, items = model.forward()
    ref_users, ref_items = dense_reference(model, data)
    assert torch.allclose(users, ref_users, atol=1e-5) and torch.allclose(items, ref_items, atol=1e-5)

    batch = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 4]), torch.tensor([5, 0, 1, 2])
    params = list(model.parameters())
    got = torch.autograd.grad(model.loss(*batch)["bpr"], params)
    u = ref_users[batch[0]]
    reference_loss = bpr_loss((u * ref_items[batch[1]]).sum(1), (u * ref_items[batch[2]]).sum(1))
    want = torch.autograd.grad(reference_loss, params)
    for (name, _), g, w in zip(model.named_parameters(), got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-5), name


def test_mean_matrix_and_transpose():
    rows, cols = torch.tensor([0, 0, 2, 2, 2]), torch.tensor([1, 3, 0, 1, 2])
    matrix = mean_matrix(rows, cols, 4, 5)  # row 1 and 3 have no neighbours
    dense = torch.zeros(4, 5)
    dense[rows, cols] = 1
    dense = dense / dense.sum(1, keepdim=True).clamp_min(1)
    assert torch.allclose(matrix.to_dense(), dense)
    assert torch.allclose(transpose_csr(matrix).to_dense(), dense.T)


def test_regulariser_follows_mmrec(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = MMGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, reg_weight=0.1)
    model.attach(data)
    users, positives, negatives = torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])
    # MMRec: (E[user repeated per pos/neg]^2 + E[pos/neg interleaved]^2).mean() + (P^2).mean() per table
    ids = torch.cat([model.user_embedding, model.item_embedding])
    user_nodes = users.repeat_interleave(2)
    item_nodes = torch.stack([positives, negatives], 1).reshape(-1) + data.num_users
    expected = (ids[user_nodes] ** 2 + ids[item_nodes] ** 2).mean()
    expected = expected + sum((g.preference**2).mean() for g in model.gcns.values())
    assert torch.allclose(model.loss(users, positives, negatives)["reg"], 0.1 * expected, atol=1e-7)


def test_user_init_targets():
    model = MMGCN(num_users=7, num_items=5, feature_dims={"image": 6, "text": 3}, embedding_dim=4)
    targets = {t.name: t for t in model.user_init_targets()}
    assert set(targets) == {"preference[image]", "preference[text]"}
    image, text = targets["preference[image]"], targets["preference[text]"]
    assert image.table.shape == (7, 256) and image.modalities == ["image"]
    assert image.item_space("image", torch.randn(5, 6)).shape == (5, 256)
    assert text.table.shape == (7, 3) and text.item_space == "raw" and text.modalities == ["text"]
    assert image.table is model.gcns["image"].preference


def test_modalities_and_errors():
    text_only = MMGCN(num_users=7, num_items=5, feature_dims={"text": 3}, embedding_dim=4)  # the default image projection does not apply
    assert list(text_only.gcns) == ["text"] and text_only.gcns["text"].projection is None
    with pytest.raises(ValueError, match="'image'"):
        MMGCN(num_users=7, num_items=5, feature_dims={"text": 3}, modalities=["image"])
    with pytest.raises(ValueError, match="audio"):
        MMGCN(num_users=7, num_items=5, feature_dims={"text": 3}, latent_dims={"audio": 32})
    with pytest.raises(ValueError, match="at least one modality"):
        MMGCN(num_users=7, num_items=5, feature_dims={})
    with pytest.raises(ValueError, match="num_layers"):
        MMGCN(num_users=7, num_items=5, feature_dims={"text": 3}, num_layers=0)
