"""LGMRec: the whole batch loss against a dense re-statement of the original (fixed) code, modality
handling and the SG-URInit targets (training and the checkpoint round trip: test_all_backbones.py)."""

import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.lgmrec import LGMRec, gumbel_softmax


# ---------------------------------------------------------------- dense reference of the original code
def reference_loss(model, data, users, positives, negatives, noisy):
    """The original (fixed) LGMRec forward + calculate_loss on dense matrices; Gumbel noise from the
    global RNG in the order image items, image users, text items, text users when ``noisy``."""
    U, n_items = data.num_users, data.num_items
    dtype = model.user_embedding.dtype
    R = torch.zeros(U, n_items, dtype=dtype)
    R[data.train.users, data.train.items] = 1.0
    adjacency = torch.zeros(U + n_items, U + n_items, dtype=dtype)
    adjacency[:U, U:], adjacency[U:, :U] = R, R.T
    degree = adjacency.sum(1)
    inv_sqrt = (degree + 1e-7).pow(-0.5)
    A = inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]
    num_inters = 1.0 / (degree + 1e-7)

    ego = torch.cat([model.user_embedding, model.item_embedding])
    layers = [ego]
    for _ in range(model.num_ui_layers):
        layers.append(A @ layers[-1])
    cge = torch.stack(layers).mean(0)
    mge, hyper_u, hyper_i = [], [], []
    for m in model.modalities:
        X = data.item_features[m].to(dtype)
        item_feats = X @ model.item_projection[m]
        h = torch.cat([R @ item_feats * num_inters[:U, None], item_feats])
        for _ in range(model.num_mm_layers):
            h = A @ h
        mge.append(h)
        i_logits = X @ model.hyperedge_projection[m]
        u_logits = R @ i_logits
        if noisy:
            i_hyper, u_hyper = F.gumbel_softmax(i_logits, 0.2, dim=1), F.gumbel_softmax(u_logits, 0.2, dim=1)
        else:
            i_hyper, u_hyper = torch.softmax(i_logits / 0.2, 1), torch.softmax(u_logits / 0.2, 1)
        i_ret = cge[U:]
        for _ in range(model.num_hyper_layers):
            lat = i_hyper.T @ i_ret
            i_ret = i_hyper @ lat
            u_ret = u_hyper @ lat
        hyper_u.append(u_ret)
        hyper_i.append(i_ret)
    ghe = sum(torch.cat([u, i]) for u, i in zip(hyper_u, hyper_i, strict=True))
    final = cge + sum(F.normalize(h) for h in mge) + model.alpha * F.normalize(ghe)
    u, p, n = final[users], final[U + positives], final[U + negatives]
    bpr = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
    reg = (u.norm() + p.norm() + n.norm()) / users.numel()

    def ssl_triple_loss(emb1, emb2, all_emb):
        n1, n2, na = F.normalize(emb1), F.normalize(emb2), F.normalize(all_emb)
        pos = torch.exp((n1 * n2).sum(1) / 0.2)
        ttl = torch.exp(n1 @ na.T / 0.2).sum(1)
        return -torch.log(pos / ttl).sum()

    cl = ssl_triple_loss(hyper_u[0][users], hyper_u[1][users], hyper_u[1]) + ssl_triple_loss(
        hyper_i[0][positives], hyper_i[1][positives], hyper_i[1]
    )
    return final, {"bpr": bpr, "reg": model.reg_weight * reg, "cl": model.cl_weight * cl}


def tiny_model(data, **kwargs):
    torch.manual_seed(0)
    model = LGMRec(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, reg_weight=0.1, cl_weight=0.5,
                   **kwargs)
    model.attach(data)
    return model


BATCH = torch.tensor([0, 1, 1, 3, 5]), torch.tensor([2, 3, 3, 9, 0]), torch.tensor([5, 2, 9, 0, 1])


@pytest.mark.parametrize("setting", [(2, 2, 1, 4), (3, 1, 2, 64), (0, 2, 3, 2)])
def test_training_loss_matches_dense_reference(tiny_dataset, setting):
    data = load_mmrec_dataset(tiny_dataset)
    num_ui, num_mm, num_hyper, num_hyperedges = setting
    # keep_rate 1: no dropout, so the noise is the Gumbel draws alone; float64: the tau = 0.2
    # softmaxes amplify float32 rounding beyond a useful tolerance
    model = tiny_model(data, num_ui_layers=num_ui, num_mm_layers=num_mm, num_hyper_layers=num_hyper,
                       num_hyperedges=num_hyperedges, keep_rate=1.0).double()
    model.train()
    torch.manual_seed(1)
    terms = model.loss(*BATCH)
    grads = torch.autograd.grad(sum(terms.values()), list(model.parameters()))
    torch.manual_seed(1)
    _, expected = reference_loss(model, data, *BATCH, noisy=True)
    expected_grads = torch.autograd.grad(sum(expected.values()), list(model.parameters()))
    assert set(terms) == set(expected)
    for name in expected:
        assert torch.allclose(terms[name], expected[name], rtol=1e-6, atol=1e-9), name
    for got, want in zip(grads, expected_grads, strict=True):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-9)


def test_evaluation_representation(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = tiny_model(data, eval_noise_seed=None)
    model.eval()
    with torch.no_grad():
        users, items = model.representations()
        final, _ = reference_loss(model, data, *BATCH, noisy=False)
    assert torch.allclose(torch.cat([users, items]), final, atol=1e-5)

    model.eval_noise_seed = 7  # seeded noise: reproducible, and it differs from the noise-free one
    with torch.no_grad():
        first, second = model.forward(), model.forward()
    assert torch.equal(first[0], second[0]) and not torch.allclose(first[0], users)
    model.train()  # training draws fresh noise (and dropout) every call
    assert not torch.equal(model.forward()[0], model.forward()[0])


def test_dropout_on_assignments(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = tiny_model(data, keep_rate=0.5)
    model.train()
    _, hypergraphs = model._encode()
    for hypergraph in hypergraphs:
        values = hypergraph.item_assignment
        assert (values == 0).any() and values.max() <= 2.0 + 1e-6  # dropped, survivors scaled by 1/keep


def test_gumbel_softmax_matches_torch():
    logits = torch.randn(5, 4)
    torch.manual_seed(3)
    expected = F.gumbel_softmax(logits, tau=0.2, hard=False, dim=1)
    assert torch.allclose(gumbel_softmax(logits, 0.2, torch.Generator().manual_seed(3)), expected)


def test_one_modality_has_no_contrastive_term(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset, modalities=["text"])
    model = tiny_model(data)
    terms = model.loss(*BATCH)
    assert set(terms) == {"bpr", "reg"} and all(torch.isfinite(v) for v in terms.values())


def test_modalities_are_checked(tiny_dataset):
    with pytest.raises(ValueError, match="'image'"):
        LGMRec(num_users=6, num_items=10, feature_dims={"text": 4}, modalities=["image", "text"])
    with pytest.raises(ValueError, match="at least one modality"):
        LGMRec(num_users=6, num_items=10, feature_dims={})
    data = load_mmrec_dataset(tiny_dataset, modalities=["text"])
    model = LGMRec(num_users=data.num_users, num_items=data.num_items, feature_dims={"image": 8, "text": 4})
    with pytest.raises(ValueError, match="features"):
        model.attach(data)
    with pytest.raises(ValueError, match="keep_rate"):
        LGMRec(num_users=6, num_items=10, feature_dims={"text": 4}, keep_rate=0.0)


def test_user_init_targets(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = tiny_model(data)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding
    assert target.table.shape == (data.num_users, 8)
    assert target.item_space == "none" and target.modalities == ["image", "text"]
