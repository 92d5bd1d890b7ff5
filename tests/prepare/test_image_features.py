import gzip
import struct

import numpy as np
import pytest

from lit_mmrec.prepare.image_features import AMAZON_IMAGE_DIM, read_image_features
from lit_mmrec.prepare.readers import RawFormatError

RECORD = 10 + 4 * AMAZON_IMAGE_DIM


def vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=AMAZON_IMAGE_DIM).astype(np.float32)


def b_file_bytes(records: dict[str, np.ndarray] | list[tuple[str, np.ndarray]]) -> bytes:
    """Records as Amazon writes them: 10 ASCII bytes, then 4096 little-endian float32."""
    items = records.items() if isinstance(records, dict) else records
    return b"".join(asin.encode("ascii") + struct.pack(f"<{AMAZON_IMAGE_DIM}f", *vec.tolist()) for asin, vec in items)


@pytest.fixture
def vectors():
    return {asin: vector(k) for k, asin in enumerate(["B000000001", "B000000002", "0123456789", "B00000000X"])}


def test_reads_wanted_records_and_fills_the_mean(tmp_path, vectors):
    path = tmp_path / "image_features_Baby.b"
    path.write_bytes(b_file_bytes(vectors))
    wanted = {"0123456789": 0, "B000000001": 1, "B0MISSING0": 2}
    features = read_image_features(path, wanted, block_records=3)  # blocks end mid-file
    assert features.records == 4 and features.missing == 1 and features.duplicates == 0
    assert features.matrix.dtype == np.float32 and features.matrix.shape == (3, AMAZON_IMAGE_DIM)
    np.testing.assert_array_equal(features.matrix[0], vectors["0123456789"])
    np.testing.assert_array_equal(features.matrix[1], vectors["B000000001"])
    mean = (vectors["0123456789"].astype(np.float64) + vectors["B000000001"]) / 2
    np.testing.assert_allclose(features.matrix[2], mean, rtol=1e-6)
    assert features.found.tolist() == [True, True, False]


def test_gzip_and_duplicate_records(tmp_path, vectors):
    path = tmp_path / "image_features_Baby.b.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b_file_bytes([("B000000002", vectors["B000000002"]), ("B000000002", vectors["B000000001"])]))
    features = read_image_features(path, {"B000000002": 0})
    assert features.duplicates == 1
    np.testing.assert_array_equal(features.matrix[0], vectors["B000000002"])  # the first record wins


def test_truncated_record_names_record_and_offset(tmp_path, vectors):
    path = tmp_path / "image_features_Baby.b"
    path.write_bytes(b_file_bytes(vectors)[: 3 * RECORD + 10 + 400])
    with pytest.raises(RawFormatError) as error:
        read_image_features(path, {"B000000001": 0})
    message = str(error.value)
    assert str(path) in message
    assert f"record 3 (byte offset {3 * RECORD})" in message
    assert f"410 of {RECORD} bytes" in message


def test_bytes_that_are_not_an_asin(tmp_path, vectors):
    data = bytearray(b_file_bytes(vectors))
    data[RECORD : RECORD + 10] = b"\x00\x01garbage!"
    path = tmp_path / "image_features_Baby.b"
    path.write_bytes(bytes(data))
    with pytest.raises(RawFormatError, match=rf"record 1 \(byte offset {RECORD}\) does not start with a 10-character ASIN"):
        read_image_features(path, {"B000000001": 0})


def test_no_wanted_item_in_the_file(tmp_path, vectors):
    path = tmp_path / "image_features_Baby.b"
    path.write_bytes(b_file_bytes(vectors))
    with pytest.raises(RawFormatError, match="none of the 1 items has an image vector among its 4 records"):
        read_image_features(path, {"B0NOTTHERE": 0})


def test_non_finite_vector_of_a_kept_item(tmp_path):
    bad = vector(0)
    bad[5] = np.nan
    path = tmp_path / "image_features_Baby.b"
    path.write_bytes(b_file_bytes({"B000000001": vector(1), "B000000002": bad}))
    with pytest.raises(RawFormatError, match="record 1 .*ASIN B000000002.* NaN"):
        read_image_features(path, {"B000000002": 0})
