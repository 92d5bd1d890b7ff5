"""``prepare check`` statistics and the command line (``python -m lit_mmrec.prepare``)."""

import json
import os

import numpy as np
import pytest

from lit_mmrec.prepare.__main__ import main
from lit_mmrec.prepare.check import dataset_report, format_report


def write_folder(folder, rows, features=None):
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["userID\titemID\trating\ttimestamp\tx_label"] + ["\t".join(map(str, (u, i, 1, 0, x))) for u, i, x in rows]
    (folder / "toy.inter").write_text("\n".join(lines) + "\n")
    for modality, array in (features or {}).items():
        np.save(folder / f"{modality}_feat.npy", array)
    return folder


ROWS = [(0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 4, 2), (1, 1, 0), (1, 2, 0), (1, 3, 2), (2, 0, 0), (2, 3, 1)]


def test_report_statistics(tmp_path):
    image = np.ones((5, 3), dtype=np.float32)
    image[4] = 0
    folder = write_folder(tmp_path / "toy", ROWS, {"image": image})
    report = dataset_report(folder)
    assert (report["users"], report["items"], report["interactions"]) == (3, 5, 9)
    assert report["density"] == pytest.approx(9 / 15)
    assert report["splits"]["train"] == {"rows": 5, "users": 3, "items": 3}
    # items 0, 1, 2 are in train; valid has items 2 and 3 (3 is cold); test has 4 and 3 (both cold).
    assert report["splits"]["valid"] == {"rows": 2, "users": 2, "items": 2, "cold_items": 1, "cold_rows": 1}
    assert report["splits"]["test"] == {"rows": 2, "users": 2, "items": 2, "cold_items": 2, "cold_rows": 2}
    assert report["items_never_in_train"] == 2
    assert report["features"]["image"]["shape"] == [5, 3] and report["features"]["image"]["zero_rows"] == 1
    assert report["features"]["image"]["norm_max"] == pytest.approx(np.sqrt(3))
    text = format_report(report)
    assert "users 3  items 5  interactions 9" in text and "zero rows 1" in text


def test_report_notes_what_the_loader_dropped(tmp_path):
    folder = write_folder(tmp_path / "toy", ROWS + [(0, 0, 0), (3, 1, 2)])
    notes = dataset_report(folder)["notes"]
    assert any("duplicate" in note for note in notes)
    assert any("without training interactions" in note for note in notes)


def test_check_command_prints_statistics(tmp_path, capsys):
    folder = write_folder(tmp_path / "toy", ROWS)
    assert main(["check", str(folder)]) == 0
    assert "data set toy" in capsys.readouterr().out
    assert main(["check", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["interactions"] == 9


@pytest.mark.parametrize(
    "rows, features, message",
    [
        (ROWS[:3] + [(0, 3, 7)], None, "toy.inter, line 5: x_label must be 0 (train), 1 (valid) or 2 (test), got 7"),
        (ROWS, {"image": np.ones((3, 2), dtype=np.float32)}, "itemID 4 is beyond the feature arrays"),
        (ROWS, {"image": np.full((5, 2), np.nan, dtype=np.float32)}, "row 0 (item 0) holds NaN or Inf"),
    ],
)
def test_check_rejects_what_the_loader_rejects(tmp_path, capsys, rows, features, message):
    folder = write_folder(tmp_path / "toy", rows, features)
    assert main(["check", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_check_of_a_missing_folder(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_movielens_command_end_to_end(ml100k_raw, tmp_path, capsys):
    out = tmp_path / "ml"
    assert main(["movielens", str(ml100k_raw), "--out", str(out), "--no-text", "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (movielens ml-100k)" in printed and "data set ml" in printed
    assert main(["movielens", str(ml100k_raw), "--out", str(out), "--no-text"]) == 2  # exists already
    assert "pass --overwrite" in capsys.readouterr().err


def test_amazon_command_reports_a_bad_line(tmp_path, capsys):
    ratings = tmp_path / "ratings_Baby.csv"
    ratings.write_text("A1,B1,5.0,100\nA1;B2;5.0;100\n")
    assert main(["amazon", "--release", "2014", "--interactions", str(ratings), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {ratings}, line 2: expected 4 comma-separated fields (user,item,rating,timestamp), got 1: 'A1;B2;5.0;100'"


def test_tiktok_command_with_feature_options(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    np.save(raw / "v.npy", np.eye(4, dtype=np.float32))
    (raw / "pairs.csv").write_text("".join(f"{u},{i}\n" for u in range(3) for i in range(4)))
    args = ["tiktok", str(raw), "--interactions", str(raw / "pairs.csv"), "--feature", f"image={raw / 'v.npy'}"]
    assert main([*args, "--out", str(tmp_path / "t"), "--kcore", "0"]) == 0
    assert "image" in capsys.readouterr().out
    assert main([*args[:-1], "image", "--out", str(tmp_path / "t2")]) == 2
    assert "--feature expects MODALITY=PATH" in capsys.readouterr().err


def test_overwrite_replaces_the_data_set_through_a_staging_folder(tmp_path, make_random_ml100k):
    """--overwrite into an existing folder: the new files replace the old, the user's other files
    stay, no staging folder is left, and the folder's permissions are the usual ones."""
    raw = make_random_ml100k(tmp_path / "ml-100k")
    out = tmp_path / "out"
    argv = ["movielens", str(raw), "--out", str(out), "--no-text", "--kcore", "0"]
    assert main(argv) == 0
    first = (out / "out.inter").read_text()
    (out / "NOTES.txt").write_text("mine")
    assert main([*argv, "--seed", "7", "--overwrite"]) == 0
    assert (out / "out.inter").read_text() != first
    assert json.loads((out / "prepare.json").read_text())
    assert (out / "NOTES.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0o700
