"""DDP on CPU (gloo) through the real ``train.py``: 2 processes give the 1-process answer.

One 2-process ``fit`` (SG-URInit on, one epoch, then the best checkpoint tested) runs in a
subprocess; :class:`probes.RecordEvaluation` makes every rank save what it saw. The 1-process
runs are in-process.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_rows, write_inter
from probes import run_train

from lit_mmrec.cli import main
from lit_mmrec.data.sampling import UserChunkLoader

NUM_USERS, NUM_ITEMS = 7, 12


def make_data(folder: Path) -> Path:
    """7 users (each with a validation and a test item; 3 training items for even users, 4 for odd ones: two
    activity groups), 12 items, image and text features."""
    rows = tiny_rows(NUM_USERS, NUM_ITEMS, per_user=6, seed=3)
    write_inter(folder, [r for r in rows if not (r[0] % 2 == 0 and r[3] == 100)])
    rng = np.random.default_rng(4)
    np.save(folder / "image_feat.npy", rng.normal(size=(NUM_ITEMS, 8)).astype(np.float32))
    np.save(folder / "text_feat.npy", rng.normal(size=(NUM_ITEMS, 4)).astype(np.float32))
    return folder


def common(data: Path, experiment: str) -> list[str]:
    return [
        "--model", "lit_mmrec.models.lightgcn.LightGCN",
        "--model.embedding_dim", "8",
        "--data", "lit_mmrec.data.datamodule.MMRecDataModule",
        "--data.data_dir", str(data),
        "--data.batch_size", "4",
        "--data.eval_chunk_size", "2",  # 1 process: [0 1] [2 3] [4 5] [6]; 2 ranks: [0 1] [2] | [3 4] [5 6]
        "--experiment", experiment,
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.callbacks+=lit_mmrec.callbacks.SGURInit",
        "--trainer.callbacks.init_args.n_clusters", "2",
        "--trainer.callbacks+=lit_mmrec.callbacks.UserGroupMetrics",
        "--trainer.callbacks.init_args.groups", "2",
        "--trainer.callbacks.init_args.per_user", "per_user.npz",
        "--trainer.callbacks+=probes.RecordEvaluation",
    ]


def load(folder: Path, name: str) -> list[dict]:
    return [torch.load(folder / f"{name}_rank{r}.pt") for r in range(2)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """A 2-process DDP fit of one epoch; returns its working folder."""
    root = tmp_path_factory.mktemp("ddp")
    data = make_data(root / "data")
    run_train(
        "fit", *common(data, "ddp"), "--trainer.callbacks.init_args.out_dir", "probe",
        "--trainer.max_epochs", "1",
        "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
        cwd=root,
    )
    return root


def test_ddp_validation_equals_one_process_on_the_same_weights(ddp_run: Path, tmp_path, monkeypatch) -> None:
    # the epoch's validation ran on 2 ranks with the weights last.ckpt then saved
    rows = list(csv.DictReader(open(next((ddp_run / "logs").rglob("metrics.csv")))))
    ddp = {k: float(v) for r in rows if r.get("val/recall@20") for k, v in r.items() if k.startswith("val/") and v}
    monkeypatch.chdir(tmp_path)
    single = main([
        "validate", *common(ddp_run / "data", "single"), "--trainer.callbacks.init_args.out_dir", "probe1",
        "--ckpt_path", str(ddp_run / "checkpoints" / "ddp" / "last.ckpt"),
    ])
    one = {k: float(v) for k, v in single.trainer.callback_metrics.items() if k.startswith("val/")}
    assert len(one) == 12 + 2 * 10 and one.keys() == ddp.keys()  # overall, and 2 activity groups (users + 9)
    for name, value in one.items():
        assert ddp[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name
    # the single process counted all 7 users; the two ranks together counted the same 7, once each
    alone = torch.load(tmp_path / "probe1" / "validate_rank0.pt")
    assert alone["counted"] == NUM_USERS
    assert sorted(alone["users"].tolist()) == list(range(NUM_USERS))


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_ddp_evaluates_every_user_exactly_once(ddp_run: Path, stage: str) -> None:
    ranks = load(ddp_run / "probe", stage)
    seen = torch.cat([r["users"] for r in ranks]).tolist()
    assert sorted(seen) == list(range(NUM_USERS))  # disjoint and complete: no padding, no repeats
    assert [len(r["users"]) for r in ranks] == [3, 4]
    assert sum(r["counted"] for r in ranks) == NUM_USERS  # the metric's summed user-count state


def test_ddp_per_user_file_holds_every_test_user_once_as_one_process(ddp_run: Path, tmp_path, monkeypatch) -> None:
    # written by rank 0 from both ranks' users after the fit's test of the best checkpoint
    ddp = np.load(ddp_run / "per_user.npz")
    assert ddp["users"].tolist() == list(range(NUM_USERS))
    monkeypatch.chdir(tmp_path)
    main([
        "test", *common(ddp_run / "data", "single_test"), "--trainer.callbacks.init_args.out_dir", "probe2",
        "--ckpt_path", str(ddp_run / "checkpoints" / "ddp" / "best-epoch=000.ckpt"),
    ])
    alone = np.load(tmp_path / "per_user.npz")
    assert sorted(alone.files) == sorted(ddp.files)
    for name in alone.files:
        np.testing.assert_allclose(ddp[name], alone[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_ddp_sgurinit_tables_identical_on_every_rank(ddp_run: Path) -> None:
    rank0, rank1 = load(ddp_run / "probe", "sgurinit")
    assert rank0["after"].keys() == {"user_embedding"}
    for name, table in rank0["after"].items():
        assert torch.equal(table, rank1["after"][name])
        assert not torch.allclose(table, rank0["before"][name])  # SG-URInit did write the table


def test_ddp_sgurinit_equals_one_process(ddp_run: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    main([
        "fit", *common(ddp_run / "data", "single_fit"), "--trainer.callbacks.init_args.out_dir", "probe0",
        "--trainer.max_epochs", "0", "--test_after_fit", "false",
    ])
    alone = torch.load(tmp_path / "probe0" / "sgurinit_rank0.pt")
    (rank0, _) = load(ddp_run / "probe", "sgurinit")
    for name, table in alone["after"].items():
        assert torch.allclose(table, rank0["after"][name], atol=1e-6)


def test_ddp_writes_from_rank_zero_only(ddp_run: Path) -> None:
    assert {r["checkpoint_io"] for r in load(ddp_run / "probe", "sgurinit")} == {"AtomicCheckpointIO"}
    folder = ddp_run / "checkpoints" / "ddp"
    assert sorted(p.name for p in folder.iterdir()) == ["best-epoch=000.ckpt", "last.ckpt"]  # no temp files left
    versions = [p for p in (ddp_run / "logs").rglob("version_*") if p.is_dir()]
    assert len(versions) == 1 and (versions[0] / "metrics.csv").is_file()


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_user_shards_partition_exactly_beyond_float32(world_size: int) -> None:
    users = torch.arange(2**24 + 1)  # float32 linspace bounds would drop the last user
    shards = [UserChunkLoader(users, 2**22, r, world_size).users for r in range(world_size)]
    assert torch.equal(torch.cat(shards), users)
    assert max(s.numel() for s in shards) - min(s.numel() for s in shards) <= 1
