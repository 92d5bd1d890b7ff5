"""MSCA: the structural (item co-occurrence) graph and the attention fusion of the views against a dense
reference, and the contrastive and regularisation terms."""

import pytest
import torch
import torch.nn.functional as F
from helpers import dense_bipartite

from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.msca import MSCA

pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture
def data(tmp_path):
    spec = SyntheticSpec(num_users=40, num_items=30, mean_interactions_per_user=8, modalities={"image": 6, "text": 5})
    return SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=64).dataset


def make(data, **kwargs):
    torch.manual_seed(0)
    model = MSCA(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                 embedding_dim=8, **kwargs)
    model.attach(data)
    return model


def sym_normalise(a):
    inv_sqrt = a.sum(1).pow(-0.5)
    inv_sqrt[torch.isinf(inv_sqrt)] = 0
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]


def dense_structure(data, k, min_common):
    """The original's recipe on a dense co-occurrence matrix: off-diagonal counts >= min_common, the k largest
    per row (ties: smaller id, as the sparse build), the item itself, binary, D^-1/2 A D^-1/2 with row sums."""
    r = torch.zeros(data.num_users, data.num_items)
    r[data.train.users, data.train.items] = 1
    counts = r.T @ r
    counts.fill_diagonal_(0)
    counts[counts < min_common] = 0
    a = torch.eye(data.num_items)
    for i in range(data.num_items):
        qualifying = int((counts[i] > 0).sum())
        order = torch.sort(-counts[i], stable=True).indices[: min(k, qualifying)]
        a[i, order] = 1
    return sym_normalise(a)


def dense_knn(features, k):
    unit = F.normalize(features, dim=1)
    sim = unit @ unit.T
    values, index = sim.topk(k, dim=1)
    return sym_normalise(torch.zeros_like(sim).scatter_(1, index, values))


def test_structural_graph_matches_dense_reference(data):
    model = make(data, knn_k=3)
    expected = dense_structure(data, 3, 2)
    degrees = (expected > 0).sum(1)
    assert (degrees == 4).any() and (degrees < 4).any()  # some rows truncated to k, some with fewer qualifying
    assert torch.allclose(model.item_graph_structure.to_dense(), expected, atol=1e-6)
    loose = make(data, knn_k=3, min_common_users=1)
    assert torch.allclose(loose.item_graph_structure.to_dense(), dense_structure(data, 3, 1), atol=1e-6)


def test_views_fusion_and_loss_match_dense_reference(data):
    model = make(data, knn_k=4, num_layers=3, fusion_weight=0.4, cl_weight=0.1, temperature=0.3, reg_weight=1e-3)
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    user_items = adjacency[: data.num_users, data.num_users :]
    with torch.no_grad():
        for offset in model.features.offset.values():  # fine-tuned features differ from the raw ones
            offset.normal_(0, 0.1)
        ego = torch.cat([model.user_embedding, model.item_embedding])
        collaborative = sum(torch.linalg.matrix_power(adjacency, k) @ ego for k in (1, 2, 3)) / 3
        views = []
        for modality in ("image", "text"):
            x = data.item_features[modality] + model.features.offset[modality]
            linear, gate = model.features.linear[modality], model.gates[modality][0]
            e = model.item_embedding * torch.sigmoid((x @ linear.weight.T + linear.bias) @ gate.weight.T + gate.bias)
            items = dense_knn(data.item_features[modality], 4) @ e
            views.append(torch.cat([user_items @ items, items]))
        items = dense_structure(data, 4, 2) @ model.item_embedding
        views.append(torch.cat([user_items @ items, items]))
        w1, b1, w2 = model.attention.score[0].weight, model.attention.score[0].bias, model.attention.score[2].weight
        weights = torch.softmax(torch.cat([torch.tanh(v @ w1.T + b1) @ w2.T for v in views], 1), 1)
        fused = sum(views) - sum(weights[:, k, None] * v for k, v in enumerate(views))
        final = collaborative + 0.4 * fused

        got_users, got_items = model()
        assert torch.allclose(got_users, final[: data.num_users], atol=1e-5)
        assert torch.allclose(got_items, final[data.num_users :], atol=1e-5)

        u, p, n = torch.tensor([0, 1, 2, 2, 5]), torch.tensor([3, 4, 5, 5, 9]), torch.tensor([6, 7, 8, 0, 1])
        terms = model.loss(u, p, n)
        rows_p, rows_n = p + data.num_users, n + data.num_users
        bpr = -F.logsigmoid((final[u] * final[rows_p]).sum(1) - (final[u] * final[rows_n]).sum(1)).mean()

        def nce(a, b):
            a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
            logits = a @ b.T / 0.3
            return (torch.logsumexp(logits, 1) - logits.diagonal()).mean()

        pair = [nce(collaborative[u], v[u]) + nce(collaborative[rows_p], v[rows_p]) for v in views]
        parameters = sum(p.square().sum() for name, p in model.named_parameters() if "offset" not in name)
        features = sum((data.item_features[m] + model.features.offset[m]).square().sum() for m in ("image", "text"))
    assert terms["bpr"].item() == pytest.approx(bpr.item(), rel=1e-5)
    assert terms["cl_modal"].item() == pytest.approx(0.1 * (pair[0] + pair[1]).item(), rel=1e-5)
    assert terms["cl_structural"].item() == pytest.approx(0.1 * pair[2].item(), rel=1e-5)
    assert terms["reg"].item() == pytest.approx(1e-3 * (parameters + features).item(), rel=1e-5)


def test_one_modality_has_two_views(data):
    model = make(data, modalities=["text"])
    with torch.no_grad():
        assert list(model.encode()["views"]) == ["text", "structure"]
        assert set(model.loss(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))) == {
            "bpr", "cl_modal", "cl_structural", "reg"}


@pytest.mark.parametrize("bad", [{"num_layers": 0}, {"knn_k": 0}, {"min_common_users": 0}, {"temperature": 0.0},
                                 {"fusion_weight": -0.1}, {"cl_weight": float("nan")}])
def test_refuses_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        MSCA(num_users=3, num_items=4, feature_dims={"text": 2}, **bad)
