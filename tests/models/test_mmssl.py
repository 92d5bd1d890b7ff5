"""MMSSL (lit_mmrec.models.mmssl): the discriminator and the generator each train by their own optimiser
(the discriminator's loss reaches only the discriminator, the generator's adversarial term reaches the
modality projections), the generated modality-aware graphs are the top unseen items under each modality and
differ from the user-item graph, a resumed fit equals the uninterrupted one (both optimisers' states
included), and Trainer-driven gradient clipping and multi-process fits are refused."""

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_rows, write_inter
from lightning.fabric.utilities.exceptions import MisconfigurationException

from lit_mmrec.cli import main
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.errors import InputError
from lit_mmrec.models.mmssl import MMSSL

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")


@pytest.fixture
def datamodule(tmp_path):
    spec = SyntheticSpec(num_users=50, num_items=40, mean_interactions_per_user=6, modalities={"image": 12, "text": 6})
    return SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=64)


def build(datamodule, **options):
    torch.manual_seed(0)
    data = datamodule.dataset
    model = MMSSL(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                  embedding_dim=8, num_heads=2, **options)
    model.attach(data)
    return model


def generator_parameters(model):
    return {name: p for name, p in model.named_parameters() if not name.startswith("discriminator.")}


def test_each_loss_reaches_its_own_side(datamodule):
    model = build(datamodule, graph_topk_rate=0.1)
    users = torch.arange(10)
    model.discriminator_loss(users).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())
    assert all(p.grad is None for p in generator_parameters(model).values())

    model.zero_grad(set_to_none=True)
    model.adversarial_weight, model.cl_weight = 1.0, 0.0
    terms = model.loss(users, torch.arange(10), torch.arange(10, 20))
    (adversarial,) = torch.autograd.grad(terms["adversarial"], model.projection["image"].weight)
    assert adversarial.abs().sum() > 0


def test_both_optimisers_train_their_parameters(datamodule):
    model = build(datamodule)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = L.Trainer(max_epochs=2, enable_progress_bar=False, enable_model_summary=False, logger=False,
                        enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    generator, discriminator = trainer.optimizers
    owned = {id(p) for group in generator.param_groups for p in group["params"]}
    assert owned == {id(p) for p in generator_parameters(model).values()}
    assert {id(p) for p in discriminator.param_groups[0]["params"]} == {id(p) for p in model.discriminator.parameters()}
    assert isinstance(generator, torch.optim.AdamW) and discriminator.param_groups[0]["betas"] == (0.5, 0.9)
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved == set(before)
    assert all(len(discriminator.state[p]) for p in model.discriminator.parameters())


def test_generated_graphs_are_the_top_unseen_items_per_modality(datamodule):
    model = build(datamodule, graph_topk_rate=0.1)  # k = 4 of 40 items
    model.eval()
    graphs = model.generate_graphs()
    user_item = model.user_item.to_dense()
    train = torch.zeros_like(user_item, dtype=torch.bool)
    rows, items = model.index("train").entries(torch.arange(model.num_users))
    train[rows, items] = True
    dense = {}
    with torch.no_grad():
        features = model.modality_features()
    for m, ((forward, forward_t), (backward, backward_t)) in graphs.items():
        dense[m] = forward.to_dense()
        assert not torch.equal(dense[m], user_item)
        assert torch.equal(forward_t.to_dense(), dense[m].T) and torch.equal(backward.to_dense().T, backward_t.to_dense())
        assert torch.all((dense[m] > 0).sum(1) == 4) and not (dense[m] > 0)[train].any()
        assert torch.allclose(dense[m][dense[m] > 0], torch.tensor(0.5))  # D_u^-1/2 with 4 items per user
        degrees = (dense[m] > 0).sum(0).float()
        assert torch.allclose(backward.to_dense(), (dense[m] > 0).float().T / degrees.clamp_min(1).sqrt()[:, None])
        users, item_side = features[m]
        scores = (users @ item_side.T).masked_fill(train, float("-inf"))
        assert torch.equal((dense[m] > 0), F.one_hot(scores.topk(4, dim=1).indices, model.num_items).sum(1).bool())
    assert not torch.equal(dense["image"], dense["text"])


def test_resumed_fit_equals_the_uninterrupted_one(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_inter(data, tiny_rows(10, 12, per_user=6, seed=5))
    rng = np.random.default_rng(6)
    np.save(data / "image_feat.npy", rng.normal(size=(12, 8)).astype(np.float32))
    np.save(data / "text_feat.npy", rng.normal(size=(12, 4)).astype(np.float32))
    monkeypatch.chdir(tmp_path)

    def run(experiment, epochs, *extra):
        return main(["fit", "--model", "lit_mmrec.models.mmssl.MMSSL", "--model.embedding_dim", "8",
                     "--model.num_heads", "2", "--model.learning_rate", "0.01",
                     "--data", "lit_mmrec.data.datamodule.MMRecDataModule", "--data.data_dir", str(data),
                     "--data.batch_size", "8", "--experiment", experiment, "--trainer.max_epochs", str(epochs),
                     "--test_after_fit", "false", "--trainer.enable_progress_bar", "false",
                     "--trainer.enable_model_summary", "false", *extra])

    run("part", 1)
    run("part", 2, "--ckpt_path", "last")
    run("full", 2)
    part, full = (torch.load(tmp_path / "checkpoints" / name / "last.ckpt", weights_only=False) for name in ("part", "full"))
    assert part["state_dict"].keys() == full["state_dict"].keys()
    for name in part["state_dict"]:
        assert torch.equal(part["state_dict"][name], full["state_dict"][name]), name
    assert len(part["optimizer_states"]) == len(full["optimizer_states"]) == 2
    for a, b in zip(part["optimizer_states"], full["optimizer_states"], strict=True):
        assert a["state"].keys() == b["state"].keys() and a["state"]
        for key in a["state"]:
            for name, value in a["state"][key].items():
                assert torch.equal(value, b["state"][key][name]), (key, name)


def test_trainer_gradient_clipping_is_refused(datamodule):
    model = build(datamodule)
    trainer = L.Trainer(max_epochs=1, gradient_clip_val=1.0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(MisconfigurationException, match="gradient clipping is not supported for manual optimization"):
        trainer.fit(model, datamodule=datamodule)


@pytest.mark.parametrize("bad", [{"num_heads": 3}, {"dropout": 1.0}, {"graph_topk_rate": 0.0},
                                 {"temperature": 0.001}, {"cl_weight": -1.0}, {"adversarial_weight": float("nan")}])
def test_refuses_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        MMSSL(num_users=5, num_items=40, feature_dims={"text": 4}, embedding_dim=8, **{"num_heads": 2, **bad})


def test_multi_process_fit_is_refused(datamodule):
    model = build(datamodule)
    model.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_checkpointing=False)
    with pytest.raises(InputError, match="MMSSL trains in one process"):
        model.setup("fit")


def test_the_original_attention_and_slope_train(datamodule):
    model = build(datamodule, original_attention=True, discriminator_negative_slope=1.0)
    assert model.attention.query is None and model.attention.key is None
    users = torch.arange(10)
    model.discriminator_loss(users).backward()
    total = sum(model.loss(users, torch.arange(10), torch.arange(10, 20)).values())
    total.backward()
    assert torch.isfinite(total) and model.attention.concat.grad.abs().sum() > 0
