import math

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.mentor import MENTOR
from lit_mmrec.nn.knn_graph import knn_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")

DIM = 8


def dense_normalised(a):
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]


def make(data, **kwargs):
    torch.manual_seed(0)
    model = MENTOR(
        num_users=data.num_users,
        num_items=data.num_items,
        feature_dims=data.feature_dims,
        embedding_dim=DIM,
        feature_hidden_dim=12,
        knn_k=3,
        **kwargs,
    )
    model.attach(data)
    return model


def dense_graphs(data):
    n_users, n_items = data.num_users, data.num_items
    a = torch.zeros(n_users + n_items, n_users + n_items)
    a[data.train.users, data.train.items + n_users] = 1
    a[data.train.items + n_users, data.train.users] = 1
    item_graph = torch.zeros(n_items, n_items)
    for m, w in (("image", 0.1), ("text", 0.9)):
        neighbours, _ = knn_neighbours(data.item_features[m], 3)
        knn = torch.zeros(n_items, n_items)
        knn[torch.arange(n_items).unsqueeze(1).expand_as(neighbours), neighbours] = 1
        item_graph += w * dense_normalised(knn)
    return dense_normalised(a), item_graph


def dense_info_nce(a, b, tau):
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / tau
    return -(logits.diag() - torch.log(torch.exp(logits).sum(1))).mean()


def test_scores_are_dragons_core_without_a_user_graph(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    n_users = data.num_users
    model = make(data)
    adjacency, item_graph = dense_graphs(data)
    with torch.no_grad():
        blocks = []
        for m in ("image", "text"):
            mlp = model.item_mlp[m]
            x = F.normalize(torch.cat([model.preference[m], mlp[2](F.leaky_relu(mlp[0](data.item_features[m])))]), dim=1)
            blocks.append(x + adjacency @ x + adjacency @ adjacency @ x)
        h = torch.cat(blocks, 1)
        alpha = model.modality_weight.repeat_interleave(DIM, dim=1)
        users, items = alpha * h[:n_users], h[n_users:] + item_graph @ h[n_users:]
        got_users, got_items = model.representations()
    assert torch.allclose(got_users, users, atol=1e-5)
    assert torch.allclose(got_items, items, atol=1e-5)


def test_noise_branches_differ_and_contrast_matches_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, mask_f_weight=0.0, align_weight=0.0, temperature=0.4)
    adjacency, item_graph = dense_graphs(data)
    n_users = data.num_users
    x = torch.cat(model.noise_branches[0].inputs({m: data.item_features[m] for m in ("image", "text")}), 1).detach()
    torch.manual_seed(3)
    got = model.noisy_propagate(x)
    torch.manual_seed(3)
    total, hidden = x, x
    for _ in range(2):
        hidden = adjacency @ hidden
        noise = torch.rand_like(hidden)
        noise = torch.cat([F.normalize(noise[:, :DIM], dim=1), F.normalize(noise[:, DIM:], dim=1)], 1)
        hidden = hidden + 0.1 * torch.sign(hidden) * noise
        total = total + hidden
    assert torch.allclose(got, total, atol=1e-5)
    assert not torch.allclose(got, model.user_item_conv(x, model.adjacency), atol=1e-3)

    torch.manual_seed(5)
    (users1, items1), (users2, items2) = model.noise_views()
    assert not torch.allclose(users1, users2, atol=1e-3) and not torch.allclose(items1, items2, atol=1e-3)
    torch.manual_seed(5)
    terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    reference = dense_info_nce(users1, users2, 0.4) + dense_info_nce(items1, items2, 0.4)
    assert torch.allclose(terms["mask_g"], 1e-4 * reference, atol=1e-9)
    assert set(terms) == {"bpr", "reg", "mask_g"}
    assert users1.shape == (n_users, 2 * DIM)


def test_batch_contrast_runs_over_the_batch_rows_only(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, mask_f_weight=0.0, align_weight=0.0, contrast_rows="batch")
    users, positives = torch.tensor([3, 0, 3]), torch.tensor([5, 2, 2])
    torch.manual_seed(5)
    (users1, items1), (users2, items2) = model.noise_views()
    torch.manual_seed(5)
    terms = model.loss(users, positives, torch.tensor([1, 4, 6]))
    rows, columns = torch.tensor([0, 3]), torch.tensor([2, 5])  # distinct users and positive items
    reference = dense_info_nce(users1[rows], users2[rows], 0.2) + dense_info_nce(items1[columns], items2[columns], 0.2)
    assert torch.allclose(terms["mask_g"], 1e-4 * reference, atol=1e-9)
    all_rows = dense_info_nce(users1, users2, 0.2) + dense_info_nce(items1, items2, 0.2)
    assert not torch.allclose(terms["mask_g"], 1e-4 * all_rows, atol=1e-9)


@pytest.mark.parametrize("with_grad", [True, False])
def test_feature_mask_loss_sends_gradient_only_with_the_fix(tiny_dataset, with_grad):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, feature_mask_grad=with_grad, mask_g_weight=0.0, align_weight=0.0, reg_weight=0.0)
    model.train()
    terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    assert 0.0 < terms["mask_f"].item() < 1.5 * 4
    assert terms["mask_f"].requires_grad is with_grad
    if with_grad:
        terms["mask_f"].backward()
        assert model.predictor.weight.grad.abs().sum() > 0
        assert model.preference["text"].grad.abs().sum() > 0
    else:
        assert not model.predictor.weight.requires_grad


def test_alignment_term_over_fused_guide_and_modalities(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, mask_g_weight=0.0, mask_f_weight=0.0, align_weight=0.5)
    with torch.no_grad():
        terms = model.loss(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
        users, items = model.forward()
        blocks = model.modality_blocks()
        n = data.num_users
        reps = [torch.cat([users, items])]
        for h in (model.guide_blocks(), blocks[:, :DIM], blocks[:, DIM:]):
            reps.append(torch.cat([h[:n], model.item_side(h[n:])]).repeat(1, 2))
        expected = sum(
            (reps[a].var() - reps[b].var()).abs() + (reps[a].mean() - reps[b].mean()).abs()
            for a in range(4)
            for b in range(a + 1, 4)
        )
    assert torch.allclose(terms["align"], 0.5 * expected)


def test_single_modality_and_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset, modalities=["text"])
    model = make(data)
    assert model.modality_weight is None and model.predictor.in_features == DIM
    terms = model.loss(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    assert set(terms) == {"bpr", "reg", "mask_f", "align", "mask_g"}
    assert all(math.isfinite(v.item()) for v in terms.values())
    assert [t.name for t in model.user_init_targets()] == ["preference[text]"]


@pytest.mark.parametrize(
    "bad", [{"contrast_rows": "some"}, {"temperature": 0.0}, {"dropout": 1.0}, {"mask_g_weight": float("nan")}, {"align_weight": -1.0}, {"knn_k": 0}]
)
def test_refuses_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        MENTOR(num_users=3, num_items=3, feature_dims={"text": 4}, **bad)
