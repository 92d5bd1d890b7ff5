"""DiffMM: the forward and loss against a dense reference, the diffusion phase (its loss decreases, it steps
only the denoisers), the regenerated graph (top-k per user of the denoised rows, not the training graph, its
dropped entries), and exact resume (optimisers and per-epoch graph)."""

import pytest
import torch
import torch.nn.functional as F
from test_resume import fit_args, make_data, weights

from lit_mmrec.cli import main
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.diffmm import GRAPH_KEY, DiffMM

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_self_looped(users, items, num_users, num_items):
    n = num_users + num_items
    a = torch.zeros(n, n)
    a[users, items + num_users] = 1
    a[items + num_users, users] = 1
    a = a + torch.eye(n)
    inv = a.sum(1).pow(-0.5)
    return inv[:, None] * a * inv[None, :]


def dense_rows(data):
    rows = torch.zeros(data.num_users, data.num_items)
    rows[data.train.users.long(), data.train.items.long()] = 1
    return rows


def contrast_reference(view1, view2, nodes, temperature):
    a, c = F.normalize(view1), F.normalize(view2)
    return -torch.log(torch.exp((a[nodes] * c[nodes]).sum(-1) / temperature) / torch.exp(a[nodes] @ c.T / temperature).sum(-1)).mean()


def small_model(data, **kwargs):
    torch.manual_seed(0)
    model = DiffMM(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                   embedding_dim=8, denoiser_dims=[6], **kwargs)
    model.attach(data)
    return model


@pytest.mark.parametrize("contrast", ["modalities", "main"])
def test_representations_and_loss_match_dense_reference(tiny_dataset, contrast):
    data = load_mmrec_dataset(tiny_dataset)
    model = small_model(data, contrast=contrast, keep_rate=1.0, num_layers=2)
    model.eval()
    with torch.no_grad():
        users_repr, items_repr = model.representations()
        u, p, n = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 4, 5, 1]), torch.tensor([6, 7, 8, 9])
        terms = model.loss(u, p, n)
        U, n_items = data.num_users, data.num_items
        a = dense_self_looped(data.train.users.long(), data.train.items.long(), U, n_items)
        ids = torch.cat([model.user_embedding, model.item_embedding])
        weights = torch.softmax(model.modality_weight, 0)
        fused, views = 0, []
        for w, m in zip(weights, ["image", "text"], strict=True):
            top = model._top_items[m]
            g = dense_self_looped(torch.arange(U).repeat_interleave(top.shape[1]), top.reshape(-1), U, n_items)
            f = F.leaky_relu(data.item_features[m] @ model.projection[m].weight.T, 0.2)
            layer0 = torch.cat([model.user_embedding, F.normalize(f)])
            h = a @ layer0
            h = h + a @ torch.cat([h[:U], model.item_embedding])
            fused = fused + w * (h + 0.2 * g @ ids)
            start = g @ layer0
            views.append(start + a @ start + a @ a @ start)
        out = fused + a @ fused + a @ a @ fused + 0.5 * F.normalize(fused)
        assert torch.allclose(users_repr, out[:U], atol=1e-5)
        assert torch.allclose(items_repr, out[U:], atol=1e-5)
        bpr = -F.logsigmoid((out[u] * out[U + p]).sum(1) - (out[u] * out[U + n]).sum(1)).mean()
        assert torch.allclose(terms["bpr"], bpr, atol=1e-6)
        reg = model.reg_weight * (model.user_embedding.square().sum() + model.item_embedding.square().sum())
        assert torch.allclose(terms["reg"], reg)
        pairs = [(views[0], views[1])] if contrast == "modalities" else [(out, views[0]), (out, views[1])]
        expected = sum(contrast_reference(x[:U], y[:U], u, 0.5) + contrast_reference(x[U:], y[U:], p, 0.5) for x, y in pairs)
        assert torch.allclose(terms["contrast"], 1e-2 * expected, atol=1e-5)


def test_regenerated_graph_is_top_k_per_user_of_the_denoised_rows_and_not_the_training_graph(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = small_model(data, rebuild_k=2, keep_rate=1.0)
    model.regenerate_graphs(drop=False)
    rows = dense_rows(data)
    training = {(int(u), int(i)) for u, i in zip(data.train.users, data.train.items, strict=True)}
    for m in model.modalities:
        denoised = model.diffusion.p_sample(model.denoisers[m], rows)
        expected = denoised.topk(2, dim=1).indices
        graph = model.modality_graph(m)[0].to_dense()[: data.num_users, data.num_users :]
        assert torch.equal((graph > 0).sum(1), torch.full((data.num_users,), 2))
        for user in range(data.num_users):
            assert set(graph[user].nonzero().flatten().tolist()) == set(expected[user].tolist())
        regenerated = {(u, i) for u in range(data.num_users) for i in expected[u].tolist()}
        assert regenerated != training
        dense = dense_self_looped(torch.arange(data.num_users).repeat_interleave(2), expected.reshape(-1),
                                  data.num_users, data.num_items)
        assert torch.allclose(model.modality_graph(m)[0].to_dense(), dense)


def test_dropped_entries_are_rescaled_and_saved_in_the_checkpoint(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = small_model(data, keep_rate=0.5)
    torch.manual_seed(1)
    model.regenerate_graphs(drop=True)
    full = model._modality_graph(model._top_items["text"]).to_dense()
    dropped = model.modality_graph("text")[0].to_dense()
    kept = dropped != 0
    assert 0 < kept.sum() < (full != 0).sum()
    assert torch.allclose(dropped[kept], full[kept] / 0.5)
    assert torch.equal(model.modality_graph("text")[1].to_dense(), dropped.T)
    checkpoint = {}
    model.on_save_checkpoint(checkpoint)
    other = small_model(data, keep_rate=0.5)
    other.on_load_checkpoint(checkpoint)
    assert torch.equal(other.modality_graph("text")[0].to_dense(), dropped)


def test_the_diffusion_phase_steps_only_the_denoisers_and_lowers_their_loss(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = small_model(data, diffusion_batch_size=4, e_loss=0.1, diffusion_learning_rate=1e-2)
    optimisers = model.configure_optimizers()
    model.optimizers = lambda use_pl_optimizer=True: optimisers
    assert len(optimisers) == 3
    denoising = {id(p) for p in model.denoisers.parameters()}
    assert {id(p) for group in optimisers[0].param_groups for p in group["params"]}.isdisjoint(denoising)
    recommender = {name: p.detach().clone() for name, p in model.named_parameters() if not name.startswith("denoisers.")}
    rows, features = dense_rows(data), {m: model.modal_features(m).detach() for m in model.modalities}

    def loss():
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(5)
            return sum(float(sum(model.diffusion_losses(rows, features).values())) for _ in range(20))

    before = loss()
    for _ in range(30):
        model.train_denoisers()
    assert loss() < 0.5 * before
    for name, p in model.named_parameters():
        if name in recommender:
            assert torch.equal(p, recommender[name]), name


def test_arguments_are_validated():
    common = dict(num_users=5, num_items=6, feature_dims={"text": 4})
    with pytest.raises(ValueError, match="two modalities"):
        DiffMM(**common)
    for bad in (dict(keep_rate=0.0), dict(rebuild_k=7), dict(temperature=0.0), dict(sampling_steps=6),
                dict(projection="mlp"), dict(ssl_weight=-1.0), dict(noise_max=2.0)):
        with pytest.raises(ValueError):
            DiffMM(**common, contrast="main", **bad)


@pytest.mark.slow
def test_resume_equals_the_uninterrupted_fit(tmp_path, monkeypatch):
    """Denoisers, their optimisers and the per-epoch graph come back from the checkpoint: a fit resumed after
    epoch 0 ends as the uninterrupted one (weights and the saved graph)."""
    data = make_data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    diffmm = ["--model.denoiser_dims", "[8]", "--model.diffusion_batch_size", "4", "--test_after_fit", "false"]
    for experiment, epochs, resume in (("part", 1, []), ("part", 2, ["--ckpt_path", "last"]), ("full", 2, [])):
        main([*fit_args(data, experiment, epochs, "lit_mmrec.models.diffmm.DiffMM"), *diffmm, *resume])
    part, full = tmp_path / "checkpoints" / "part" / "last.ckpt", tmp_path / "checkpoints" / "full" / "last.ckpt"
    a, b = weights(part), weights(full)
    assert a.keys() == b.keys() and any(name.startswith("denoisers.") for name in a)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    saved_a, saved_b = (torch.load(path, weights_only=False) for path in (part, full))
    assert len(saved_a["optimizer_states"]) == 3
    for m, (top, kept) in saved_a[GRAPH_KEY].items():
        assert torch.equal(top, saved_b[GRAPH_KEY][m][0])
        assert torch.equal(kept, saved_b[GRAPH_KEY][m][1])



def test_plain_ddp_is_refused_in_one_line():
    import lightning as L

    from lit_mmrec.errors import InputError, require_ddp_unused_parameters

    model = DiffMM(num_users=3, num_items=4, feature_dims={"image": 2, "text": 2})
    model.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    with pytest.raises(InputError, match="DiffMM trains parameters outside its recommender loss: under DDP use") as error:
        model.setup("fit")
    assert "\n" not in str(error.value)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", logger=False)
    require_ddp_unused_parameters("DiffMM", trainer)  # accepted
