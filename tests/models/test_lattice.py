"""LATTICE: representations, loss and first-batch gradients against a dense re-statement of the
original code; the per-epoch graph schedule; chunked kNN; modalities; SG-URInit targets; the scheduler."""

import pytest
import torch
import torch.nn.functional as F

import lit_mmrec.nn.knn_graph as item_graph
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.lattice import LATTICE

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_knn(z, k):
    """The original's build_sim + build_knn_neighbourhood + compute_normalized_laplacian."""
    unit = z / z.norm(dim=1, keepdim=True)
    sim = unit @ unit.T
    values, index = torch.topk(sim, k, dim=-1)
    return torch.zeros_like(sim).scatter(-1, index, values)


def laplacian(a):
    inv = a.sum(-1).pow(-0.5)
    inv[torch.isinf(inv)] = 0.0
    return inv[:, None] * a * inv[None, :]


def dense_reference(model, data, k):
    """``(users, items)`` as the original forward computes them (dense matrices, autograd through topk;
    the trainable feature table is raw + offset, the original graphs come from the raw features)."""
    w = torch.softmax(model.modal_weight, dim=0)
    learned, original = 0.0, 0.0
    for index, m in enumerate(model.modalities):
        x = data.item_features[m]
        table = x + model.projection.offset[m]
        learned = learned + w[index] * dense_knn(model.projection.linear[m](table), k)
        original = original + w[index] * laplacian(dense_knn(x, k))
    item_adj = 0.1 * laplacian(learned) + 0.9 * original
    h = item_adj @ model.item_embedding
    n = data.num_users + data.num_items
    a = torch.zeros(n, n)
    a[data.train.users, data.train.items + data.num_users] = 1
    a[data.train.items + data.num_users, data.train.users] = 1
    a = a + torch.eye(n)
    a = a / a.sum(1, keepdim=True)
    ego = torch.cat([model.user_embedding, model.item_embedding])
    mean = (ego + a @ ego + a @ a @ ego) / 3
    return mean[: data.num_users], mean[data.num_users :] + F.normalize(h, dim=1)


def reference_loss(users, items, u, p, n, reg_weight):
    eu, ep, en = users[u], items[p], items[n]
    bpr = -F.logsigmoid((eu * ep).sum(1) - (eu * en).sum(1)).mean()
    reg = 0.5 * (eu.pow(2).sum() + ep.pow(2).sum() + en.pow(2).sum()) / u.numel()
    return bpr + reg_weight * reg


def make_model(data, **kwargs):
    torch.manual_seed(0)
    model = LATTICE(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, feat_embed_dim=8, knn_k=3, **kwargs)
    model.attach(data)
    with torch.no_grad():  # unequal modality weights, so that their mixing is checked
        model.modal_weight.copy_(torch.tensor([0.3, -0.2]))
    return model


BATCH = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 4, 5, 5]), torch.tensor([6, 7, 8, 9])


def test_matches_dense_reference_and_first_batch_gradients(tiny_dataset, monkeypatch):
    data = load_mmrec_dataset(tiny_dataset)
    monkeypatch.setattr(item_graph, "_SIMILARITY_CHUNK_ELEMENTS", 20)  # kNN over chunks of 2 rows
    model = make_model(data, reg_weight=1e-2)
    model.eval()
    with torch.no_grad():
        users, items = model.representations()
        expected_users, expected_items = dense_reference(model, data, 3)
    assert torch.allclose(users, expected_users, atol=1e-6)
    assert torch.allclose(items, expected_items, atol=1e-6)

    # the epoch's first training batch: the whole loss and its gradient (through the learned graph
    # into the projections, the fine-tuned features and the modality weights) as the original's
    model.train()
    model.on_train_epoch_start()
    total = sum(model.loss(*BATCH).values())
    total.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    expected = reference_loss(*dense_reference(model, data, 3), *BATCH, 1e-2)
    expected.backward()
    assert torch.allclose(total, expected, atol=1e-6)
    for name, p in model.named_parameters():
        assert torch.allclose(ours[name], p.grad, atol=1e-6), name
    assert ours["modal_weight"].abs().sum() > 0 and ours["projection.linear.image.weight"].abs().sum() > 0


def test_graph_is_rebuilt_each_epoch_and_detached_in_between(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make_model(data)
    model.train()
    model.on_train_epoch_start()
    sum(model.loss(*BATCH).values()).backward()
    first = model._epoch_graph[0].to_dense().clone()
    with torch.no_grad():
        model.projection.linear["image"].weight.add_(1.0)  # changes the learned graph
    model.zero_grad(set_to_none=True)
    sum(model.loss(*BATCH).values()).backward()  # later batch: same graph, no gradient to it
    assert torch.equal(model._epoch_graph[0].to_dense(), first)
    assert model.projection.linear["image"].weight.grad is None and model.modal_weight.grad is None
    model.on_train_epoch_start()
    sum(model.loss(*BATCH).values()).backward()
    assert not torch.allclose(model._epoch_graph[0].to_dense(), first)


def test_modalities(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="'image'"):
        LATTICE(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["image", "text"])
    with pytest.raises(ValueError, match="at least one modality"):
        LATTICE(num_users=10, num_items=10, feature_dims={})
    data = load_mmrec_dataset(tiny_dataset)
    text_only = LATTICE(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, modalities=["text"], knn_k=3)
    text_only.attach(data)
    assert text_only.modal_weight.shape == (1,)
    spec = SyntheticSpec(num_users=30, num_items=20, mean_interactions_per_user=6, modalities={"image": 8, "text": 6, "audio": 4})
    three = SyntheticDataModule(spec, cache_dir=str(tmp_path / "data")).dataset
    model = LATTICE(num_users=three.num_users, num_items=three.num_items, feature_dims=three.feature_dims, knn_k=3)
    model.attach(three)
    assert model.modalities == ["audio", "image", "text"]
    for module in (text_only, model):
        module.eval()
        with torch.no_grad():
            users, items = module.representations()
        assert torch.isfinite(users).all() and torch.isfinite(items).all()


def test_user_init_targets_and_scheduler(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make_model(data, learning_rate=1e-3)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.item_space == "none"
    config = model.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    for _ in range(50):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.96)
