"""``train.py predict`` + TopKWriter on a case small enough to check by hand.

LightGCN with ``num_layers=0`` scores ``<user_embedding[u], item_embedding[i]>``. With item
``i`` embedded as ``[i, i % 2]`` and users as below, the full rankings are:

- user 0 = [1, 0]:    scores i                -> 5 4 3 2 1 0
- user 1 = [-1, 0]:   scores -i               -> 0 1 2 3 4 5
- user 2 = [0.5, -1]: scores 0.5 i - (i % 2)  -> 4 5 2 3 0 1   (2, 1.5, 1, 0.5, 0, -0.5)

Interactions (train | valid | test): user 0: 5 3 | 1 | 0; user 1: 0 | 2 | 4; user 2: 4 2 | 5 | 3.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import write_inter

from lit_mmrec.callbacks import TopKWriter
from lit_mmrec.callbacks.prediction_writer import read_id_mapping
from lit_mmrec.cli import main
from lit_mmrec.data.sampling import UserChunkLoader

ROWS = [
    (0, 5, 1, 1, 0), (0, 3, 1, 2, 0), (0, 1, 1, 3, 1), (0, 0, 1, 4, 2),
    (1, 0, 1, 1, 0), (1, 2, 1, 2, 1), (1, 4, 1, 3, 2),
    (2, 4, 1, 1, 0), (2, 2, 1, 2, 0), (2, 5, 1, 3, 1), (2, 3, 1, 4, 2),
]
TRAIN = {0: {5, 3}, 1: {0}, 2: {4, 2}}
USERS = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.5, -1.0]])
ITEMS = torch.tensor([[float(i), float(i % 2)] for i in range(6)])
ASINS = ["B-zero", "B-one", "B-two", "B-three", "B-four", "B-five"]
READERS = ["anna", "bob", "carl"]


def model_args(data: Path) -> list[str]:
    return [
        "--model", "lit_mmrec.models.lightgcn.LightGCN",
        "--model.embedding_dim", "2",
        "--model.num_layers", "0",
        "--data", "lit_mmrec.data.datamodule.MMRecDataModule",
        "--data.data_dir", str(data),
        "--data.eval_chunk_size", "2",  # 3 users: two chunks
        "--experiment", "hand",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
    ]


@pytest.fixture(scope="module")
def handmade(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, checkpoint holding exactly USERS and ITEMS)."""
    root = tmp_path_factory.mktemp("predict")
    data = root / "data"
    write_inter(data, ROWS)
    np.save(data / "image_feat.npy", np.eye(6, 3, dtype=np.float32))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        main(["fit", *model_args(data), "--trainer.max_epochs", "1", "--test_after_fit", "false"])
    checkpoint = torch.load(root / "checkpoints" / "hand" / "last.ckpt", weights_only=False)
    checkpoint["state_dict"]["user_embedding"] = USERS.clone()
    checkpoint["state_dict"]["item_embedding"] = ITEMS.clone()
    torch.save(checkpoint, root / "handmade.ckpt")
    return data, root / "handmade.ckpt"


def predict(handmade, folder: Path, *options: str) -> None:
    data, ckpt = handmade
    main(["predict", *model_args(data), "--ckpt_path", str(ckpt), "--predictions.output_dir", str(folder), *options])


def read_csv(path: Path) -> dict[str, list[str]]:
    ranked: dict[str, list[str]] = {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        ranked.setdefault(row["user"], []).append(row["item"])
        assert int(row["rank"]) == len(ranked[row["user"]])
    return ranked


def test_top3_is_the_hand_computed_one(handmade, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    predict(handmade, tmp_path / "out", "--predictions.k", "3", "--predictions.formats", "[csv, jsonl]")
    expected = {"0": ["4", "2", "1"], "1": ["1", "2", "3"], "2": ["5", "3", "0"]}
    assert read_csv(tmp_path / "out" / "top3.csv") == expected
    lines = [json.loads(line) for line in (tmp_path / "out" / "top3.jsonl").read_text().splitlines()]
    assert [line["user"] for line in lines] == [0, 1, 2]
    assert {str(line["user"]): [str(i) for i in line["items"]] for line in lines} == expected
    assert lines[2]["scores"] == [1.5, 0.5, 0.0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["top3.csv", "top3.jsonl", "top3.provenance.json"]


def test_never_a_training_item_even_when_k_exceeds_what_is_left(handmade, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    predict(handmade, tmp_path / "out", "--predictions.k", "6")
    ranked = read_csv(tmp_path / "out" / "top6.csv")
    assert ranked == {"0": ["4", "2", "1", "0"], "1": ["1", "2", "3", "4", "5"], "2": ["5", "3", "0", "1"]}
    for user, items in ranked.items():
        assert not TRAIN[int(user)] & {int(i) for i in items}


def test_exclude_every_known_interaction(handmade, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    predict(handmade, tmp_path / "out", "--predictions.k", "6", "--predictions.exclude", "[train, valid, test]")
    assert read_csv(tmp_path / "out" / "top6.csv") == {"0": ["4", "2"], "1": ["1", "3", "5"], "2": ["0", "1"]}


def test_original_ids_from_mmrec_mapping_files(handmade, tmp_path, monkeypatch):
    data, ckpt = handmade
    mapped = tmp_path / "mapped"
    mapped.mkdir()
    for name in ("tiny.inter", "image_feat.npy"):
        (mapped / name).write_bytes((data / name).read_bytes())
    (mapped / "i_id_mapping.csv").write_text("asin\titemID\n" + "".join(f"{a}\t{i}\n" for i, a in enumerate(ASINS)))
    (mapped / "u_id_mapping.tsv").write_text("user_id\tuserID\n" + "".join(f"{r}\t{u}\n" for u, r in enumerate(READERS)))
    monkeypatch.chdir(tmp_path)
    predict((mapped, ckpt), tmp_path / "out", "--predictions.k", "2")
    assert read_csv(tmp_path / "out" / "top2.csv") == {
        "anna": ["B-four", "B-two"], "bob": ["B-one", "B-two"], "carl": ["B-five", "B-three"]
    }


def test_default_output_folder_and_message(handmade, tmp_path, monkeypatch, capsys):
    data, ckpt = handmade
    monkeypatch.chdir(tmp_path)
    main(["predict", *model_args(data), "--ckpt_path", str(ckpt)])
    assert read_csv(tmp_path / "predictions" / "hand" / "top20.csv")["1"] == ["1", "2", "3", "4", "5"]
    assert "Top-20 recommendations written to predictions/hand/top20.csv" in capsys.readouterr().out


def test_ranks_write_parts_and_rank_zero_merges_them(handmade, tmp_path):
    """Two DDP ranks, simulated in turn: each writes its shard, rank 0 concatenates them in rank order."""
    data, ckpt = handmade
    from lit_mmrec.data.datamodule import MMRecDataModule
    from lit_mmrec.models.lightgcn import LightGCN

    datamodule = MMRecDataModule(str(data))
    model = LightGCN(num_users=3, num_items=6, embedding_dim=2, num_layers=0)
    model.attach(datamodule.dataset)
    model.load_state_dict(torch.load(ckpt, weights_only=False)["state_dict"])
    model.eval()
    users = torch.arange(3)
    for rank in (1, 0):  # rank 0 last: it merges once every part exists (the barrier, in a real run)
        trainer = SimpleNamespace(
            global_rank=rank, world_size=2, is_global_zero=rank == 0, datamodule=datamodule,
            strategy=SimpleNamespace(barrier=lambda name=None: None),
        )
        writer = TopKWriter(k=2, output_dir=str(tmp_path / "out"), formats=["csv", "jsonl"])
        writer.on_predict_start(trainer, model)
        with torch.no_grad():
            for index, chunk in enumerate(UserChunkLoader(users, 1, rank, 2)):
                writer.write_on_batch_end(trainer, model, model.predict_step(chunk, index), None, chunk, index, 0)
        writer.on_predict_end(trainer, model)
        if rank == 1:
            assert (tmp_path / "out" / "top2.rank00001.csv").is_file()
    assert read_csv(tmp_path / "out" / "top2.csv") == {"0": ["4", "2"], "1": ["1", "2"], "2": ["5", "3"]}
    assert len((tmp_path / "out" / "top2.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["top2.csv", "top2.jsonl"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("asin\titemID\nB-a\t0\nB-b\t0\n", "itemID 0 is mapped twice"),
        ("asin\titemID\nB-a\t0\n", "no original id for 1 item(s), e.g. itemID 1"),
        ("asin\titemID\nB-a\t0\nB-b\t7\n", "itemID 7 is outside"),
        ("asin\tid\nB-a\t0\n", "line 1: expected a tab-separated header with column 'itemID'"),
    ],
)
def test_bad_mapping_file_is_named(tmp_path, content, message):
    (tmp_path / "i_id_mapping.csv").write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        read_id_mapping(tmp_path, "item", 2)
    assert str(tmp_path / "i_id_mapping.csv") in str(info.value)


def test_writer_rejects_bad_options():
    with pytest.raises(ValueError, match="formats"):
        TopKWriter(formats=["parquet"])
    with pytest.raises(ValueError, match="exclude"):
        TopKWriter(exclude=["training"])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        TopKWriter(k=0)
