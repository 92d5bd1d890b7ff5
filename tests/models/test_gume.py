import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.gume import GUME
from lit_mmrec.nn.knn_graph import knn_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")

MODALITIES = ("image", "text")


def row_normalised(a):
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def info_nce(a, c, tau):
    a, c = F.normalize(a, dim=1), F.normalize(c, dim=1)
    return (-torch.log(torch.exp((a * c).sum(1) / tau) / torch.exp(a @ c.T / tau).sum(1))).mean()


def noise(x):
    return x + 0.1 * torch.sign(x) * F.normalize(torch.rand_like(x), dim=-1)


def dense_graphs(data, k):
    """The augmented user-item graph and the weighted kNN item graphs, dense, from sets."""
    n_users, n_items = data.num_users, data.num_items
    tables = {m: knn_neighbours(data.item_features[m], k) for m in MODALITIES}
    a = torch.zeros(n_users + n_items, n_users + n_items)
    a[data.train.users, data.train.items + n_users] = 1
    a[data.train.items + n_users, data.train.users] = 1
    for i in range(n_items):
        common = set(tables["image"][0][i].tolist()) & set(tables["text"][0][i].tolist())
        for j in common - {i}:
            a[n_users + i, n_users + j] = 1
    item_graphs = {}
    for m, (neighbours, similarity) in tables.items():
        w = torch.zeros(n_items, n_items)
        w[torch.arange(n_items).unsqueeze(1).expand_as(neighbours), neighbours] = similarity
        item_graphs[m] = row_normalised(w)
    return row_normalised(a), item_graphs


def test_augmented_graph_representations_and_loss_terms_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    n_users, n_items, d = data.num_users, data.num_items, 8
    torch.manual_seed(0)
    model = GUME(num_users=n_users, num_items=n_items, feature_dims=data.feature_dims, embedding_dim=d, knn_k=4)
    model.attach(data)
    adjacency, item_graphs = dense_graphs(data, 4)
    # the defining piece: the user-item graph with the kNN-intersection edges added, normalised by row sums
    assert torch.allclose(model.adjacency.to_dense(), adjacency, atol=1e-6)
    assert (adjacency[n_users:, n_users:] > 0).any() and not torch.allclose(adjacency, adjacency.T)

    def lg(x):
        total, h = x, x
        for _ in range(3):
            h = adjacency @ h
            total = total + h
        return total / 4

    users, positives, negatives = torch.tensor([0, 1, 3, 1]), torch.tensor([2, 5, 9, 0]), torch.tensor([7, 3, 1, 4])
    with torch.no_grad():
        ext_id = lg(torch.cat([model.user_embedding, model.item_embedding]))
        explicit, ext = [], []
        for m in MODALITIES:
            reduced = model.features.linear[m](data.item_features[m])
            e = model.item_embedding * torch.sigmoid(model.feature_gate[m][0](reduced))
            h = item_graphs[m] @ (item_graphs[m] @ e)
            explicit.append(torch.cat([adjacency[:n_users, n_users:] @ h, h]))
            ext.append(lg(torch.cat([model.extended_user[m], h])))
        ext_modal = (ext[0] + ext[1]) / 2
        scores = torch.cat([model.coarse(p) for p in explicit], 1).softmax(1)
        coarse = scores[:, :1] * explicit[0] + scores[:, 1:] * explicit[1]
        fine = [torch.sigmoid(model.behaviour[m][0](ext_id)) * (p - coarse) for m, p in zip(MODALITIES, explicit, strict=True)]
        fused = (fine[0] + fine[1] + coarse) / 3
        final = ext_id + fused
        got_users, got_items = model.representations()
        assert torch.allclose(got_users, final[:n_users], atol=1e-5)
        assert torch.allclose(got_items, final[n_users:], atol=1e-5)

        pos, neg = positives + n_users, negatives + n_users
        u, p, q = final[users], final[pos], final[neg]
        b = users.numel()
        v, t = explicit
        torch.manual_seed(7)
        expected = {
            "bpr": -F.logsigmoid((u * p).sum(1) - (u * q).sum(1)).mean(),
            "reg": 1e-5 * 0.5 * (u.pow(2).sum() + p.pow(2).sum() + q.pow(2).sum()) / b,
            "vt": 0.1 * ((v.var() - t.var()).abs() + (v.mean() - t.mean()).abs()),
            "bm": 0.01 * (info_nce(fused[users], ext_id[users], 0.4) + info_nce(fused[pos], ext_id[pos], 0.4)),
            "um": 0.01
            * (
                info_nce(ext_modal[users], fused[users], 0.1)
                + info_nce(noise(fused[users]), noise(fused[users]), 0.1)
                + info_nce(noise(ext_modal[users]), noise(ext_modal[users]), 0.1)
            ),
            "extended_reg": 0.1 * 0.5 * ext_modal[pos].pow(2).sum() / b,
        }
        torch.manual_seed(7)
        terms = model.loss(users, positives, negatives)
    assert terms.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.allclose(terms[name], value, rtol=1e-4, atol=1e-7), name


def test_intersection_follows_knn_k(tiny_dataset):
    """Every k gets its own intersection (the original groups entries ten at a time and caches one file)."""
    data = load_mmrec_dataset(tiny_dataset)
    edges = {}
    for k in (3, 6):
        model = GUME(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, knn_k=k)
        model.attach(data)
        dense, _ = dense_graphs(data, k)
        assert torch.allclose(model.adjacency.to_dense(), dense, atol=1e-6)
        edges[k] = int((dense[data.num_users :, data.num_users :] > 0).sum())
    assert edges[3] < edges[6]


def test_one_modality_has_no_alignment_term(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = GUME(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, modalities=["text"])
    model.attach(data)
    terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    assert "vt" not in terms and all(torch.isfinite(v) for v in terms.values())


@pytest.mark.parametrize(
    "bad", [{"knn_k": 0}, {"bm_temperature": 0.0}, {"um_weight": -1.0}, {"num_layers": -1}, {"vt_weight": float("nan")}]
)
def test_rejects_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        GUME(num_users=3, num_items=4, feature_dims={"image": 2, "text": 2}, **bad)
