"""One smoke test over every backbone of the project, with and without SG-URInit.

Backbones are discovered (every RecommenderModule subclass defined in ``lit_mmrec.models``), so a new
backbone is covered without touching this file. Per backbone and initialisation: a few epochs on tiny
generated two-modality data; the loss of a fixed batch is finite and decreases; SG-URInit (when on) has
rewritten every declared user table before the first training step, and random init left them alone;
validation metrics lie in [0, 1]; a checkpoint reloads to identical scores and metrics.
"""

import lightning as L
import pytest
import torch
from helpers import discover_backbones

from lit_mmrec.callbacks import SGURInit
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec

BACKBONES = discover_backbones()

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")


def test_every_backbone_is_discovered():
    names = {cls.__name__ for cls in BACKBONES}
    assert {"LightGCN", "VBPR", "MMGCN", "LGMRec", "FREEDOM", "DRAGON"} <= names  # issue 4
    assert {"GRCN", "LATTICE", "BM3", "SLMRec", "DualGNN", "MGCN"} <= names  # issue 7


class UserTablesAtStart(L.Callback):
    """Records the user tables at the first training step (after SG-URInit's ``on_fit_start``)."""

    def __init__(self):
        self.tables = None

    def on_train_start(self, trainer, module):
        self.tables = [target.table.detach().clone() for target in module.user_init_targets()]


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
    assert random_tables, f"{backbone.__name__} declares no user table for SG-URInit"

    probe, at_start = fixed_batch_loss(batch, eval_mode=True), UserTablesAtStart()
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
