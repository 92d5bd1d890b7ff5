"""HPMRec: every hypercomplex user component and prompt table is a parameter that receives gradient and
changes in training (the port's ``emb_x`` never does); the forward and the loss terms against a dense
reference with the quaternion (Hamilton) product written out."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from helpers import dense_bipartite

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.hpmrec import HPMRec


def make(data, **kwargs):
    torch.manual_seed(0)
    model = HPMRec(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                   embedding_dim=4, **kwargs)
    model.attach(data)
    return model


def hamilton(p, q):
    """Quaternion product of ``[N, 4 d]`` rows (components 1, i, j, k side by side)."""
    a1, b1, c1, d1 = p.chunk(4, 1)
    a2, b2, c2, d2 = q.chunk(4, 1)
    return torch.cat([
        a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
        a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
        a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
        a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
    ], 1)


def reference(model, data, layers):
    """Branches written out densely: components, layers 1..L, prompts, the Hamilton interaction."""
    adjacency = dense_bipartite(data.train.users, data.train.items, data.num_users, data.num_items)
    hidden = {}
    for branch in model.branches:
        source = model.item_embedding if branch == "id" else data.item_features[branch]
        items = model.encoders[branch](source)
        parts = []
        for users in model.user_components[branch]:
            x = F.normalize(torch.cat([users, items]), dim=1)
            parts.append(sum(torch.linalg.matrix_power(adjacency, k) @ x for k in range(1, layers + 1)))
        hidden[branch] = torch.cat(parts, 1) + model.prompts[branch]
    for modality in model.modalities:
        hidden[modality] = hidden[modality] + 0.1 * hamilton(hidden["id"], hidden[modality])
    joint = torch.cat([hidden[b] for b in model.branches], 1)
    users, items = joint[: data.num_users], joint[data.num_users :]
    return hidden, users, items + model.item_graph.to_dense() @ items


def test_forward_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, algebra_dim=4, num_layers=3, reg_weight=0.01, ssl_weight=0.1)
    with torch.no_grad():
        hidden, users, items = reference(model, data, 3)
        got_users, got_items = model()
        assert got_users.shape == (data.num_users, 3 * 4 * 4)
        assert torch.allclose(got_users, users, atol=1e-5) and torch.allclose(got_items, items, atol=1e-5)

        u, p, n = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 4, 5, 5]), torch.tensor([6, 7, 8, 0])
        terms = model.loss(u, p, n)
        bpr = -F.logsigmoid((users[u] * items[p]).sum(1) - (users[u] * items[n]).sum(1)).mean()
        reg = sum(t[u].square().mean() for b in model.branches for t in model.user_components[b])
        item_rows = {b: h[data.num_users :] for b, h in hidden.items()}
        pairs = list(itertools.combinations(model.branches, 2))
        assert pairs == [("id", "image"), ("id", "text"), ("image", "text")]  # each pair once
        alignment = sum((item_rows[a] - item_rows[b]).abs().mean() for a, b in pairs)
        diversity = sum((h[:, :4] - (h[:, 4:8] + h[:, 8:12] + h[:, 12:]) / 3).abs().mean() for h in hidden.values())
    assert terms["bpr"].item() == pytest.approx(bpr.item(), rel=1e-5)
    assert terms["reg"].item() == pytest.approx(0.01 * reg.item(), rel=1e-5)
    assert terms["alignment"].item() == pytest.approx(0.1 * alignment.item(), rel=1e-5)
    assert terms["diversity"].item() == pytest.approx(-0.1 * diversity.item(), rel=1e-5)


def test_every_hypercomplex_component_is_trained_and_saved(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = make(data, algebra_dim=8, learning_rate=1e-2)
    names = dict(model.named_parameters())
    components = {f"user_components.{b}.{c}" for b in ("id", "image", "text") for c in range(8)}
    assert components | {"prompts.id", "prompts.image", "prompts.text"} <= set(names)
    assert components <= set(model.state_dict())
    before = {name: names[name].detach().clone() for name in components}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    u, p, n = data.train.users[:8], data.train.items[:8], torch.arange(8) % data.num_items
    for step in range(3):
        optimizer.zero_grad()
        sum(model.loss(u, p, n).values()).backward()
        if step == 0:
            for name in components | {"prompts.image"}:
                assert names[name].grad is not None and names[name].grad.abs().sum() > 0, name
        optimizer.step()
    for name in components:
        assert not torch.equal(names[name], before[name]), name
    targets = {t.name for t in model.user_init_targets()}
    assert targets == {f"user_components[{b}][{c}]" for b in ("id", "image", "text") for c in range(8)}


def test_conjugate_free_product_differs_above_two(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    with torch.no_grad():
        assert torch.equal(make(data, algebra_dim=2)()[0], make(data, algebra_dim=2, conjugate=False)()[0])
        assert not torch.allclose(make(data, algebra_dim=4)()[0], make(data, algebra_dim=4, conjugate=False)()[0])


@pytest.mark.parametrize("bad", [{"algebra_dim": 3}, {"algebra_dim": 1}, {"num_layers": 0}, {"knn_k": 0},
                                 {"ssl_weight": -1.0}, {"interaction_weight": float("nan")}])
def test_refuses_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        HPMRec(num_users=3, num_items=4, feature_dims={"text": 2}, **bad)
