"""SLMRec: representations and every self-supervised task against a dense re-statement of the
original model, the fine-to-coarse chain for any number of modalities, errors, SG-URInit."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.slmrec import SLMRec, fine_to_coarse

BATCH = torch.tensor([0, 1, 2, 3, 5]), torch.tensor([1, 2, 3, 4, 9]), torch.tensor([5, 0, 1, 2, 3])


def dense_branches(model: SLMRec, data, masked: int | None = None) -> list[torch.Tensor]:
    """Each branch's LightGCN output (dense adjacency), the ID branch first; ``masked`` zeroes a
    branch's item inputs (feature masking)."""
    n_users, n_items = data.num_users, data.num_items
    a = torch.zeros(n_users + n_items, n_users + n_items)
    a[data.train.users, data.train.items + n_users] = 1
    a[data.train.items + n_users, data.train.users] = 1
    degree = a.sum(1)
    inv = torch.where(degree > 0, degree.pow(-0.5), torch.zeros_like(degree))
    adjacency = inv[:, None] * a * inv[None, :]
    items = [model.item_embedding] + [
        model.dense[m](F.normalize(data.item_features[m], dim=1)) for m in model.modalities
    ]
    outputs = []
    for b, item_inputs in enumerate(items):
        x = torch.cat([model.user_embedding, torch.zeros_like(item_inputs) if b == masked else item_inputs])
        layers = [x]
        for _ in range(model.num_layers):
            layers.append(adjacency @ layers[-1])
        outputs.append(torch.stack(layers).mean(0))
    return outputs


def dense_fused(model: SLMRec, branches: list[torch.Tensor], n_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        model.user_fusion(torch.cat([b[:n_users] for b in branches], 1)),
        model.item_fusion(torch.cat([b[n_users:] for b in branches], 1)),
    )


def cross_entropy_diagonal(logits: torch.Tensor) -> torch.Tensor:
    return -torch.log_softmax(logits, 1).diagonal().mean()


def view_loss(model, views, users, items) -> torch.Tensor:
    total = 0
    for side, rows in ((0, users), (1, items)):
        a, b = (F.normalize(view[side][rows], dim=1) for view in views)
        total = total + cross_entropy_diagonal(a @ b.T / model.ssl_temperature)
    return total


@pytest.mark.parametrize("modalities", [["image", "text"], ["text"], ["image", "audio", "text"]])
def test_representations_and_fac_loss_match_dense_reference(tiny_dataset, modalities):
    np.save(tiny_dataset / "audio_feat.npy", np.random.default_rng(2).normal(size=(10, 5)).astype(np.float32))
    data = load_mmrec_dataset(tiny_dataset, modalities=modalities)
    torch.manual_seed(0)
    model = SLMRec(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, num_layers=2, ssl_alpha=0.5)
    model.attach(data)
    assert model.modalities == modalities  # given in the authors' order already
    branches = dense_branches(model, data)
    users, items = dense_fused(model, branches, data.num_users)
    got_users, got_items = model.forward()
    assert torch.allclose(got_users, users, atol=1e-5) and torch.allclose(got_items, items, atol=1e-5)

    u, p, _ = BATCH
    terms = model.loss(*BATCH)
    main = cross_entropy_diagonal(F.normalize(users[u], dim=1) @ F.normalize(items[p], dim=1).T / 0.2)
    assert torch.allclose(terms["infonce"], main, atol=1e-5)
    # fine to coarse: the ID branch's items climb the chain; each modality is mapped into its space
    widths = [8] * (len(modalities) - 1) + [4 if len(modalities) > 1 else 8]
    z, fac = branches[0][data.num_users + p], 0
    for k, m in enumerate(modalities):
        step, head = model.fac_chain[k], model.fac_heads[m]
        assert step.out_features == widths[k] == head.out_features
        z = step(z)
        fac = fac + cross_entropy_diagonal(z @ head(branches[k + 1][data.num_users + p]).T / 0.2)
    assert torch.allclose(terms["ssl"], 0.5 * fac, atol=1e-5)


def test_feature_dropout_views(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = SLMRec(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, ssl_task="FD", dropout=0.0)
    model.attach(data)
    model.train()
    u, p, _ = BATCH
    view = dense_fused(model, dense_branches(model, data), data.num_users)
    # without dropout both views are the clean representation
    assert torch.allclose(model.loss(*BATCH)["ssl"], model.ssl_alpha * view_loss(model, [view, view], u, p), atol=1e-5)
    model.dropout = 0.5
    torch.manual_seed(1)
    first = model.loss(*BATCH)["ssl"]
    torch.manual_seed(2)
    assert not torch.allclose(first, model.loss(*BATCH)["ssl"])
    model.eval()  # no dropout at evaluation
    assert torch.allclose(model.loss(*BATCH)["ssl"], model.ssl_alpha * view_loss(model, [view, view], u, p), atol=1e-5)


def test_feature_masking_views(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = SLMRec(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, ssl_task="FM")
    model.attach(data)
    masks, pairs = [], set()
    original = model.branch_inputs

    def recording(masked=None):
        masks.append(masked)
        return original(masked)

    model.branch_inputs = recording
    u, p, _ = BATCH
    for seed in range(40):
        torch.manual_seed(seed)
        masks.clear()
        terms = model.loss(*BATCH)
        first, second = masks[1:]  # masks[0] is the main (unmasked) pass
        assert first != second and {first, second} <= {0, 1, 2}
        pairs.add((first, second))
        if seed < 2:
            views = [dense_fused(model, dense_branches(model, data, m), data.num_users) for m in (first, second)]
            assert torch.allclose(terms["ssl"], model.ssl_alpha * view_loss(model, views, u, p), atol=1e-5)
    assert len(pairs) == 6  # every ordered pair of distinct branches is drawn


def test_fine_to_coarse_order_and_errors():
    assert fine_to_coarse(["video", "text", "audio", "image"]) == ["image", "audio", "text", "video"]
    assert SLMRec(num_users=7, num_items=5, feature_dims={"text": 3, "image": 4}).modalities == ["image", "text"]
    assert SLMRec(num_users=7, num_items=5, feature_dims={"text": 3, "image": 4}, modalities=["text", "image"]).modalities == ["text", "image"]
    with pytest.raises(ValueError, match="'image'"):
        SLMRec(num_users=7, num_items=5, feature_dims={"text": 3}, modalities=["image"])
    with pytest.raises(ValueError, match="at least one modality"):
        SLMRec(num_users=7, num_items=5, feature_dims={})
    with pytest.raises(ValueError, match="ssl_task"):
        SLMRec(num_users=7, num_items=5, feature_dims={"text": 3}, ssl_task="BM3")


def test_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = SLMRec(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.modalities == ["image", "text"]
    for m in ("image", "text"):
        projected = target.item_space(m, data.item_features[m])
        assert projected.shape == (data.num_items, 8) and not projected.requires_grad
        assert torch.allclose(projected, model.dense[m](F.normalize(data.item_features[m], dim=1)))


def test_reg_weight_is_fixed_at_zero_and_checkpoints_that_state_it_load():
    shape = {"num_users": 5, "num_items": 6, "feature_dims": {"text": 4}}
    assert SLMRec(**shape, reg_weight=0.0).hparams["reg_weight"] == 0.0
    with pytest.raises(ValueError, match="reg_weight must be 0"):
        SLMRec(**shape, reg_weight=1e-4)
