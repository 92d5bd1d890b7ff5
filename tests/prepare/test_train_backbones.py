"""A folder converted from ml-100k-style files trains with every backbone of the project."""

import lightning as L
import pytest
import torch
from helpers import discover_backbones

from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.prepare.movielens import prepare_movielens

BACKBONES = discover_backbones()
#: the converted data has one modality (text); these defaults need two, and the model says so in one line
ONE_MODALITY = {"DiffMM": {"contrast": "main"}}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, make_random_ml100k, fake_encoder):
    root = tmp_path_factory.mktemp("ml100k_convert")
    raw = make_random_ml100k(root / "ml-100k", num_users=40, num_movies=30, per_user=12)
    prepare_movielens(raw, root / "ml100k", text_encoder=fake_encoder)
    return root / "ml100k"


def test_all_backbones_are_found():
    assert {"LightGCN", "VBPR", "MMGCN", "LGMRec", "FREEDOM", "DRAGON"} <= {cls.__name__ for cls in BACKBONES}


@pytest.mark.parametrize("backbone", BACKBONES, ids=lambda cls: cls.__name__)
@pytest.mark.usefixtures("isolated_cache", "single_thread")
def test_backbone_trains_on_converted_ml100k(backbone, converted, tmp_path):
    datamodule = MMRecDataModule(str(converted), batch_size=64, eval_chunk_size=64)
    L.seed_everything(0, verbose=False)
    model = backbone(num_users=datamodule.num_users, num_items=datamodule.num_items, feature_dims=datamodule.feature_dims,
                     **ONE_MODALITY.get(backbone.__name__, {}))  # default hyperparameters
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=datamodule)
    assert trainer.fit_loop.epoch_loop.batch_progress.total.completed == 2  # global_step counts optimiser steps
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert 0.0 <= float(trainer.callback_metrics["val/recall@20"]) <= 1.0
