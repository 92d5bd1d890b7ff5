"""PGL (lit_mmrec.models.pgl): the global principal subgraph equals the original's recipe (a dense SVD
of the square adjacency, top x bottom singular values), the local subgraph is re-drawn every epoch,
and the representations and loss match a dense reference."""

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from helpers import dense_bipartite

from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.pgl import PGL, principal_weights
from lit_mmrec.nn.edge_pruning import degree_sensitive_keep
from lit_mmrec.nn.info_nce import info_nce
from lit_mmrec.nn.knn_graph import knn_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_knn(features, k):
    """Dense normalised binary kNN graph ``D^-1/2 A D^-1/2`` (row sums at both ends)."""
    neighbours, _ = knn_neighbours(features, k)
    a = torch.zeros(features.shape[0], features.shape[0])
    rows = torch.arange(features.shape[0]).unsqueeze(1).expand_as(neighbours)
    a[rows[neighbours >= 0], neighbours[neighbours >= 0]] = 1
    inv = a.sum(1).pow(-0.5)
    return inv[:, None] * a * inv[None, :]


def make(data, **kwargs):
    args = dict(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, knn_k=3)
    model = PGL(**(args | kwargs))
    model.attach(data)
    return model


def dense_reference(model, data, graph):
    """``(user repr, item repr)`` of PGL over the dense user-item ``graph`` ([U + I, U + I])."""
    items = torch.cat([F.normalize(model.projection.linear[m](data.item_features[m]), dim=1) for m in ("image", "text")], 1)
    users = torch.cat([model.user_preference[m] for m in ("image", "text")], 1)
    item_graph = 0.1 * dense_knn(data.item_features["image"], 3) + 0.9 * dense_knn(data.item_features["text"], 3)
    ego = torch.cat([users, items]).detach()
    mean = (ego + graph @ ego + graph @ graph @ ego) / 3
    return mean[: data.num_users], mean[data.num_users :] + item_graph @ items.detach()


def original_global_graph(data, k, top):
    """The original's recipe on a dense matrix: SVD of the square normalised adjacency, its ``top``
    largest of the first ``k`` singular values times the ``top`` smallest of them, elementwise."""
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items).double()
    u, s, vh = torch.linalg.svd(adjacency)
    product = s[:top] * s[k - top : k]
    return (u[:, :top] @ torch.diag(product) @ vh[:top]).float()


@pytest.mark.parametrize("svd_rank, principal_rank", [(4, 1), (4, 2), (5, 2)])
def test_global_subgraph_is_the_originals_low_rank_graph(tiny_dataset, svd_rank, principal_rank):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = make(data, mode="global", svd_rank=svd_rank, principal_rank=principal_rank)
    # the original: k = 2 r singular values of the square adjacency, the top and bottom 2 p of them
    graph = original_global_graph(data, 2 * svd_rank, 2 * principal_rank)
    n = data.num_users
    assert graph[:n, :n].abs().max() < 1e-6 and graph[n:, n:].abs().max() < 1e-6  # bipartite
    factored = (model.principal_user_factors * model.principal_weights) @ model.principal_item_factors.T
    assert torch.allclose(factored, graph[:n, n:], atol=1e-5)

    model.train()
    with torch.no_grad():
        users, items = model.forward()
        expected_users, expected_items = dense_reference(model, data, graph)
        assert torch.allclose(users, expected_users, atol=1e-5)
        assert torch.allclose(items, expected_items, atol=1e-5)
        model.on_train_epoch_start()  # the global graph is fixed: nothing is re-drawn
        assert torch.equal(model.forward()[0], users)
        model.eval()  # evaluation propagates over the full graph
        full = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
        assert torch.allclose(model.representations()[0], dense_reference(model, data, full)[0], atol=1e-6)


def test_global_subgraph_thresholded_as_the_original(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    graph = original_global_graph(data, 8, 4)
    threshold = 0.05
    kept = graph * (graph.abs() >= threshold)
    assert 0 < int((kept != 0).sum()) < int((graph.abs() > 1e-6).sum())  # the threshold drops entries
    model = make(data, mode="global", svd_rank=4, principal_rank=2, svd_threshold=threshold)
    assert torch.allclose(model.principal_adjacency.to_dense(), kept, atol=1e-5)
    model.train()
    with torch.no_grad():
        for got, expected in zip(model.forward(), dense_reference(model, data, kept), strict=True):
            assert torch.allclose(got, expected, atol=1e-5)


def test_principal_weights_pair_the_largest_with_the_smallest():
    s = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    assert torch.equal(principal_weights(s, 2), torch.tensor([5.0 * 2.0, 4.0 * 1.0]))
    assert torch.equal(principal_weights(s, 5), s * s)


def test_svd_cache_is_keyed_by_the_rank(tiny_dataset, isolated_cache):
    data = load_mmrec_dataset(tiny_dataset)
    small, large = make(data, mode="global", svd_rank=3, principal_rank=1), make(data, mode="global", svd_rank=5, principal_rank=1)
    assert len(list(isolated_cache.rglob("user_item_svd-*.pt"))) == 2
    # same principal rank, other SVD rank: another weight (s_1 s_3 against s_1 s_5)
    assert not torch.allclose(small.principal_weights, large.principal_weights)
    with pytest.raises(ValueError, match="svd_rank"):
        make(data, mode="global", svd_rank=6, principal_rank=1)


class RecordSubgraph(L.Callback):
    def __init__(self):
        self.graphs = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == 0:
            self.graphs.append(module._subgraph.to_dense().clone())


def test_local_subgraph_is_redrawn_every_epoch(tiny_dataset, tmp_path):
    data = load_mmrec_dataset(tiny_dataset)
    L.seed_everything(0, verbose=False)
    model = make(data, edge_dropout=0.5)
    record = RecordSubgraph()
    trainer = L.Trainer(
        max_epochs=4, enable_progress_bar=False, enable_model_summary=False, logger=False,
        enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=tmp_path, callbacks=[record],
    )
    trainer.fit(model, datamodule=MMRecDataModule(data_dir=str(tiny_dataset), batch_size=4))
    edges = len(data.train)
    graphs = record.graphs
    assert len(graphs) == 4
    assert any(not torch.equal(graphs[0], g) for g in graphs[1:])
    full = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    for graph in graphs:
        assert int((graph > 0).sum()) == 2 * int(edges * 0.5)  # both directions of the kept edges
        assert bool(((graph > 0) <= (full > 0)).all())  # a subgraph of the training graph

    # one draw: the normalised graph of the edges degree_sensitive_keep picks
    torch.manual_seed(3)
    model.resample_subgraph()
    torch.manual_seed(3)
    kept = degree_sensitive_keep(model.edge_weights, 0.5)
    expected = dense_bipartite(data.train.users[kept], data.train.items[kept], data.num_users, data.num_items)
    assert torch.allclose(model._subgraph.to_dense(), expected, atol=1e-6)


def test_representations_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = make(data, dropout=0.0, reg_weight=0.5)
    model.eval()
    full = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    expected_users, expected_items = dense_reference(model, data, full)
    with torch.no_grad():
        users, items = model.representations()
        assert torch.allclose(users, expected_users, atol=1e-6)
        assert torch.allclose(items, expected_items, atol=1e-6)
        u, p, n = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
        terms = model.loss(u, p, n)  # dropout 0: both views are the rows themselves
    scores = (expected_users[u] * expected_items[p]).sum(1), (expected_users[u] * expected_items[n]).sum(1)
    assert torch.allclose(terms["bpr"], F.softplus(scores[1] - scores[0]).mean(), atol=1e-6)
    contrast = (info_nce(expected_users[u], expected_users[u], 0.2) + info_nce(expected_items[p], expected_items[p], 0.2)) / 2
    assert torch.allclose(terms["info_nce"], 0.5 * contrast, atol=1e-6)
    assert set(make(data, reg_weight=0.0).loss(u, p, n)) == {"bpr"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "spectral"}, "mode"),
        ({"svd_rank": 4, "principal_rank": 5}, "principal_rank"),
        ({"principal_rank": 0}, "principal_rank"),
        ({"edge_dropout": 1.0}, "edge_dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"temperature": 0.0}, "temperature"),
        ({"svd_threshold": -1e-3}, "svd_threshold"),
        ({"temperature": float("nan")}, "finite"),
        ({"modalities": ["audio"]}, "audio"),
    ],
)
def test_refuses_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PGL(num_users=6, num_items=10, feature_dims={"image": 8, "text": 4}, **kwargs)
