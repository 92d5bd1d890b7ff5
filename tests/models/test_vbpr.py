"""VBPR: the batch loss against a dense reference, modality handling and the SG-URInit targets
(training and the checkpoint round trip: test_all_backbones.py)."""

import pytest
import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.vbpr import VBPR
from lit_mmrec.nn.losses import bpr_loss, embedding_norm_loss


@pytest.mark.parametrize(
    "users, positives, negatives",
    [
        ([0, 1, 1, 3], [2, 3, 3, 9], [5, 2, 9, 0]),  # 8 < 10 items: only the batch's items are projected
        ([0, 1, 1, 3, 4, 5], [2, 3, 3, 9, 1, 1], [5, 2, 9, 0, 0, 7]),  # 12 >= 10: every item is projected
    ],
    ids=["batch-items", "all-items"],
)
def test_batch_loss_matches_dense_reference(tiny_dataset, users, positives, negatives):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = VBPR(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4, reg_weight=0.5)
    model.attach(data)
    with torch.no_grad():
        model.item_projection.bias.normal_()
    users, positives, negatives = torch.tensor(users), torch.tensor(positives), torch.tensor(negatives)

    # dense reference: every item projected, user vector = [p_u || theta_u], features concatenated
    features = torch.cat([data.item_features["image"], data.item_features["text"]], dim=1)
    user_repr = torch.cat([model.user_embedding, model.user_preference], dim=1)
    item_repr = torch.cat([model.item_embedding, features @ model.item_projection.weight.T + model.item_projection.bias], 1)
    u, pos, neg = user_repr[users], item_repr[positives], item_repr[negatives]
    expected = bpr_loss((u * pos).sum(1), (u * neg).sum(1)) + 0.5 * embedding_norm_loss(u, pos, neg)
    expected_grads = torch.autograd.grad(expected, list(model.parameters()))

    terms = model.loss(users, positives, negatives)
    assert set(terms) == {"bpr", "reg"}
    total = sum(terms.values())
    assert torch.allclose(total, expected, atol=1e-6)
    for got, want in zip(torch.autograd.grad(total, list(model.parameters())), expected_grads, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    # forward() ranks with the same vectors
    forward_users, forward_items = model.forward()
    assert forward_users.shape == (6, 8) and forward_items.shape == (10, 8)
    assert torch.allclose(forward_items, item_repr, atol=1e-6)


def test_modality_shares_sum_to_projection(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = VBPR(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=4)
    model.attach(data)
    with torch.no_grad():
        model.item_projection.bias.normal_()
        shares = sum(model.project_modality(m, data.item_features[m]) for m in ("image", "text"))
        assert torch.allclose(shares, model.item_projection(model.item_raw_features), atol=1e-5)
    with pytest.raises(ValueError, match="audio"):
        model.project_modality("audio", data.item_features["text"])


def test_user_init_targets():
    model = VBPR(num_users=7, num_items=5, feature_dims={"image": 6, "text": 3}, embedding_dim=4)
    id_part, preference = model.user_init_targets()
    assert id_part.name == "user_embedding" and id_part.item_space == "none" and id_part.table.shape == (7, 4)
    assert preference.name == "user_preference" and preference.table.shape == (7, 4)
    assert preference.modalities == ["image", "text"]
    assert preference.table is model.user_preference
    assert preference.item_space("text", torch.randn(5, 3)).shape == (5, 4)
    assert preference.item_space("image", torch.randn(5, 6)).shape == (5, 4)


def test_single_modality_and_missing_modality():
    model = VBPR(num_users=7, num_items=5, feature_dims={"image": 6, "text": 3}, embedding_dim=4, modalities=["text"])
    assert model.item_projection.in_features == 3
    with pytest.raises(ValueError, match="'image'"):
        VBPR(num_users=7, num_items=5, feature_dims={"text": 3}, modalities=["image"])
    with pytest.raises(ValueError, match="at least one modality"):
        VBPR(num_users=7, num_items=5, feature_dims={})


def test_attach_to_data_without_the_modality(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset, modalities=["text"])
    model = VBPR(num_users=data.num_users, num_items=data.num_items, feature_dims={"image": 8, "text": 4})
    with pytest.raises(ValueError, match="image"):
        model.attach(data)

