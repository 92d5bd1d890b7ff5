"""Mirror Gradient (lit_mmrec.callbacks.MirrorGradient with RecommenderModule.training_step): the parameters
after a fit equal a hand-computed reference (a mirrored batch: a step on alpha1 x loss, then one on -alpha2 x
the loss recomputed; any other batch: a plain step), with gradient clipping and learning-rate schedulers; a
run composed with configs/mirror_gradient.yaml resumes exactly; and without the callback training is
Lightning's automatic optimisation, bit for bit."""

import copy
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers import tiny_rows, write_inter

from lit_mmrec.callbacks import MirrorGradient
from lit_mmrec.cli import main
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.errors import InputError
from lit_mmrec.models.bpr import BPR
from lit_mmrec.nn.modal import adam_with_decay

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")

LR = 0.05


class SGDBPR(BPR):
    """BPR trained by plain SGD: the reference update is then written out by hand."""

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=LR)


class DecayingBPR(BPR):
    """BPR with MMRec's per-epoch learning-rate decay (an epoch-interval LambdaLR)."""

    def configure_optimizers(self):
        return adam_with_decay(self, self.learning_rate, 0.0, decay=0.5, every=1)


class Recorder(L.Callback):
    """The parameters at the first training step, every batch trained on, and the optimiser steps taken."""

    def __init__(self):
        self.start, self.batches, self.steps = None, [], None

    def on_train_start(self, trainer, module):
        self.start = copy.deepcopy(module.state_dict())

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.batches.append((batch_idx, [t.clone() for t in batch]))

    def on_train_end(self, trainer, module):
        self.steps = trainer.global_step


def fit(model_class, tmp_path, callbacks=(), epochs=1, **trainer_args):
    """A fitted model (4 batches an epoch) and its recorder."""
    spec = SyntheticSpec(num_users=40, num_items=30, mean_interactions_per_user=6, modalities={"image": 4})
    datamodule = SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=48)
    data = datamodule.dataset
    L.seed_everything(0, verbose=False)
    model = model_class(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                        embedding_dim=8, reg_weight=1e-3)
    recorder = Recorder()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, callbacks=[recorder, *callbacks], **trainer_args)
    trainer.fit(model, datamodule=datamodule)
    assert len({i for i, _ in recorder.batches}) >= 4
    return model, recorder, trainer


def replica(model, recorder):
    """A copy of ``model`` with the parameters it started training from."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(recorder.start)
    return twin


def gradients(model, batch, scale=1.0):
    loss = sum(model.loss(*batch).values()) * scale
    return torch.autograd.grad(loss, list(model.parameters()))


def sgd(model, grads):
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads, strict=True):
            p -= LR * g


def clipped(grads, max_norm):
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    return [g * scale for g in grads]


def assert_same_parameters(model, reference, exact=False):
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q) if exact else torch.allclose(p, q, atol=1e-7, rtol=1e-6), name


@pytest.mark.parametrize("clip", [None, 0.05])
def test_mirrored_and_plain_batches_match_the_hand_computed_sgd_update(tmp_path, clip):
    mirror = MirrorGradient(alpha1=1.0, alpha2=0.3, beta=2)
    model, recorder, _ = fit(SGDBPR, tmp_path, [mirror], gradient_clip_val=clip)
    reference = replica(model, recorder)
    for batch_idx, batch in recorder.batches:
        if batch_idx % 2 == 0:  # theta' = theta - lr alpha1 g(theta), unclipped; theta'' = theta' + lr alpha2 g(theta')
            sgd(reference, gradients(reference, batch, 1.0))
            grads = gradients(reference, batch, -0.3)
        else:
            grads = gradients(reference, batch)
        sgd(reference, clipped(grads, clip) if clip else grads)
    assert_same_parameters(model, reference)
    assert model.automatic_optimization and model.mirror_gradient is None  # back to normal after the fit


def test_a_mirrored_batch_is_two_steps_of_the_backbones_own_optimiser(tmp_path):
    """Adam: the mirrored batch advances its moments and step count twice."""
    model, recorder, _ = fit(BPR, tmp_path, [MirrorGradient(alpha1=0.5, alpha2=0.2, beta=3)])
    reference = replica(model, recorder)
    optimizer = reference.configure_optimizers()
    steps = 0
    for batch_idx, batch in recorder.batches:
        for scale in ((0.5, -0.2) if batch_idx % 3 == 0 else (1.0,)):
            optimizer.zero_grad()
            (scale * sum(reference.loss(*batch).values())).backward()
            optimizer.step()
            steps += 1
    assert_same_parameters(model, reference, exact=True)
    assert recorder.steps == steps  # every optimiser step counts


def test_without_the_callback_training_is_automatic_optimisation_bit_for_bit(tmp_path):
    model, recorder, _ = fit(BPR, tmp_path)
    reference = replica(model, recorder)
    optimizer = reference.configure_optimizers()
    for _, batch in recorder.batches:
        optimizer.zero_grad()
        sum(reference.loss(*batch).values()).backward()
        optimizer.step()
    assert_same_parameters(model, reference, exact=True)
    assert recorder.steps == len(recorder.batches)


def test_epoch_schedulers_step_as_in_automatic_optimisation(tmp_path):
    rates = []
    for callbacks in ([], [MirrorGradient()]):
        _, _, trainer = fit(DecayingBPR, tmp_path, callbacks, epochs=3)
        rates.append(trainer.optimizers[0].param_groups[0]["lr"])
    assert rates[0] == rates[1] == pytest.approx(1e-3 * 0.5**3)


def test_settings_it_cannot_honour_are_refused(tmp_path):
    with pytest.raises(InputError, match="accumulate_grad_batches"):
        fit(BPR, tmp_path, [MirrorGradient()], accumulate_grad_batches=2)

    class OwnStep(BPR):
        def training_step(self, batch, batch_idx):
            return super().training_step(batch, batch_idx)

    class TwoOptimisers(BPR):
        def configure_optimizers(self):
            return [torch.optim.SGD([self.user_embedding], lr=LR), torch.optim.SGD([self.item_embedding], lr=LR)]

    with pytest.raises(InputError, match="its own training step"):
        fit(OwnStep, tmp_path, [MirrorGradient()])
    with pytest.raises(InputError, match="one optimiser"):
        fit(TwoOptimisers, tmp_path, [MirrorGradient()])
    for bad in ({"alpha1": 0.0}, {"alpha2": -0.1}, {"alpha2": float("nan")}, {"beta": 0}, {"beta": 1.5}):
        with pytest.raises(ValueError):
            MirrorGradient(**bad)


def test_a_composed_run_resumes_exactly(tmp_path, monkeypatch):
    """``--config configs/mirror_gradient.yaml`` through train.py's CLI: one epoch, then resumed from
    ``last`` to two, ends with the weights of two epochs in one go."""
    data = tmp_path / "data"
    write_inter(data, tiny_rows(10, 12, per_user=6, seed=5))
    np.save(data / "text_feat.npy", np.random.default_rng(6).normal(size=(12, 4)).astype(np.float32))
    fragment = Path(__file__).resolve().parents[2] / "configs" / "mirror_gradient.yaml"
    monkeypatch.chdir(tmp_path)

    def run(experiment, epochs, *extra):
        return main(["fit", "--model", "lit_mmrec.models.lightgcn.LightGCN", "--model.embedding_dim", "8",
                     "--model.learning_rate", "0.01", "--data", "lit_mmrec.data.datamodule.MMRecDataModule",
                     "--data.data_dir", str(data), "--data.batch_size", "4", "--config", str(fragment),
                     "--experiment", experiment, "--trainer.max_epochs", str(epochs), "--test_after_fit", "false",
                     "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra])

    run("part", 1)
    resumed = run("part", 2, "--ckpt_path", "last")
    run("full", 2)
    assert any(isinstance(c, MirrorGradient) for c in resumed.trainer.callbacks)
    a, b = (torch.load(tmp_path / "checkpoints" / name / "last.ckpt", weights_only=False)["state_dict"]
            for name in ("part", "full"))
    for name in a:
        assert torch.equal(a[name], b[name]), name
