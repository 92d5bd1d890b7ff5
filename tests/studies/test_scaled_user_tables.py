"""The scaled-start control: every user table multiplied once, before the first epoch of a fresh fit."""

import lightning as L
import pytest
import torch

from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.models.lightgcn import LightGCN
from studies.scaled_user_tables import ScaledUserTables


def test_scaled_user_tables_scale_once_before_training(tiny_dataset, tmp_path):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, learning_rate=1e-30)
    start = model.user_embedding.detach().clone()
    scaled = ScaledUserTables(2.5)
    trainer = L.Trainer(max_epochs=1, callbacks=[scaled], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                        use_distributed_sampler=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=datamodule)
    # learning rate 1e-30: the table after the fit is the scaled start
    torch.testing.assert_close(model.user_embedding.detach(), 2.5 * start)
    # a second fit start (as on resume, the state restored) scales nothing
    scaled.on_fit_start(trainer, model)
    torch.testing.assert_close(model.user_embedding.detach(), 2.5 * start)
    with pytest.raises(ValueError, match="factor must be > 0"):
        ScaledUserTables(0.0)
