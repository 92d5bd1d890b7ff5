"""One smoke test over every backbone of the project, with and without SG-URInit.

Backbones are discovered (every RecommenderModule subclass defined in ``lit_mmrec.models``), so a new
backbone is covered without touching this file. Per backbone and initialisation: a few epochs on tiny
generated two-modality data; the loss of a fixed batch is finite and decreases; SG-URInit (when on) has
rewritten every declared user table before the first training step, and random init left them alone;
validation metrics lie in [0, 1]; a checkpoint reloads to identical scores and metrics.
"""

import importlib
import inspect
import pkgutil

import lightning as L
import pytest
import torch

import lit_mmrec.models
from lit_mmrec.callbacks import SGURInit
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.base import RecommenderModule


def discover_backbones() -> list[type[RecommenderModule]]:
    found = {}
    for info in pkgutil.iter_modules(lit_mmrec.models.__path__):
        module = importlib.import_module(f"lit_mmrec.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, RecommenderModule) and cls is not RecommenderModule and cls.__module__ == module.__name__:
                found[cls.__name__] = cls
    return [found[name] for name in sorted(found)]


BACKBONES = discover_backbones()


def test_every_backbone_is_discovered():
    names = {cls.__name__ for cls in BACKBONES}
    assert {"LightGCN", "VBPR", "MMGCN", "LGMRec", "FREEDOM", "DRAGON"} <= names  # issue 4
    assert {"GRCN", "LATTICE", "BM3", "SLMRec", "DualGNN", "MGCN"} <= names  # issue 7


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LIT_MMREC_CACHE", str(tmp_path / "cache"))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add synchronisation
    yield
    torch.set_num_threads(previous)


class Probe(L.Callback):
    """Records the user tables at the first training step and a fixed batch's loss after every epoch."""

    def __init__(self, batch):
        self.batch, self.losses, self.tables_at_start = batch, [], None

    def on_train_start(self, trainer, module):
        self.tables_at_start = [target.table.detach().clone() for target in module.user_init_targets()]

    def on_train_epoch_end(self, trainer, module):
        module.eval()
        with torch.no_grad():
            self.losses.append(float(sum(module.loss(*self.batch).values())))
        module.train()


@pytest.mark.parametrize("init", ["random", "sgurinit"])
@pytest.mark.parametrize("backbone", BACKBONES, ids=lambda cls: cls.__name__)
def test_backbone_trains_initialises_and_reloads(backbone, init, tmp_path):
    spec = SyntheticSpec(num_users=60, num_items=40, mean_interactions_per_user=8, modalities={"image": 16, "text": 8})
    datamodule = SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=64)
    data = datamodule.dataset
    generator = torch.Generator().manual_seed(0)
    batch = (data.train.users[:32], data.train.items[:32], torch.randint(0, data.num_items, (32,), generator=generator))

    L.seed_everything(0, verbose=False)
    model = backbone(data.num_users, data.num_items, data.feature_dims, learning_rate=1e-2)
    model.attach(data)
    random_tables = [target.table.detach().clone() for target in model.user_init_targets()]
    assert random_tables, f"{backbone.__name__} declares no user table for SG-URInit"

    probe = Probe(batch)
    callbacks = [probe] + ([SGURInit(n_clusters=4, seed=0)] if init == "sgurinit" else [])
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

    for before, at_start in zip(random_tables, probe.tables_at_start, strict=True):
        if init == "sgurinit":
            assert not torch.equal(before, at_start)
        else:
            assert torch.equal(before, at_start)
    assert all(torch.isfinite(torch.tensor(probe.losses))), probe.losses
    assert probe.losses[-1] < probe.losses[0], probe.losses
    metrics = trainer.validate(model, datamodule=datamodule, verbose=False)[0]
    assert metrics and all(0.0 <= value <= 1.0 for value in metrics.values())

    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    reloaded = backbone.load_from_checkpoint(path)
    reloaded.attach(data)
    model.eval()
    reloaded.eval()
    users = torch.arange(data.num_users)
    with torch.no_grad():
        assert torch.equal(model.rank(users, 10)[1], reloaded.rank(users, 10)[1])
    assert trainer.validate(reloaded, datamodule=datamodule, verbose=False)[0] == metrics
