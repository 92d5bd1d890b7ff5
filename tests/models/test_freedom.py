import pytest
import torch
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.freedom import FREEDOM
from lit_mmrec.nn.edge_pruning import degree_sensitive_keep
from lit_mmrec.nn.knn_graph import knn_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_knn(features, k):
    neighbours, _ = knn_neighbours(features, k)
    n = features.shape[0]
    a = torch.zeros(n, n)
    rows = torch.arange(n).unsqueeze(1).expand_as(neighbours)
    a[rows[neighbours >= 0], neighbours[neighbours >= 0]] = 1
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def test_representations_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = FREEDOM(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, feat_embed_dim=8, knn_k=3
    )
    model.attach(data)
    model.eval()
    item_graph = 0.1 * dense_knn(data.item_features["image"], 3) + 0.9 * dense_knn(
        data.item_features["text"], 3
    )
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    ego = torch.cat([model.user_embedding, model.item_embedding]).detach()
    mean = (ego + adjacency @ ego + adjacency @ adjacency @ ego) / 3
    expected_users = mean[: data.num_users]
    expected_items = mean[data.num_users :] + item_graph @ model.item_embedding.detach()
    with torch.no_grad():
        users, items = model.representations()
    assert torch.allclose(users, expected_users, atol=1e-6)
    assert torch.allclose(items, expected_items, atol=1e-6)

    u, p, n = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
    with torch.no_grad():
        terms = model.loss(u, p, n)
    bpr = lambda a, b: -torch.nn.functional.logsigmoid(a - b).mean()  # noqa: E731
    modal = 0.0
    for m in ("image", "text"):
        f = model.projection[m](data.item_features[m])
        modal += bpr((expected_users[u] * f[p]).sum(1), (expected_users[u] * f[n]).sum(1))
    assert torch.allclose(
        terms["bpr"],
        bpr((expected_users[u] * expected_items[p]).sum(1), (expected_users[u] * expected_items[n]).sum(1)),
        atol=1e-6,
    )
    assert torch.allclose(terms["modal_bpr"], model.reg_weight * modal, atol=1e-8)


def test_degree_sensitive_pruning(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = FREEDOM(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, dropout=0.5)
    model.attach(data)
    edges = len(data.train)
    keep = degree_sensitive_keep(model.edge_weights, 0.5)
    assert keep.numel() == int(edges * 0.5) and keep.unique().numel() == keep.numel()
    # the pruned graph is the normalised graph of the kept edges; evaluation uses the full graph
    model.train()
    torch.manual_seed(1)
    model.resample_pruned_graph()
    torch.manual_seed(1)
    kept = degree_sensitive_keep(model.edge_weights, 0.5)
    expected = dense_bipartite(data.train.users[kept], data.train.items[kept], data.num_users, data.num_items)
    assert torch.allclose(model._pruned_adjacency.to_dense(), expected, atol=1e-6)
    # edges between low-degree nodes (large 1/sqrt(d_u d_i)) survive more often
    weights = torch.cat([torch.full((10,), 0.1), torch.full((10,), 1.0)])
    counts = torch.zeros(20)
    for _ in range(300):
        counts[degree_sensitive_keep(weights, 0.5)] += 1
    assert counts[10:].mean() > 1.5 * counts[:10].mean()


def test_missing_modality_and_text_only_weights(tmp_path):
    with pytest.raises(ValueError, match="'image'"):
        FREEDOM(num_users=10, num_items=10, feature_dims={"text": 8}, modalities=["image", "text"])
    text_only = FREEDOM(num_users=10, num_items=10, feature_dims={"text": 8})
    assert text_only.graph_weights == {"text": 1.0}
    with pytest.raises(ValueError, match="'audio'"):
        FREEDOM(num_users=10, num_items=10, feature_dims={"audio": 4, "text": 8})  # no default item-graph weight for audio
    assert FREEDOM(
        num_users=10, num_items=10, feature_dims={"audio": 4, "text": 8}, modality_weights={"audio": 1, "text": 1}
    ).graph_weights == {
        "audio": 0.5,
        "text": 0.5,
    }


def test_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = FREEDOM(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=16, feat_embed_dim=16)
    model.attach(data)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.table.shape == (data.num_users, 16)
    assert target.modalities == ["image", "text"]
    for m in ("image", "text"):
        projected = target.item_space(m, data.item_features[m])
        assert projected.shape == (data.num_items, 16) and not projected.requires_grad
        assert torch.allclose(projected, model.projection[m](data.item_features[m]))


def test_projection_paths_agree(tiny_dataset, monkeypatch):
    from lit_mmrec.nn import modal

    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = FREEDOM(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, feat_embed_dim=8, knn_k=3
    )
    model.attach(data)
    model.eval()
    batch = torch.tensor([0, 1, 1, 5]), torch.tensor([2, 3, 3, 5]), torch.tensor([6, 7, 8, 9])
    results = []
    for share in (0.0, 2.0):  # whole table / distinct items only
        monkeypatch.setattr(modal, "_FULL_PROJECTION_SHARE", share)
        model.zero_grad()
        terms = model.loss(*batch)
        terms["modal_bpr"].backward()
        results.append((terms["modal_bpr"].detach(), model.feature_offset["image"].grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-8)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-8)
    assert results[0][1][[2, 3, 5, 6, 7, 8, 9]].abs().sum() > 0 and results[0][1][[0, 1, 4]].abs().sum() == 0
    assert isinstance(model.configure_optimizers(), torch.optim.Adam)
