"""One smoke test over every backbone of the project, with and without SG-URInit.

Backbones are discovered (every RecommenderModule subclass defined in ``lit_mmrec.models``), so a new
backbone is covered without touching this file. Per backbone and initialisation: a few epochs on tiny
generated two-modality data; the loss of a fixed batch is finite and decreases; SG-URInit (when on) has
rewritten every declared user table before the first training step, and random init left them alone;
training moves every parameter (fine-tuned raw features and preference tables included); validation
metrics lie in [0, 1]; a checkpoint holds no data-derived tensor and reloads to identical
representations, scores and metrics. A backbone without parameters (ItemKNNCBF) has no user table: SG-URInit
stops its fit with one line saying so; without it, fit validates and a checkpoint reloads to the same rankings.
"""

import inspect

import lightning as L
import pytest
import torch
from helpers import discover_backbones
from jsonargparse import ArgumentParser

from lit_mmrec.callbacks import SGURInit
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.errors import InputError
from lit_mmrec.models.base import RecommenderModule

BACKBONES = discover_backbones()
#: the hyperparameters every backbone shares (RecommenderModule's arguments)
COMMON = [name for name in inspect.signature(RecommenderModule.__init__).parameters if name != "self"]

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")


def test_every_backbone_is_discovered():
    names = {cls.__name__ for cls in BACKBONES}
    assert {"LightGCN", "VBPR", "MMGCN", "LGMRec", "FREEDOM", "DRAGON"} <= names
    assert {"GRCN", "LATTICE", "BM3", "SLMRec", "DualGNN", "MGCN"} <= names


@pytest.mark.parametrize("backbone", BACKBONES, ids=lambda cls: cls.__name__)
def test_cli_offers_and_checkpoints_record_the_common_hyperparameters(backbone):
    """The CLI's parser (what ``--print_config`` and ``--model.help`` show) resolves the backbone's
    ``**kwargs`` to the common hyperparameters, each documented, with the defaults the model records
    in ``save_hyperparameters``."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(backbone, "model")
    offered = parser.get_defaults().model.as_dict()
    assert set(COMMON) <= set(offered)
    documented = {action.dest.removeprefix("model."): action.help for action in parser._actions}
    assert all(documented[name] for name in offered), documented
    recorded = dict(backbone(num_users=6, num_items=10, feature_dims={"image": 8, "text": 4}).hparams)
    linked = {"num_users": 6, "num_items": 10, "feature_dims": {"image": 8, "text": 4}}
    assert recorded == offered | linked


class AtTrainStart(L.Callback):
    """Records the user tables and every parameter at the first training step (after SG-URInit's
    ``on_fit_start``)."""

    def __init__(self):
        self.tables = None
        self.parameters = None

    def on_train_start(self, trainer, module):
        self.tables = [target.table.detach().clone() for target in module.user_init_targets()]
        self.parameters = {name: p.detach().clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("init", ["random", "sgurinit"])
@pytest.mark.parametrize("backbone", BACKBONES, ids=lambda cls: cls.__name__)
def test_backbone_trains_initialises_and_reloads(backbone, init, tmp_path, fixed_batch_loss):
    spec = SyntheticSpec(num_users=60, num_items=40, mean_interactions_per_user=8, modalities={"image": 16, "text": 8})
    datamodule = SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=64)
    data = datamodule.dataset
    generator = torch.Generator().manual_seed(0)
    batch = (data.train.users[:32], data.train.items[:32], torch.randint(0, data.num_items, (32,), generator=generator))

    L.seed_everything(0, verbose=False)
    model = backbone(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, learning_rate=1e-2)
    model.attach(data)
    random_tables = [target.table.detach().clone() for target in model.user_init_targets()]
    if not list(model.parameters()):  # nothing to learn, no user table (ItemKNNCBF)
        return check_parameter_free_backbone(backbone, model, init, datamodule, tmp_path)
    assert random_tables, f"{backbone.__name__} declares no user table for SG-URInit"

    probe, at_start = fixed_batch_loss(batch, eval_mode=True), AtTrainStart()
    callbacks = [probe, at_start] + ([SGURInit(n_clusters=4, seed=0)] if init == "sgurinit" else [])
    trainer = L.Trainer(
        max_epochs=4,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        callbacks=callbacks,
    )
    trainer.fit(model, datamodule=datamodule)

    for before, table in zip(random_tables, at_start.tables, strict=True):
        if init == "sgurinit":
            assert not torch.equal(before, table)
        else:
            assert torch.equal(before, table)
    assert all(torch.isfinite(torch.tensor(probe.losses))), probe.losses
    assert probe.losses[-1] < probe.losses[0], probe.losses
    untrained = [name for name, p in model.named_parameters() if torch.equal(p, at_start.parameters[name])]
    assert not untrained, f"{backbone.__name__}: training left {untrained} unchanged"
    metrics = trainer.validate(model, datamodule=datamodule, verbose=False)[0]
    assert metrics and all(0.0 <= value <= 1.0 for value in metrics.values())

    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    data_derived = set(model.__dict__.get("_ddp_params_and_buffers_to_ignore", []))
    # every buffer is data-derived (BPR-MF has none), and none of them is checkpointed
    assert data_derived == {name for name, _ in model.named_buffers()}
    assert not data_derived & set(torch.load(path, weights_only=True)["state_dict"])
    reloaded = backbone.load_from_checkpoint(path)
    reloaded.attach(data)
    model.eval()
    reloaded.eval()
    users = torch.arange(data.num_users)
    with torch.no_grad():
        for before, after in zip(model.representations(), reloaded.representations(), strict=True):
            assert torch.equal(before, after)
        assert torch.equal(model.rank(users, 10)[1], reloaded.rank(users, 10)[1])
    assert trainer.validate(reloaded, datamodule=datamodule, verbose=False)[0] == metrics


def check_parameter_free_backbone(backbone, model, init, datamodule, tmp_path):
    """A backbone without parameters declares no user table: SG-URInit stops the fit with one line saying so;
    without it, fit validates, and a checkpoint reloads to the same rankings and metrics."""
    assert not model.user_init_targets()
    callbacks = [SGURInit(n_clusters=4, seed=0)] if init == "sgurinit" else []
    trainer = L.Trainer(max_epochs=1, enable_progress_bar=False, enable_model_summary=False, logger=False,
                        enable_checkpointing=False, num_sanity_val_steps=0, default_root_dir=tmp_path, callbacks=callbacks)
    if init == "sgurinit":
        with pytest.raises(InputError, match=f"{backbone.__name__} declares no user table"):
            trainer.fit(model, datamodule=datamodule)
        return
    trainer.fit(model, datamodule=datamodule)
    metrics = trainer.validate(model, datamodule=datamodule, verbose=False)[0]
    assert metrics and all(0.0 <= value <= 1.0 for value in metrics.values())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    assert not torch.load(path, weights_only=True)["state_dict"]
    reloaded = backbone.load_from_checkpoint(path)
    reloaded.attach(datamodule.dataset)
    users = torch.arange(datamodule.dataset.num_users)
    assert torch.equal(model.rank(users, 10)[1], reloaded.rank(users, 10)[1])
    assert trainer.validate(reloaded, datamodule=datamodule, verbose=False)[0] == metrics
