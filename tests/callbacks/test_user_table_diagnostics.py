"""The user-table statistics by hand, and the callback logging them in a real fit."""

import math

import lightning as L
import pytest
import torch

from lit_mmrec.callbacks.user_table_diagnostics import (
    UserTableDiagnostics,
    common_direction_ratio,
    effective_rank,
    mean_pairwise_cosine,
    nearest_cosine,
    table_statistics,
)
from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.models.lightgcn import LightGCN


def test_effective_rank_by_hand():
    # singular values 3 and 1: p = (3/4, 1/4), exp(entropy)
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert effective_rank(torch.tensor([[3.0, 0.0], [0.0, 1.0]])) == pytest.approx(expected)
    assert effective_rank(torch.eye(4)) == pytest.approx(4.0)
    assert effective_rank(torch.tensor([[1.0, 2.0], [2.0, 4.0], [-1.0, -2.0]])) == pytest.approx(1.0)
    assert effective_rank(torch.zeros(3, 2)) == 0.0


def test_common_direction_and_mean_cosine_by_hand():
    assert common_direction_ratio(torch.tensor([[1.0, 0.0], [2.0, 0.0]])) == pytest.approx(1.0)
    assert common_direction_ratio(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(0.0)
    # mean row (1.5, 2) has norm 2.5; mean row norm (3 + 4) / 2
    assert common_direction_ratio(torch.tensor([[3.0, 0.0], [0.0, 4.0]])) == pytest.approx(2.5 / 3.5)
    # pairs: cos = 0, 1/sqrt 2, 1/sqrt 2
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert mean_pairwise_cosine(rows) == pytest.approx(2 / math.sqrt(2) / 3)
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(-1.0)


def test_nearest_cosine_by_hand():
    # nearest other row: (0,1)->(1,1) 1/sqrt2; (1,0)->(1,1) 1/sqrt2; (1,1)->either 1/sqrt2; (-1,0)->(0,1) 0
    rows = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    expected = (3 / math.sqrt(2) + 0.0) / 4
    assert nearest_cosine(rows) == pytest.approx(expected)
    # chunks smaller than the table give the same value (the diagonal excluded in every chunk)
    assert nearest_cosine(rows, chunk_size=3) == pytest.approx(expected)
    # max_rows: the mean over the first rows only, each still compared with every row
    assert nearest_cosine(rows, max_rows=3, chunk_size=2) == pytest.approx(1 / math.sqrt(2))
    assert nearest_cosine(rows[[3, 0, 1, 2]], max_rows=1) == pytest.approx(0.0)
    assert nearest_cosine(torch.tensor([[1.0, 0.0], [2.0, 0.0]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two rows"):
        nearest_cosine(torch.ones(1, 3))


def test_drift_by_hand():
    stats = table_statistics(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), initial=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert stats["drift"] == pytest.approx(0.5) and stats["mean_norm"] == pytest.approx(1.5)
    assert "drift" not in table_statistics(torch.eye(2))


def test_callback_logs_statistics_every_epoch(tiny_dataset, tmp_path):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    diagnostics = UserTableDiagnostics()
    trainer = L.Trainer(max_epochs=2, callbacks=[diagnostics], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                        use_distributed_sampler=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=datamodule)
    metrics = trainer.callback_metrics
    active = torch.unique(data.split("train").users.long())
    expected = table_statistics(model.user_embedding.detach()[active], diagnostics.initial["user_embedding"])
    for key, value in expected.items():
        assert float(metrics[f"diag/user_embedding/{key}"]) == pytest.approx(value, rel=1e-5)
    assert float(metrics["diag/user_embedding/drift"]) > 0
    assert float(metrics["diag/item_repr_norm"]) > 0
    users, _ = model.representations()
    assert float(metrics["diag/user_repr_nearest_cosine"]) == pytest.approx(nearest_cosine(users.detach()[active]))
