"""Malformed raw releases through ``python -m lit_mmrec.prepare``: one line naming the file and the
line (or record), exit code 2, and no output folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hostile.support import Run
from prepare.conftest import random_ml100k


def movielens(tmp: Path, break_it: Callable[[Path], None]) -> list[str]:
    raw = random_ml100k(tmp / "ml-100k")
    break_it(raw)
    return ["movielens", str(raw), "--out", "out", "--no-text", "--kcore", "0"]


def append(name: str, text: str) -> Callable[[Path], None]:
    return lambda raw: (raw / name).open("a").write(text)


def tiktok(tmp: Path, break_it: Callable[[Path], None]) -> list[str]:
    raw = tmp / "tiktok"
    raw.mkdir()
    np.save(raw / "image_feat.npy", np.ones((6, 4), np.float32))
    splits = {"train.json": {"0": [0, 1], "1": [2, 3]}, "val.json": {"0": [4]}, "test.json": {"1": [5]}}
    for name, split in splits.items():
        (raw / name).write_text(json.dumps(split))
    break_it(raw)
    return ["tiktok", str(raw), "--out", "out"]


def amazon(tmp: Path, text: str) -> list[str]:
    path = tmp / "ratings_Baby.csv"
    path.write_text(text)
    return ["amazon", "--release", "2014", "--interactions", str(path), "--out", "out", "--no-text", "--kcore", "0"]


def image_file(tmp: Path, data: bytes) -> list[str]:
    ratings = tmp / "ratings_Baby.csv"
    ratings.write_text("A1,B000000001,5.0,1\nA1,B000000002,4.0,2\nA2,B000000001,3.0,3\n")
    (tmp / "image_features_Baby.b").write_bytes(data)
    return ["amazon", "--release", "2014", "--interactions", str(ratings), "--image-features",
            str(tmp / "image_features_Baby.b"), "--out", "out", "--no-text", "--kcore", "0"]  # fmt: skip


CASES = {
    "ml100k short rating line": (lambda t: movielens(t, append("u.data", "2\t1\t5\n")), ["u.data, line", "fields"]),
    "ml100k unknown movie": (lambda t: movielens(t, append("u.data", "1\t999\t5\t1\n")), ["u.data, line", "999"]),
    "ml100k textual user": (lambda t: movielens(t, append("u.data", "x\t1\t5\t1\n")), ["u.data, line"]),
    "tiktok broken JSON": (lambda t: tiktok(t, lambda r: (r / "val.json").write_text('{"0": [1,, 2]}')),
                           ["val.json, line 1", "JSON"]),
    "tiktok item beyond features": (lambda t: tiktok(t, lambda r: (r / "test.json").write_text('{"0": [40]}')),
                                    ["image_feat.npy", "40"]),
    "tiktok pickled features": (lambda t: tiktok(t, lambda r: np.save(r / "image_feat.npy", np.array([{}] * 6),
                                                                      allow_pickle=True)), ["image_feat.npy"]),
    "amazon short CSV row": (lambda t: amazon(t, "A1,B000000001,5.0,1\nA2,B000000001\n"), ["ratings_Baby.csv, line 2"]),
    "amazon textual rating": (lambda t: amazon(t, "A1,B000000001,five,1\n"), ["ratings_Baby.csv, line 1"]),
    "amazon truncated image record": (lambda t: image_file(t, b"B000000001" + b"\0" * 100),
                                      ["image_features_Baby.b", "record"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_release_is_one_line(run: Run, tmp_path: Path, case: str) -> None:
    build, names = CASES[case]
    argv = build(tmp_path)
    run.refused(run.prepare, *argv, names=tuple(names))
    assert not (run.folder / "out").exists()
    assert not [p for p in run.folder.iterdir() if p.name.startswith(".out.partial")]


def test_output_that_is_a_file(run: Run, tmp_path: Path) -> None:
    (run.folder / "out").write_text("not a folder")
    run.refused(run.prepare, *movielens(tmp_path, lambda raw: None), names=("out", "not a folder"))
