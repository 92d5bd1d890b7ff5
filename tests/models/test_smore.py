"""SMORE: representations, loss and gradients against a dense re-statement of the original code; the
max-pooled fusion graph; dropout; one, two and three modalities; the arguments it refuses; SG-URInit
targets; the scheduler."""

import pytest
import torch
import torch.nn.functional as F
from models.test_lattice import dense_knn, laplacian

from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.smore import SMORE, max_pooled_graph

pytestmark = pytest.mark.usefixtures("isolated_cache")

KNN = {"image": 3, "text": 2}


def original_info_nce(view1, view2, temperature):
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    pos = torch.exp((view1 * view2).sum(dim=-1) / temperature)
    total = torch.exp(view1 @ view2.T / temperature).sum(dim=1)
    return torch.mean(-torch.log(pos / total))


def dense_max_pool(graphs):
    """``max_pool_fusion`` on dense matrices: the maximum over the graphs that hold an entry."""
    stacked = torch.stack([torch.where(g != 0, g, torch.tensor(float("-inf"))) for g in graphs])
    pooled = stacked.max(0).values
    return torch.where(torch.isinf(pooled), torch.zeros_like(pooled), pooled)


def spectral(weight, *signals):
    """The code's ``spectrum_convolution``: ortho rfft, product with the complex weight, ortho irfft."""
    spectrum = torch.view_as_complex(weight).unsqueeze(0)
    for x in signals:
        spectrum = spectrum * torch.fft.rfft(x, dim=1, norm="ortho")
    return torch.fft.irfft(spectrum, n=signals[0].shape[1], dim=1, norm="ortho")


def dense_reference(model, data):
    """``(content, side)`` as the original forward computes them (dense, dropout off)."""
    n, num_users = data.num_users + data.num_items, data.num_users
    a = torch.zeros(n, n)
    a[data.train.users, data.train.items + num_users] = 1
    a[data.train.items + num_users, data.train.users] = 1
    a = laplacian(a)
    r = a[:num_users, num_users:]
    ego = torch.cat([model.user_embedding, model.item_embedding])
    layers = [ego]
    for _ in range(model.num_layers):
        layers.append(a @ layers[-1])
    content = torch.stack(layers).mean(0)
    feats = {m: model.projection.linear[m](data.item_features[m] + model.projection.offset[m]) for m in model.modalities}
    graphs = {m: laplacian(dense_knn(data.item_features[m], model.knn_k[m])) for m in model.modalities}

    def view(filtered, purifier, graph):
        items = model.item_embedding * purifier(filtered)
        for _ in range(model.num_item_graph_layers):
            items = graph @ items
        return torch.cat([r @ items, items])

    fusion = view(spectral(model.fusion_filter.weight, *feats.values()), model.fusion_purifier, dense_max_pool(list(graphs.values())))
    parts = [fusion * model.fusion_preference(content)]
    for m in model.modalities:
        h = view(spectral(model.denoise[m].weight, feats[m]), model.purifier[m], graphs[m])
        parts.append(torch.softmax(model.query[m](fusion), dim=-1) * h * model.preference[m](content))
    return content, torch.stack(parts).mean(0)


def tiny_model(data, **kwargs):
    torch.manual_seed(0)
    model = SMORE(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, knn_k=KNN, **kwargs)
    model.attach(data)
    return model


def test_matches_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = tiny_model(data, num_layers=3, num_item_graph_layers=2, cl_weight=0.1, reg_weight=1e-2, dropout=0.0)
    users, positives, negatives = torch.tensor([0, 1, 2, 2, 5]), torch.tensor([3, 4, 5, 5, 9]), torch.tensor([6, 7, 8, 1, 0])
    model.eval()
    with torch.no_grad():
        user_repr, item_repr = model.representations()
        content, side = dense_reference(model, data)
    final = content + side
    assert torch.allclose(user_repr, final[: data.num_users], atol=1e-6)
    assert torch.allclose(item_repr, final[data.num_users :], atol=1e-6)

    model.train()
    total = sum(model.loss(users, positives, negatives).values())
    total.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    content, side = dense_reference(model, data)
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
        assert torch.count_nonzero(param.grad) > 0, name  # every parameter, the complex weights included


def test_max_pooled_graph_takes_the_larger_entry_over_the_union():
    first = torch.tensor([[0.5, 0.0, 0.2], [0.0, 0.3, 0.0], [0.1, 0.0, 0.0]])
    second = torch.tensor([[0.4, 0.6, 0.0], [0.0, 0.0, 0.0], [0.7, 0.0, -0.2]])
    pooled = max_pooled_graph([first.to_sparse(), second.to_sparse()])
    assert torch.equal(pooled.to_dense(), torch.tensor([[0.5, 0.6, 0.2], [0.0, 0.3, 0.0], [0.7, 0.0, -0.2]]))
    assert pooled._nnz() == 6


def test_dropout_acts_on_the_preference_gates_in_training_only(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = tiny_model(data, dropout=0.5)
    model.eval()
    with torch.no_grad():
        first, again = model.views(), model.views()
        model.train()
        dropped = model.views()
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert torch.equal(first[0], dropped[0]) and not torch.equal(first[1], dropped[1])


def test_one_two_and_three_modalities(tmp_path):
    spec = SyntheticSpec(num_users=30, num_items=20, mean_interactions_per_user=6, modalities={"image": 8, "text": 6, "audio": 4})
    data = SyntheticDataModule(spec, cache_dir=str(tmp_path / "data")).dataset
    knn = {"image": 3, "text": 4, "audio": 2}
    for modalities in (["text"], ["image", "text"], None):
        model = SMORE(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, modalities=modalities, knn_k=knn)
        model.attach(data)
        terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
        assert set(terms) == {"bpr", "reg", "cl"} and all(torch.isfinite(v) for v in terms.values())
        sum(terms.values()).backward()
        assert all(torch.count_nonzero(f.weight.grad) > 0 for f in [model.fusion_filter, *model.denoise.values()])
    assert model.modalities == ["audio", "image", "text"]
    # one modality: the fusion graph is that modality's graph
    text = SMORE(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, modalities=["text"], knn_k=knn)
    text.attach(data)
    assert torch.equal(text.fusion_graph.to_dense(), text.item_graph_text.to_dense())


def test_refuses_bad_arguments():
    dims = {"image": 8, "text": 4}
    with pytest.raises(ValueError, match="'image'"):
        SMORE(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["image"])
    with pytest.raises(ValueError, match="at least one modality"):
        SMORE(num_users=10, num_items=10, feature_dims={})
    with pytest.raises(ValueError, match="'audio'"):
        SMORE(num_users=10, num_items=10, feature_dims={"text": 4, "audio": 3})
    with pytest.raises(ValueError, match="positive"):
        SMORE(num_users=10, num_items=10, feature_dims=dims, knn_k={"image": 0, "text": 3})
    with pytest.raises(ValueError, match="dropout"):
        SMORE(num_users=10, num_items=10, feature_dims=dims, dropout=1.0)
    with pytest.raises(ValueError, match="cl_weight"):
        SMORE(num_users=10, num_items=10, feature_dims=dims, cl_weight=-0.1)
    with pytest.raises(ValueError, match="finite"):
        SMORE(num_users=10, num_items=10, feature_dims=dims, temperature=float("nan"))
    with pytest.raises(ValueError, match="temperature"):
        SMORE(num_users=10, num_items=10, feature_dims=dims, temperature=0.0)


def test_defaults_user_init_targets_and_scheduler():
    model = SMORE(num_users=10, num_items=10, feature_dims={"image": 8, "text": 4})
    assert model.knn_k == {"image": 40, "text": 15}
    assert (model.num_layers, model.num_item_graph_layers, model.cl_weight, model.dropout.p) == (4, 1, 0.01, 0.1)
    assert (model.reg_weight, model.learning_rate, model.temperature) == (1e-4, 1e-3, 0.2)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.item_space == "none"
    config = model.configure_optimizers()
    for _ in range(100):
        config["optimizer"].step()
        config["lr_scheduler"]["scheduler"].step()
    assert config["optimizer"].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.96**2)
