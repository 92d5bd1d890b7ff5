"""GRCN: forward, loss and gradients against a dense re-statement of the original model, routing and
pruning variants, any number of modalities, errors and SG-URInit targets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.grcn import GRCN
from lit_mmrec.nn.losses import bpr_loss


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax over the entries of ``mask`` along ``dim`` (0 elsewhere and on empty slices)."""
    return torch.softmax(logits.masked_fill(~mask, -1e9), dim) * mask


def dense_reference(model: GRCN, data) -> tuple[torch.Tensor, torch.Tensor]:
    """GRCN with a dense ``[U, I]`` interaction mask: CGCN per modality (with user-side routing),
    confidence-weighted max pruning, the two-layer weighted ID GCN, concatenation."""
    n_users = data.num_users
    mask = torch.zeros(n_users, data.num_items, dtype=torch.bool)
    mask[data.train.users, data.train.items] = True
    contents, to_item, to_user = [], [], []
    for m in model.modalities:
        layer = model.projection[m]
        f = F.normalize(F.leaky_relu(data.item_features[m] @ layer.weight.T + layer.bias), dim=1)
        p = F.normalize(model.preference[m], dim=1)
        for _ in range(model.num_routing):
            p = F.normalize(p + masked_softmax(p @ f.T, mask, 1) @ f, dim=1)
        scores = p @ f.T
        over_items, over_users = masked_softmax(scores, mask, 1), masked_softmax(scores, mask, 0)
        contents.append(torch.cat([p + over_items @ f, f + over_users.T @ p]))
        to_user.append(over_items)  # edge i -> u: normalised over the user's items
        to_item.append(over_users)  # edge u -> i: normalised over the item's users
    confidence = model.confidence
    user_to_item = torch.stack([a * confidence[:n_users, k : k + 1] for k, a in enumerate(to_item)]).amax(0)
    item_to_user = torch.stack([a * confidence[n_users:, k] for k, a in enumerate(to_user)]).amax(0)
    if model.pruning:
        user_to_item, item_to_user = user_to_item.relu(), item_to_user.relu()
    user_to_item, item_to_user = user_to_item * mask, item_to_user * mask  # [U, I]
    x = F.normalize(torch.cat([model.user_embedding, model.item_embedding]), dim=1)
    total = x
    for _ in range(2):
        x = torch.cat([item_to_user @ x[n_users:], user_to_item.T @ x[:n_users]])
        total = total + x
    representation = torch.cat([total, *contents], dim=1)
    return representation[:n_users], representation[n_users:]


@pytest.mark.parametrize("num_routing", [0, 2])
@pytest.mark.parametrize("pruning", [True, False])
def test_forward_loss_and_gradients_match_dense_reference(tiny_dataset, num_routing, pruning):
    data = load_mmrec_dataset(tiny_dataset)  # 6 users, 10 items; some items have no training user
    torch.manual_seed(0)
    model = GRCN(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, latent_dim=3,
        num_routing=num_routing, pruning=pruning, reg_weight=0.1,
    )
    model.attach(data)
    users, items = model.forward()
    ref_users, ref_items = dense_reference(model, data)
    assert users.shape == (data.num_users, 4 + 2 * 3)
    assert torch.allclose(users, ref_users, atol=1e-5) and torch.allclose(items, ref_items, atol=1e-5)

    batch = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 2, 3, 4]), torch.tensor([5, 0, 9, 2])
    terms = model.loss(*batch)
    u = ref_users[batch[0]]
    reference_bpr = -torch.log(torch.sigmoid((u * ref_items[batch[1]]).sum(1) - (u * ref_items[batch[2]]).sum(1))).mean()
    # the original's regulariser: ids of the repeated users and interleaved items, preferences of the users
    user_nodes = batch[0].repeat_interleave(2)
    item_nodes = torch.stack([batch[1], batch[2]], 1).reshape(-1)
    reference_reg = (model.user_embedding[user_nodes] ** 2 + model.item_embedding[item_nodes] ** 2).mean()
    reference_reg = reference_reg + sum((model.preference[m][user_nodes] ** 2).mean() for m in model.modalities)
    assert torch.allclose(terms["bpr"], reference_bpr, atol=1e-5)
    assert torch.allclose(terms["reg"], 0.1 * reference_reg, atol=1e-7)

    params = list(model.parameters())
    got = torch.autograd.grad(terms["bpr"], params)
    want = torch.autograd.grad(bpr_loss((u * ref_items[batch[1]]).sum(1), (u * ref_items[batch[2]]).sum(1)), params)
    for (name, _), g, w in zip(model.named_parameters(), got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-5), name


def test_routing_moves_the_preferences(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = GRCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, latent_dim=3)
    model.attach(data)
    with torch.no_grad():
        routed = model.refine("text")[0]
        model.num_routing = 0
        unrouted = model.refine("text")[0]
    # users move (the paper's routing), items keep their own features as the base
    assert not torch.allclose(routed[: data.num_users], unrouted[: data.num_users])


@pytest.mark.parametrize("modalities", [["text"], ["image", "text"], ["audio", "image", "text"]])
def test_any_number_of_modalities(tiny_dataset, modalities):
    np.save(tiny_dataset / "audio_feat.npy", np.random.default_rng(2).normal(size=(10, 5)).astype(np.float32))
    data = load_mmrec_dataset(tiny_dataset, modalities=modalities)
    model = GRCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, latent_dim=3)
    model.attach(data)
    assert model.modalities == modalities and model.confidence.shape == (data.num_users + data.num_items, len(modalities))
    users, items = model.forward()
    assert users.shape == (data.num_users, 4 + 3 * len(modalities)) and items.shape[0] == data.num_items
    assert torch.isfinite(sum(model.loss(torch.tensor([0]), torch.tensor([1]), torch.tensor([2])).values()))


def test_modality_errors():
    with pytest.raises(ValueError, match="'image'"):
        GRCN(num_users=7, num_items=5, feature_dims={"text": 3}, modalities=["image"])
    with pytest.raises(ValueError, match="at least one modality"):
        GRCN(num_users=7, num_items=5, feature_dims={})
    with pytest.raises(ValueError, match="num_routing"):
        GRCN(num_users=7, num_items=5, feature_dims={"text": 3}, num_routing=-1)


def test_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = GRCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, latent_dim=3)
    targets = {t.name: t for t in model.user_init_targets()}
    assert set(targets) == {"user_embedding", "preference[image]", "preference[text]"}
    assert targets["user_embedding"].table is model.user_embedding and targets["user_embedding"].item_space == "none"
    for m in ("image", "text"):
        target = targets[f"preference[{m}]"]
        assert target.table is model.preference[m] and target.modalities == [m]
        projected = target.item_space(m, data.item_features[m])
        assert projected.shape == (data.num_items, 3) and not projected.requires_grad
        assert torch.allclose(projected, model.item_content(m, data.item_features[m]))
