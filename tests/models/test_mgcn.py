"""MGCN: representations, loss and gradients against a dense re-statement of the original code;
InfoNCE against the original formula; modalities; SG-URInit targets; the scheduler."""

import pytest
import torch
import torch.nn.functional as F
from models.test_lattice import dense_knn, laplacian

from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.mgcn import MGCN, info_nce

pytestmark = pytest.mark.usefixtures("isolated_cache")


def original_info_nce(view1, view2, temperature):
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    pos = torch.exp((view1 * view2).sum(dim=-1) / temperature)
    total = torch.exp(view1 @ view2.T / temperature).sum(dim=1)
    return torch.mean(-torch.log(pos / total))


def dense_reference(model, data, k):
    """``(content, side)`` as the original forward computes them, dense."""
    n, num_users = data.num_users + data.num_items, data.num_users
    a = torch.zeros(n, n)
    a[data.train.users, data.train.items + num_users] = 1
    a[data.train.items + num_users, data.train.users] = 1
    a = laplacian(a)
    ego = torch.cat([model.user_embedding, model.item_embedding])
    content = (ego + a @ ego + a @ a @ ego) / 3
    views = []
    for m in model.modalities:
        x = data.item_features[m]
        purified = model.item_embedding * model.purifier[m](model.projection.linear[m](x + model.projection.offset[m]))
        items = laplacian(dense_knn(x, k)) @ purified
        views.append(torch.cat([a[:num_users, num_users:] @ items, items]))
    weights = torch.softmax(torch.cat([model.query(v) for v in views], dim=-1), dim=-1)
    common = sum(weights[:, i : i + 1] * v for i, v in enumerate(views))
    separate = [model.preference[m](content) * (v - common) for m, v in zip(model.modalities, views, strict=True)]
    return content, (sum(separate) + common) / (len(views) + 1)


def test_matches_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = MGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, knn_k=3, cl_weight=0.1, reg_weight=1e-2)
    model.attach(data)
    users, positives, negatives = torch.tensor([0, 1, 2, 2, 5]), torch.tensor([3, 4, 5, 5, 9]), torch.tensor([6, 7, 8, 1, 0])
    model.eval()
    with torch.no_grad():
        user_repr, item_repr = model.representations()
        content, side = dense_reference(model, data, 3)
    final = content + side
    assert torch.allclose(user_repr, final[: data.num_users], atol=1e-6)
    assert torch.allclose(item_repr, final[data.num_users :], atol=1e-6)

    model.train()
    total = sum(model.loss(users, positives, negatives).values())
    total.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    content, side = dense_reference(model, data, 3)
    final = content + side
    u, p, q = final[users], final[positives + data.num_users], final[negatives + data.num_users]
    expected = -F.logsigmoid((u * p).sum(1) - (u * q).sum(1)).mean()
    expected = expected + 1e-2 * 0.5 * (u.pow(2).sum() + p.pow(2).sum() + q.pow(2).sum()) / users.numel()
    items = positives + data.num_users
    expected = expected + 0.1 * (
        original_info_nce(side[items], content[items], 0.2) + original_info_nce(side[users], content[users], 0.2)
    )
    expected.backward()
    assert torch.allclose(total, expected, atol=1e-6)
    for name, param in model.named_parameters():
        assert torch.allclose(ours[name], param.grad, atol=1e-6), name


def test_info_nce_matches_original():
    torch.manual_seed(0)
    a, b = torch.randn(7, 5), torch.randn(7, 5)
    assert torch.allclose(info_nce(a, b, 0.2), original_info_nce(a, b, 0.2), atol=1e-6)


def test_modalities_user_init_targets_and_scheduler(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="'image'"):
        MGCN(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["image"])
    with pytest.raises(ValueError, match="at least one modality"):
        MGCN(num_users=10, num_items=10, feature_dims={})
    data = load_mmrec_dataset(tiny_dataset)
    model = MGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, learning_rate=1e-3)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.item_space == "none"
    config = model.configure_optimizers()
    for _ in range(100):
        config["optimizer"].step()
        config["lr_scheduler"]["scheduler"].step()
    assert config["optimizer"].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.96**2)
    spec = SyntheticSpec(num_users=30, num_items=20, mean_interactions_per_user=6, modalities={"image": 8, "text": 6, "audio": 4})
    three = SyntheticDataModule(spec, cache_dir=str(tmp_path / "data")).dataset
    for modalities in (["text"], None):
        model = MGCN(num_users=three.num_users, num_items=three.num_items, feature_dims=three.feature_dims, modalities=modalities, knn_k=3)
        model.attach(three)
        terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
        assert set(terms) == {"bpr", "reg", "cl"} and all(torch.isfinite(v) for v in terms.values())
    assert model.modalities == ["audio", "image", "text"]
