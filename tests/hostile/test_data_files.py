"""Malformed data files: ``train.py fit`` and ``prepare check`` refuse each with the same one line
(one validation path: :func:`lit_mmrec.data.loader.load_mmrec_dataset`), naming the file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hostile.support import Run, model_config


def set_field(line: int, column: int, value: str) -> Callable[[Path], None]:
    """Replace field ``column`` of line ``line`` (1 = header) of tiny.inter."""

    def mutate(folder: Path) -> None:
        path = folder / "tiny.inter"
        lines = path.read_text().splitlines()
        fields = lines[line - 1].split("\t")
        fields[column] = value
        lines[line - 1] = "\t".join(fields)
        path.write_text("\n".join(lines) + "\n")

    return mutate


def write_bytes(name: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        path = folder / name
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)

    return mutate


def save_array(name: str, array: np.ndarray) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        np.save(folder / name, array, allow_pickle=True)

    return mutate


def forge_shape(data: bytes) -> bytes:
    """A header asking for a [100000000, 4096] float32 array (1.5 TiB) in front of the same 80 floats."""
    header_end = data.index(b"\n") + 1
    header = data[10:header_end].decode("latin1").replace("(10, 8)", "(100000000, 4096)")
    header = header.rstrip("\n").ljust(header_end - 10 - 1) + "\n"
    return data[:10] + header.encode("latin1") + data[header_end:]


def non_utf8(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[6] = lines[6] + b"\xff"
    return b"\n".join(lines)


def np_savez(folder: Path) -> None:
    with open(folder / "image_feat.npy", "wb") as handle:
        np.savez(handle, features=np.ones((10, 8), np.float32))


def second_inter(folder: Path) -> None:
    (folder / "other.inter").write_text((folder / "tiny.inter").read_text())


def only_header(folder: Path) -> None:
    (folder / "tiny.inter").write_text("userID\titemID\trating\ttimestamp\tx_label\n")


def no_train_rows(folder: Path) -> None:
    path = folder / "tiny.inter"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [line[:-1] + "1" for line in lines[1:]]) + "\n")


def drop_features(folder: Path) -> None:
    for path in folder.glob("*_feat.npy"):
        path.unlink()


def huge_item_without_features(folder: Path) -> None:
    drop_features(folder)
    set_field(4, 1, "99999999")(folder)


def with_nan_row(folder: Path) -> None:
    array = np.load(folder / "text_feat.npy")
    array[7, 1] = np.nan
    np.save(folder / "text_feat.npy", array)


def replace_by_folder(name: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
        (folder / name / "x").write_text("")

    return mutate


def replace_by_device(name: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to("/dev/null")  # a character device, as a user's symlink would make it

    return mutate


CASES = {
    # .inter
    "textual x_label": (set_field(5, 4, "abc"), ["tiny.inter, line 5", "x_label"]),
    "textual item id": (set_field(3, 1, "item7"), ["tiny.inter, line 3", "itemID"]),
    "id beyond int64": (set_field(8, 0, "99999999999999999999"), ["tiny.inter, line 8", "userID"]),
    "negative user id": (set_field(6, 0, "-3"), ["tiny.inter, line 6", "non-negative"]),
    "x_label 3": (set_field(9, 4, "3"), ["tiny.inter, line 9", "x_label"]),
    "missing field": (set_field(4, 3, "1\t"), ["tiny.inter, line 4", "expected 5 tab-separated fields"]),
    "header without x_label": (set_field(1, 4, "label"), ["tiny.inter, line 1", "x_label"]),
    "non-UTF-8 byte": (write_bytes("tiny.inter", non_utf8), ["tiny.inter, line 7", "UTF-8"]),
    "header only": (only_header, ["tiny.inter", "no interaction rows"]),
    "no training rows": (no_train_rows, ["tiny.inter", "no training rows"]),
    "huge typo'd item id": (huge_item_without_features, ["tiny.inter, line 4", "99999999", "contiguous"]),
    "item beyond feature rows": (set_field(4, 1, "12"), ["tiny.inter, line 4", "beyond the feature arrays"]),
    "two .inter files": (second_inter, ["exactly one *.inter"]),
    # feature arrays
    "0-byte .npy": (write_bytes("image_feat.npy", b""), ["image_feat.npy", "not a .npy array file"]),
    "truncated header": (write_bytes("image_feat.npy", lambda d: d[:40]), ["image_feat.npy", "not a .npy"]),
    ".npz disguised as .npy": (np_savez, ["image_feat.npy", ".npz"]),
    "forged absurd shape": (write_bytes("image_feat.npy", forge_shape), ["image_feat.npy", "100000000, 4096"]),
    "truncated data": (write_bytes("image_feat.npy", lambda d: d[:-40]), ["image_feat.npy", "truncated"]),
    "pickled objects": (save_array("image_feat.npy", np.array([{"a": 1}] * 10, dtype=object)),
                        ["image_feat.npy", "Python objects"]),
    "complex features": (save_array("image_feat.npy", np.ones((10, 8), np.complex64)), ["image_feat.npy", "complex"]),
    "zero-width features": (save_array("image_feat.npy", np.ones((10, 0), np.float32)), ["image_feat.npy", "(10, 0)"]),
    "1-d features": (save_array("text_feat.npy", np.ones(10, np.float32)), ["text_feat.npy", "2-d"]),
    "text features": (save_array("text_feat.npy", np.array([["a"] * 4] * 10)), ["text_feat.npy", "<U1"]),
    "NaN feature": (with_nan_row, ["text_feat.npy", "row 7"]),
    "rows disagree": (save_array("text_feat.npy", np.ones((11, 4), np.float32)), ["disagree", "'text': 11"]),
    # not regular files
    "interaction file is a folder": (replace_by_folder("tiny.inter"), ["tiny.inter is a folder"]),
    "feature file is a folder": (replace_by_folder("image_feat.npy"), ["image_feat.npy", "is a folder"]),
    "feature file is a character device": (replace_by_device("text_feat.npy"),
                                           ["text_feat.npy", "not a regular file (a device"]),
}  # fmt: skip


@pytest.mark.parametrize("entry", ["train.py", "prepare check"])
@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_one_line_naming_the_file(run: Run, tiny: Path, case: str, entry: str) -> None:
    mutate, names = CASES[case]
    mutate(tiny)
    if entry == "train.py":
        config = run.config(model_config(tiny))
        run.refused(run.train, "fit", "--config", str(config), names=tuple(names))
    else:
        run.refused(run.prepare, "check", str(tiny), names=tuple(names))


def test_id_gap_is_a_warning_naming_the_file(tiny: Path) -> None:
    """A few ids never used (a filtered data set) train fine: a warning naming the file and the
    line of the largest id, not an error."""
    from lit_mmrec.data.loader import load_mmrec_dataset

    drop_features(tiny)
    set_field(4, 1, "15")(tiny)
    with pytest.warns(UserWarning, match=r"tiny\.inter: .* itemIDs 0\.\.15 never occur .* line 4"):
        data = load_mmrec_dataset(tiny)
    assert data.num_items == 16
