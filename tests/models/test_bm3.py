"""BM3: representations, loss and gradients against a dense re-statement of the original code;
dropout views in training only; negatives unused; modalities; SG-URInit targets."""

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.bm3 import BM3


def dense_reference(model, data, users, items, reg_weight, cl_weight):
    """``(score users, score items, loss)`` as the original computes them, without dropout."""
    n = data.num_users + data.num_items
    a = torch.zeros(n, n)
    a[data.train.users, data.train.items + data.num_users] = 1
    a[data.train.items + data.num_users, data.train.users] = 1
    inv = a.sum(1).pow(-0.5)
    inv[torch.isinf(inv)] = 0
    a = inv[:, None] * a * inv[None, :]
    ego = torch.cat([model.user_embedding, model.item_embedding])
    layers = [ego]
    for _ in range(model.num_layers):
        layers.append(a @ layers[-1])
    mean = torch.stack(layers, 1).mean(1)
    u_all, i_all = mean[: data.num_users], mean[data.num_users :] + model.item_embedding
    u_on, i_on = model.predictor(u_all), model.predictor(i_all)
    u_t, i_t = u_all.detach()[users], i_all.detach()[items]

    def c(x, y):
        return 1 - F.cosine_similarity(x, y, dim=-1).mean()

    loss = c(u_on[users], i_t) + c(i_on[items], u_t)
    loss = loss + reg_weight * (u_all.norm() + i_all.norm()) / data.num_items
    for m in model.modalities:
        t = model.projection.linear[m](data.item_features[m] + model.projection.offset[m])
        t_on = model.predictor(t)[items]
        loss = loss + cl_weight * (c(t_on, i_t) + c(t_on, t.detach()[items]))
    return u_on, i_on, loss


def test_matches_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = BM3(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, num_layers=2, dropout=0.0)
    model.attach(data)
    users, items, negatives = torch.tensor([0, 1, 2, 2, 5]), torch.tensor([3, 4, 5, 5, 9]), torch.tensor([0, 0, 0, 0, 0])
    model.train()
    terms = model.loss(users, items, negatives)
    assert set(terms) == {"bootstrap", "reg", "modal"}
    total = sum(terms.values())
    total.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    ref_users, ref_items, expected = dense_reference(model, data, users, items, 0.1, 2.0)
    expected.backward()
    assert torch.allclose(total, expected, atol=1e-6)
    for name, p in model.named_parameters():
        assert torch.allclose(ours[name], p.grad, atol=1e-6), name
    model.eval()
    with torch.no_grad():
        score_users, score_items = model.representations()
    assert torch.allclose(score_users, ref_users, atol=1e-6) and torch.allclose(score_items, ref_items, atol=1e-6)
    # no negative sampling: the negatives do not enter the loss
    with torch.no_grad():
        assert torch.equal(sum(model.loss(users, items, negatives).values()), sum(model.loss(users, items, items).values()))


def test_dropout_views_in_training_only(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = BM3(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, dropout=0.5)
    model.attach(data)
    batch = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
    with torch.no_grad():
        model.train()
        assert sum(model.loss(*batch).values()) != sum(model.loss(*batch).values())
        model.eval()
        assert sum(model.loss(*batch).values()) == sum(model.loss(*batch).values())


def test_modalities_and_user_init_targets(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="'audio'"):
        BM3(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["audio"])
    with pytest.raises(ValueError, match="at least one modality"):
        BM3(num_users=10, num_items=10, feature_dims=None)
    data = load_mmrec_dataset(tiny_dataset)
    model = BM3(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=16)
    model.attach(data)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.modalities == ["image", "text"]
    for m in ("image", "text"):
        projected = target.item_space(m, data.item_features[m])
        assert projected.shape == (data.num_items, 16) and not projected.requires_grad
        assert torch.allclose(projected, model.projection.linear[m](data.item_features[m]))
    spec = SyntheticSpec(num_users=30, num_items=20, mean_interactions_per_user=6, modalities={"image": 8, "text": 6, "audio": 4})
    three = SyntheticDataModule(spec, cache_dir=str(tmp_path / "data")).dataset
    for modalities in (["text"], None):
        model = BM3(num_users=three.num_users, num_items=three.num_items, feature_dims=three.feature_dims, modalities=modalities)
        model.attach(three)
        terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
        assert all(torch.isfinite(v) for v in terms.values())
    assert model.modalities == ["audio", "image", "text"]


def test_projection_paths_agree(tiny_dataset, monkeypatch):
    import lit_mmrec.nn.modal as modal

    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = BM3(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    model.attach(data)
    model.eval()
    batch = torch.tensor([0, 1, 1, 5]), torch.tensor([2, 3, 3, 5]), torch.tensor([6, 7, 8, 9])
    results = []
    for share in (0.0, 2.0):  # whole table / distinct items only
        monkeypatch.setattr(modal, "_FULL_PROJECTION_SHARE", share)
        model.zero_grad()
        terms = model.loss(*batch)
        terms["modal"].backward()
        results.append((terms["modal"].detach(), model.projection.offset["image"].grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-7)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-7)
    assert results[0][1][[2, 3, 5]].abs().sum() > 0 and results[0][1][[0, 1, 4, 6, 7, 8, 9]].abs().sum() == 0
