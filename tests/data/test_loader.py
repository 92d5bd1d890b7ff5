import logging

import numpy as np
import pytest
import torch
from helpers import ML100K, requires_ml100k, tiny_rows, write_inter

from lit_mmrec.data.loader import DataFormatError, discover_modalities, load_mmrec_dataset


def test_loads_tiny_dataset(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    assert data.name == "tiny"
    assert (data.num_users, data.num_items) == (6, 10)
    assert data.feature_dims == {"image": 8, "text": 4}
    assert len(data.valid) == len(data.test) == 6
    csr = data.train_csr()
    assert csr.layout == torch.sparse_csr and csr.shape == (6, 10)
    assert int(csr.values().sum()) == len(data.train)
    dense = csr.to_dense()
    assert torch.all(dense[data.train.users, data.train.items] == 1)


def test_modalities_listed_or_discovered(tiny_dataset):
    assert discover_modalities(tiny_dataset) == ["image", "text"]
    assert list(load_mmrec_dataset(tiny_dataset, modalities=["text"]).item_features) == ["text"]
    assert load_mmrec_dataset(tiny_dataset, modalities=[]).item_features == {}


def test_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist"):
        load_mmrec_dataset(tmp_path / "nope")


def test_missing_inter_file(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataFormatError, match=r"exactly one \*\.inter"):
        load_mmrec_dataset(tmp_path / "d")
    with pytest.raises(DataFormatError, match="missing interaction file"):
        load_mmrec_dataset(tmp_path / "d", name="baby")


def test_missing_feature_file(tiny_dataset):
    with pytest.raises(DataFormatError, match=r"missing feature file .*audio_feat\.npy"):
        load_mmrec_dataset(tiny_dataset, modalities=["audio"])


def test_missing_column(tmp_path):
    write_inter(tmp_path, [(0, 1, 1, 1)], header="userID\titemID\trating\ttimestamp")
    with pytest.raises(DataFormatError, match=r"line 1: missing column\(s\) \['x_label'\]"):
        load_mmrec_dataset(tmp_path)


def test_non_integer_id_names_the_line(tmp_path):
    rows = tiny_rows()
    rows[3] = (rows[3][0], "abc", 1, 1, 0)
    write_inter(tmp_path, rows)
    with pytest.raises(DataFormatError, match=r"tiny\.inter, line 5: column 'itemID' must hold .* got 'abc'"):
        load_mmrec_dataset(tmp_path)


def test_negative_id(tmp_path):
    rows = tiny_rows()
    rows[0] = (-1, 2, 1, 1, 0)
    write_inter(tmp_path, rows)
    with pytest.raises(DataFormatError, match="line 2: userID must be a non-negative integer, got -1"):
        load_mmrec_dataset(tmp_path)


def test_bad_x_label(tmp_path):
    rows = tiny_rows()
    rows[6] = (*rows[6][:4], 3)
    write_inter(tmp_path, rows)
    with pytest.raises(DataFormatError, match="line 8: x_label must be 0 .* got 3"):
        load_mmrec_dataset(tmp_path)


def test_wrong_field_count(tmp_path):
    write_inter(tmp_path, [(0, 1, 1, 1, 0), (0, 2, 1)])
    with pytest.raises(DataFormatError, match="line 3: expected 5 tab-separated fields"):
        load_mmrec_dataset(tmp_path)


def test_item_beyond_feature_rows(tiny_dataset):
    rows = tiny_rows()
    rows.append((2, 12, 1, 1, 0))
    write_inter(tiny_dataset, rows)
    with pytest.raises(DataFormatError, match=rf"line {len(rows) + 1}: itemID 12 is beyond the feature arrays, which have 10 rows"):
        load_mmrec_dataset(tiny_dataset)


def test_features_disagree_on_rows(tiny_dataset):
    np.save(tiny_dataset / "text_feat.npy", np.zeros((11, 4), dtype=np.float32))
    with pytest.raises(DataFormatError, match="disagree on the number of items"):
        load_mmrec_dataset(tiny_dataset)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features(tiny_dataset, bad):
    array = np.load(tiny_dataset / "image_feat.npy")
    array[4, 2] = bad
    np.save(tiny_dataset / "image_feat.npy", array)
    with pytest.raises(DataFormatError, match=r"image_feat\.npy: row 4 \(item 4\) holds NaN or Inf"):
        load_mmrec_dataset(tiny_dataset)


def test_pickled_features_are_refused(tiny_dataset):
    np.save(tiny_dataset / "image_feat.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"image_feat\.npy: holds Python objects"):
        load_mmrec_dataset(tiny_dataset)


def test_duplicates_warned_and_dropped(tmp_path):
    rows = tiny_rows()
    rows.append(rows[0])
    write_inter(tmp_path, rows)
    with pytest.warns(UserWarning, match="dropped 1 duplicate"):
        data = load_mmrec_dataset(tmp_path)
    assert len(data.train) + len(data.valid) + len(data.test) == len(rows) - 1


def test_users_without_training_rows_are_dropped(tmp_path, caplog):
    rows = tiny_rows()
    rows += [(6, 1, 1, 1, 1), (6, 2, 1, 1, 2)]  # user 6: only validation/test rows
    write_inter(tmp_path, rows)
    with caplog.at_level(logging.WARNING):
        data = load_mmrec_dataset(tmp_path)
    assert "dropped 2 validation/test rows of 1 users" in caplog.text
    assert 6 not in data.valid.users.tolist() and 6 not in data.test.users.tolist()
    assert data.num_users == 7  # MMRec: max(userID) + 1 over the whole file


@requires_ml100k
def test_real_ml100k():
    data = load_mmrec_dataset(ML100K)
    assert (data.num_users, data.num_items) == (943, 1682)
    assert (len(data.train), len(data.valid), len(data.test)) == (80367, 9596, 10037)
    assert data.feature_dims == {"text": 384}
