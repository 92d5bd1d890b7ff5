"""Read a data set in the MMRec layout, validating every input.

A data set is one folder holding ``<name>.inter`` (tab-separated, header
``userID itemID rating timestamp x_label``; x_label 0 = train, 1 = validation,
2 = test) and any number of ``<modality>_feat.npy`` arrays (float, one row per
item). See ``../shared/reference/PROTOCOL.md``.

Everything a user can get wrong raises :class:`DataFormatError` naming the file,
the row (1-based line number of the file, header being line 1) and what was
expected.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.errors import InputError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
FEATURE_SUFFIX = "_feat.npy"
#: Ids may leave gaps (a warning), but an id space more than twice as large as the ids used, and
#: larger by over this many, is an error: it is a typo far more often than a data set (one stray
#: ``99999999`` would size every table to 10^8 rows).
MAX_ID_GAP = 10_000


class DataFormatError(InputError):
    """A data file does not follow the MMRec layout; the message says where and why."""


@dataclass
class Interactions:
    """(user, item) pairs of one split, as two aligned int64 tensors."""

    users: torch.Tensor
    items: torch.Tensor

    def __len__(self) -> int:
        return int(self.users.numel())

    def csr(self, num_users: int, num_items: int) -> torch.Tensor:
        """Binary ``num_users x num_items`` sparse CSR matrix (float32, values 1)."""
        return pairs_to_csr(self.users, self.items, num_users, num_items)


@dataclass
class MMRecDataset:
    """A loaded, validated data set.

    Attributes:
        name: data set name (the ``.inter`` file's stem).
        num_users: ``max(userID) + 1`` over the whole file (MMRec's convention).
        num_items: ``max(itemID) + 1`` over the file, or the feature arrays' row count if larger.
        train, valid, test: interactions of each split.
        item_features: modality name -> float32 tensor ``[num_items, d]``.
        folder: where it was read from.
    """

    name: str
    num_users: int
    num_items: int
    train: Interactions
    valid: Interactions
    test: Interactions
    item_features: dict[str, torch.Tensor] = field(default_factory=dict)
    folder: Path | None = None

    def split(self, name: str) -> Interactions:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    @property
    def feature_dims(self) -> dict[str, int]:
        return {m: int(f.shape[1]) for m, f in self.item_features.items()}

    def train_csr(self) -> torch.Tensor:
        return self.train.csr(self.num_users, self.num_items)


def _not_a_regular_file(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file (a folder, a device, a pipe), else None."""
    if not path.exists() or path.is_file():
        return None
    return "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"


def discover_modalities(folder: Path) -> list[str]:
    """Modalities present in ``folder``: every ``<modality>_feat.npy``, sorted by name."""
    return sorted(p.name[: -len(FEATURE_SUFFIX)] for p in folder.glob(f"*{FEATURE_SUFFIX}"))


def find_inter_file(folder: Path, name: str | None = None) -> Path:
    """The ``<name>.inter`` file of ``folder`` (the only one when ``name`` is None)."""
    if not folder.is_dir():
        raise DataFormatError(f"data folder {folder} does not exist or is not a directory")
    if name is not None:
        path = folder / f"{name}.inter"
        if (what := _not_a_regular_file(path)) is not None:
            raise DataFormatError(f"interaction file {path} is {what}, not a file of interactions")
        if not path.is_file():
            raise DataFormatError(f"missing interaction file {path} (expected <name>.inter in {folder})")
        return path
    candidates = sorted(folder.glob("*.inter"))
    if len(candidates) == 1 and (what := _not_a_regular_file(candidates[0])) is not None:
        raise DataFormatError(f"interaction file {candidates[0]} is {what}, not a file of interactions")
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise DataFormatError(
            f"expected exactly one *.inter file in {folder}, found {found}; set the data set name explicitly"
        )
    return candidates[0]


_INT_RE = re.compile(r"^-?\d+$")
_INT64_MAX = np.iinfo(np.int64).max


def _parse_int_column(raw: np.ndarray, column: str, path: Path, kind: str) -> np.ndarray:
    try:
        return raw.astype(np.int64)
    except (ValueError, OverflowError):
        bad = next(i for i, v in enumerate(raw) if not _INT_RE.match(v.strip()) or abs(int(v)) > _INT64_MAX)
        raise DataFormatError(
            f"{path}, line {bad + 2}: column {column!r} must hold {kind} integers (below 2^63), "
            f"got {str(raw[bad])[:40]!r}"
        ) from None


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; a byte that is not UTF-8 is an error naming its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataFormatError(
            f"{path}, line {line}: byte {data[error.start:error.start + 1]!r} is not UTF-8 text "
            f"(byte offset {error.start}); save the file as UTF-8"
        ) from None


def read_inter_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read userID, itemID, x_label from an MMRec ``.inter`` file, validating each row."""
    header, _, body = _read_text(path).partition("\n")
    header = header.rstrip("\r").split("\t")
    lines = [line.removesuffix("\r") for line in body.split("\n")]  # not splitlines(): \x0c, \x1c... are no line ends
    header = [h.split(":")[0].strip() for h in header]  # tolerate RecBole-style "userID:token"
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(
            f"{path}, line 1: missing column(s) {missing} in header {header}; "
            f"expected tab-separated columns including {list(REQUIRED_COLUMNS)}"
        )
    index = [header.index(c) for c in REQUIRED_COLUMNS]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataFormatError(f"{path}: no interaction rows after the header")
    n_cols = len(header)
    rows = [line.split("\t") for line in lines]
    for number, row in enumerate(rows):
        if len(row) != n_cols:
            raise DataFormatError(
                f"{path}, line {number + 2}: expected {n_cols} tab-separated fields "
                f"({header}), got {len(row)}: {lines[number]!r}"
            )
    table = np.asarray(rows, dtype=object)[:, index].astype(str)
    users = _parse_int_column(table[:, 0], "userID", path, "non-negative")
    items = _parse_int_column(table[:, 1], "itemID", path, "non-negative")
    labels = _parse_int_column(table[:, 2], "x_label", path, "0/1/2")
    for values, column in ((users, "userID"), (items, "itemID")):
        negative = np.flatnonzero(values < 0)
        if negative.size:
            raise DataFormatError(
                f"{path}, line {negative[0] + 2}: {column} must be a non-negative integer, got {values[negative[0]]}"
            )
    bad_label = np.flatnonzero((labels < 0) | (labels > 2))
    if bad_label.size:
        raise DataFormatError(
            f"{path}, line {bad_label[0] + 2}: x_label must be 0 (train), 1 (valid) or 2 (test), "
            f"got {labels[bad_label[0]]}"
        )
    return users, items, labels


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` file ``path``, checked against the file's size before anything
    is allocated (a forged or truncated header cannot ask for terabytes)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if handle.read(4) == b"PK\x03\x04":
            raise DataFormatError(f"{path}: a .npz (zip) archive, not a .npy array; save the array with numpy.save")
        handle.seek(0)
        try:
            version = np.lib.format.read_magic(handle)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read_header:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = read_header[version](handle)
        except Exception as error:
            first = (str(error).splitlines() or [type(error).__name__])[0]
            raise DataFormatError(f"{path}: not a .npy array file (empty, truncated or another format: {first})") from None
        data_bytes = size - handle.tell()
    if dtype.hasobject:
        raise DataFormatError(f"{path}: holds Python objects (a pickled array), not numbers; save a float array")
    expected = int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
    if data_bytes != expected:
        raise DataFormatError(
            f"{path}: its header declares shape {tuple(shape)} of {dtype} ({expected:,} bytes) but the file holds "
            f"{data_bytes:,} bytes of data (truncated or corrupt)"
        )
    return tuple(shape), dtype


def read_feature_array(path: Path) -> np.ndarray:
    """A ``<modality>_feat.npy`` file as a float32 ``[n_items, dim]`` array, or :class:`DataFormatError`
    naming the file (and the first row holding NaN or Inf)."""
    shape, dtype = _npy_header(path)
    real = np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
    if len(shape) != 2 or not real or 0 in shape:
        raise DataFormatError(
            f"{path}: expected a 2-d array of real numbers [n_items, dim] with both sizes positive, "
            f"got shape {shape} dtype {dtype}"
        )
    array = np.array(np.load(path, mmap_mode="r", allow_pickle=False), dtype=np.float32)  # a copy, file closed
    finite = np.isfinite(array)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise DataFormatError(f"{path}: row {row} (item {row}) holds NaN or Inf values; features must be finite")
    return array


def load_features(folder: Path, modalities: list[str]) -> dict[str, torch.Tensor]:
    """Load ``<modality>_feat.npy`` arrays (never unpickling), checking shape, type and finiteness."""
    features: dict[str, torch.Tensor] = {}
    for modality in modalities:
        path = folder / f"{modality}{FEATURE_SUFFIX}"
        if (what := _not_a_regular_file(path)) is not None:
            raise DataFormatError(f"feature file {path} for modality {modality!r} is {what}, not a .npy array")
        if not path.is_file():
            present = discover_modalities(folder)
            raise DataFormatError(f"missing feature file {path} for modality {modality!r} (present: {present})")
        features[modality] = torch.from_numpy(read_feature_array(path))
    rows = {m: int(f.shape[0]) for m, f in features.items()}
    if len(set(rows.values())) > 1:
        raise DataFormatError(f"feature arrays in {folder} disagree on the number of items (rows): {rows}")
    return features


def _id_count(ids: np.ndarray, column: str, path: Path) -> int:
    """``max(ids) + 1``, the table size MMRec derives from the ids; ids never used warn, and an id
    space mostly empty and larger than the ids used by over :data:`MAX_ID_GAP` is an error."""
    largest = int(ids.max())
    line = int(np.argmax(ids)) + 2
    used = np.unique(ids)
    unused = largest + 1 - used.size
    if unused > max(used.size, MAX_ID_GAP):
        raise DataFormatError(
            f"{path}, line {line}: {column} {largest} would size the {column} table to {largest + 1:,} rows for "
            f"{used.size:,} ids in use; ids must be contiguous from 0 (a typo?)"
        )
    if unused:
        missing = int(np.flatnonzero(np.isin(np.arange(largest + 1), used, invert=True))[0])
        warnings.warn(
            f"{path}: {unused:,} of the {column}s 0..{largest} never occur (the first is {missing}); "
            f"ids are expected to be contiguous from 0 (the largest, {largest}, is on line {line})",
            stacklevel=3,
        )
    return largest + 1


def _drop_duplicates(users: np.ndarray, items: np.ndarray, labels: np.ndarray, path: Path, num_items: int):
    keys = users * num_items + items
    _, first = np.unique(keys, return_index=True)
    if first.size == keys.size:
        return users, items, labels
    keep = np.sort(first)
    dup_mask = np.ones(keys.size, dtype=bool)
    dup_mask[keep] = False
    example = int(np.flatnonzero(dup_mask)[0])
    warnings.warn(
        f"{path}: dropped {keys.size - keep.size} duplicate (userID, itemID) rows, keeping the first of each "
        f"(first duplicate at line {example + 2}: user {users[example]}, item {items[example]})",
        stacklevel=3,
    )
    return users[keep], items[keep], labels[keep]


def load_mmrec_dataset(
    folder: str | Path, name: str | None = None, modalities: list[str] | None = None
) -> MMRecDataset:
    """Load and validate a data set in the MMRec layout.

    Args:
        folder: the data set folder.
        name: the ``.inter`` file's stem; if None, the folder must hold exactly one ``.inter`` file.
        modalities: modality names to load (``["image", "text"]`` reads ``image_feat.npy`` and
            ``text_feat.npy``); None loads every ``*_feat.npy`` in the folder, ``[]`` none.
    """
    folder = Path(folder)
    path = find_inter_file(folder, name)
    if modalities is None:
        modalities = discover_modalities(folder)
    features = load_features(folder, list(modalities))
    users, items, labels = read_inter_file(path)

    num_users = _id_count(users, "userID", path)
    num_items = _id_count(items, "itemID", path) if not features else int(items.max()) + 1
    if features:
        feature_rows = next(iter(features.values())).shape[0]
        beyond = np.flatnonzero(items >= feature_rows)
        if beyond.size:
            raise DataFormatError(
                f"{path}, line {beyond[0] + 2}: itemID {items[beyond[0]]} is beyond the feature arrays, "
                f"which have {feature_rows} rows (items 0..{feature_rows - 1})"
            )
        num_items = max(num_items, feature_rows)

    users, items, labels = _drop_duplicates(users, items, labels, path, num_items)

    train_users = np.zeros(num_users, dtype=bool)
    train_users[users[labels == 0]] = True
    orphan = (~train_users[users]) & (labels > 0)
    if orphan.any():
        log.warning(
            "%s: dropped %d validation/test rows of %d users without training interactions (as MMRec does)",
            path,
            int(orphan.sum()),
            np.unique(users[orphan]).size,
        )
        users, items, labels = users[~orphan], items[~orphan], labels[~orphan]
    if not (labels == 0).any():
        raise DataFormatError(f"{path}: no training rows (x_label 0)")

    def split(label: int) -> Interactions:
        mask = labels == label
        return Interactions(torch.from_numpy(users[mask].copy()), torch.from_numpy(items[mask].copy()))

    dataset = MMRecDataset(
        name=path.stem,
        num_users=num_users,
        num_items=num_items,
        train=split(0),
        valid=split(1),
        test=split(2),
        item_features=features,
        folder=folder,
    )
    log.info(
        "loaded %s: %d users, %d items, %d/%d/%d train/valid/test interactions, modalities %s",
        dataset.name,
        num_users,
        num_items,
        len(dataset.train),
        len(dataset.valid),
        len(dataset.test),
        dataset.feature_dims,
    )
    return dataset
