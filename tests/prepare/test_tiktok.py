"""TikTok-style releases: feature arrays + split JSON files, or + an interaction list."""

import json

import numpy as np
import pytest

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.prepare.interactions import split_sizes
from lit_mmrec.prepare.readers import RawFormatError
from lit_mmrec.prepare.tiktok import prepare_tiktok

NUM_ITEMS = 12
DIMS = {"image": 6, "text": 10, "audio": 4}


def write_features(folder, audio_name="audio_feat.npy"):
    rng = np.random.default_rng(0)
    arrays = {m: rng.normal(size=(NUM_ITEMS, d)).astype(np.float32) for m, d in DIMS.items()}
    for modality, array in arrays.items():
        np.save(folder / (audio_name if modality == "audio" else f"{modality}_feat.npy"), array)
    return arrays


@pytest.fixture
def release(tmp_path):
    folder = tmp_path / "tiktok"
    folder.mkdir()
    arrays = write_features(folder)
    # MMSSL's split files: user id -> item ids. Item 11 never occurs; user 4 has no training row;
    # user 0 has item 3 in train and in test.
    train = {"0": [1, 3, 5], "1": [0, 2, 4, 6], "2": [7, 8], "3": [9, 10, 2]}
    val = {"0": [7], "1": [], "2": [0], "3": [1], "4": [5]}
    test = {"0": [3, 4], "1": [8], "2": [9], "3": [], "4": [6]}
    for file_name, split in (("train.json", train), ("val.json", val), ("test.json", test)):
        (folder / file_name).write_text(json.dumps(split))
    return folder, arrays


def test_given_split_is_kept(release, tmp_path):
    folder, arrays = release
    out = tmp_path / "tiktok_out"
    result = prepare_tiktok(folder, out)
    assert result.info["duplicates_dropped"] == 1 and result.info["rows_of_users_without_train_dropped"] == 2
    data = load_mmrec_dataset(out)
    assert data.feature_dims == DIMS and sorted(p.name for p in out.glob("*_feat.npy")) == [
        "audio_feat.npy", "image_feat.npy", "text_feat.npy"
    ]  # fmt: skip
    assert (data.num_users, data.num_items) == (4, 11)  # item 11 never occurs, user 4 only in valid/test
    assert (len(data.train), len(data.valid), len(data.test)) == (12, 3, 3)
    # Raw ids 0..10 are contiguous already, so ids and feature rows are unchanged.
    for modality, array in arrays.items():
        np.testing.assert_array_equal(np.load(out / f"{modality}_feat.npy"), array[:11])
    pairs = set(zip(data.test.users.tolist(), data.test.items.tolist(), strict=True))
    assert (0, 3) not in pairs and (0, 4) in pairs


def test_interaction_list_is_filtered_split_and_features_follow_the_ids(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    arrays = write_features(folder, audio_name="acoustic_feat.npy")
    rng = np.random.default_rng(1)
    lines = ["user\titem\trating\ttimestamp"]
    for user in range(10):
        for k, item in enumerate(rng.choice([2, 4, 5, 7, 8, 9, 11], size=6, replace=False)):
            lines.append(f"u{user}\t{item}\t1\t{100 * user + k}")
    lines.append("u99\t3\t1\t5")  # one interaction: gone after the 5-core
    (folder / "interactions.tsv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    prepare_tiktok(folder, out, interactions=folder / "interactions.tsv", seed=5)
    data = load_mmrec_dataset(out)
    raw_items = [int(line.split("\t")[0]) for line in (out / "i_id_mapping.csv").read_text().splitlines()[1:]]
    assert raw_items == sorted(raw_items) and 3 not in raw_items and data.num_items == len(raw_items)
    for modality, array in arrays.items():
        np.testing.assert_array_equal(np.load(out / f"{modality}_feat.npy"), array[raw_items])
    labels = np.loadtxt(out / "out.inter", skiprows=1, dtype=np.int64)[:, 4]
    assert tuple(np.bincount(labels, minlength=3)) == tuple(10 * np.array(split_sizes(6)))


def test_resplit_redoes_kcore_and_split(release, tmp_path):
    folder, _ = release
    result = prepare_tiktok(folder, tmp_path / "out", resplit=True, kcore=2)
    assert result.info["split"]["rule"] == "mmrec" and result.info["kcore"] == 2
    with pytest.raises(ValueError, match="pass resplit"):
        prepare_tiktok(folder, tmp_path / "out2", kcore=5)


def test_item_beyond_the_feature_rows(release, tmp_path):
    folder, _ = release
    (folder / "test.json").write_text(json.dumps({"0": [40]}))
    with pytest.raises(RawFormatError, match=r"image_feat.npy: has 12 rows, but item id 40 occurs in train.json, val.json, test.json"):
        prepare_tiktok(folder, tmp_path / "out")


def test_malformed_split_file(release, tmp_path):
    folder, _ = release
    (folder / "val.json").write_text('{"0": [1, 2],\n "1": [3,, 4]}')
    with pytest.raises(RawFormatError, match=r"val.json, line 2: not valid JSON"):
        prepare_tiktok(folder, tmp_path / "out")
    (folder / "val.json").write_text('{"0": ["a"]}')
    with pytest.raises(RawFormatError, match=r"val.json: user '0': expected a list of non-negative integer item ids"):
        prepare_tiktok(folder, tmp_path / "out")


def test_explicit_feature_paths(release, tmp_path):
    folder, arrays = release
    result = prepare_tiktok(folder, tmp_path / "out", features={"audio": folder / "audio_feat.npy"})
    assert result.info["feature_dims"] == {"audio": 4}
    np.save(folder / "bad.npy", np.full((NUM_ITEMS, 3), np.nan, dtype=np.float32))
    with pytest.raises(RawFormatError, match=r"bad.npy: row \d+ holds NaN"):
        prepare_tiktok(folder, tmp_path / "out2", features={"audio": folder / "bad.npy"})
