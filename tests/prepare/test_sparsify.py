import json

import numpy as np
import pytest
from helpers import write_inter

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.prepare.__main__ import main
from lit_mmrec.prepare.sparsify import sparsify


def source(tmp_path, users=10, per_user=8):
    """Each user: ``per_user`` training rows with timestamps 100 + position (items in reverse order of time), one
    validation and one test row."""
    rows = []
    for user in range(users):
        for position in range(per_user):
            rows.append((user, (user + per_user - position) % 30, 5, 100 + position, 0))
        rows += [(user, 40 + user % 5, 5, 500, 1), (user, 45 + user % 5, 5, 600, 2)]
    folder = tmp_path / "source"
    write_inter(folder, rows, name="source")
    np.save(folder / "text_feat.npy", np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    return folder, rows


def read_rows(folder, name):
    lines = (folder / f"{name}.inter").read_text().splitlines()[1:]
    return [tuple(int(v) for v in line.split("\t")) for line in lines]


def test_every_user_keeps_the_earliest_k_and_validation_and_test_are_unchanged(tmp_path):
    folder, rows = source(tmp_path)
    sparsify(folder, tmp_path / "sparse", k=3)
    kept = read_rows(tmp_path / "sparse", "sparse")
    assert [r for r in kept if r[4] != 0] == [r for r in rows if r[4] != 0]
    for user in range(10):
        train = [r for r in kept if r[0] == user and r[4] == 0]
        assert sorted(r[3] for r in train) == [100, 101, 102]  # the earliest three
    info = json.loads((tmp_path / "sparse" / "prepare.json").read_text())
    assert info["options"]["keep"] == 3 and info["train_rows"] == {"before": 80, "after": 30}
    assert (tmp_path / "sparse" / "text_feat.npy").read_bytes() == (folder / "text_feat.npy").read_bytes()
    load_mmrec_dataset(tmp_path / "sparse")  # the loader accepts it


def test_last_and_random_orders(tmp_path):
    folder, _ = source(tmp_path)
    sparsify(folder, tmp_path / "last", k=2, order="last")
    assert {r[3] for r in read_rows(tmp_path / "last", "last") if r[4] == 0} == {106, 107}
    sparsify(folder, tmp_path / "r1", k=2, order="random", seed=1)
    sparsify(folder, tmp_path / "r2", k=2, order="random", seed=1)
    first = read_rows(tmp_path / "r1", "r1")
    assert first == read_rows(tmp_path / "r2", "r2")  # seeded
    assert sum(r[4] == 0 for r in first) == 20


def test_new_users_keep_k_and_the_others_their_full_history(tmp_path):
    folder, _ = source(tmp_path)
    result = sparsify(folder, tmp_path / "new", k=2, users="new", fraction=0.3, seed=5)
    kept = read_rows(tmp_path / "new", "new")
    counts = np.bincount([r[0] for r in kept if r[4] == 0], minlength=10)
    assert sorted(counts.tolist()) == [2, 2, 2] + [8] * 7
    assert result.info["users_sparsified"] == 3


def test_bad_options_and_an_existing_output_are_refused(tmp_path, capsys):
    folder, _ = source(tmp_path)
    with pytest.raises(ValueError, match="--keep"):
        sparsify(folder, tmp_path / "x", k=0)
    with pytest.raises(ValueError, match="--fraction"):
        sparsify(folder, tmp_path / "x", k=2, users="new", fraction=1.5)
    (tmp_path / "exists").mkdir()
    assert main(["sparsify", str(folder), "--keep", "2", "--out", str(tmp_path / "exists")]) == 2
    assert "exists" in capsys.readouterr().err
    assert not any(p.name.startswith(".exists.partial") for p in tmp_path.iterdir())
