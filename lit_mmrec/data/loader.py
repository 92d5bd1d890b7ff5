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

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
FEATURE_SUFFIX = "_feat.npy"


class DataFormatError(ValueError):
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


def discover_modalities(folder: Path) -> list[str]:
    """Modalities present in ``folder``: every ``<modality>_feat.npy``, sorted by name."""
    return sorted(p.name[: -len(FEATURE_SUFFIX)] for p in folder.glob(f"*{FEATURE_SUFFIX}"))


def find_inter_file(folder: Path, name: str | None = None) -> Path:
    """The ``<name>.inter`` file of ``folder`` (the only one when ``name`` is None)."""
    if not folder.is_dir():
        raise DataFormatError(f"data folder {folder} does not exist or is not a directory")
    if name is not None:
        path = folder / f"{name}.inter"
        if not path.is_file():
            raise DataFormatError(f"missing interaction file {path} (expected <name>.inter in {folder})")
        return path
    candidates = sorted(folder.glob("*.inter"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise DataFormatError(
            f"expected exactly one *.inter file in {folder}, found {found}; set the data set name explicitly"
        )
    return candidates[0]


_INT_RE = re.compile(r"^-?\d+$")


def _parse_int_column(raw: np.ndarray, column: str, path: Path, kind: str) -> np.ndarray:
    try:
        return raw.astype(np.int64)
    except ValueError:
        bad = next(i for i, v in enumerate(raw) if not _INT_RE.match(v.strip()))
        raise DataFormatError(
            f"{path}, line {bad + 2}: column {column!r} must hold {kind} integers, got {str(raw[bad])!r}"
        ) from None


def read_inter_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read userID, itemID, x_label from an MMRec ``.inter`` file, validating each row."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n\r").split("\t")
        lines = handle.read().splitlines()
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


def load_features(folder: Path, modalities: list[str]) -> dict[str, torch.Tensor]:
    """Load ``<modality>_feat.npy`` arrays (``allow_pickle=False``), checking shape and finiteness."""
    features: dict[str, torch.Tensor] = {}
    for modality in modalities:
        path = folder / f"{modality}{FEATURE_SUFFIX}"
        if not path.is_file():
            present = discover_modalities(folder)
            raise DataFormatError(f"missing feature file {path} for modality {modality!r} (present: {present})")
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise DataFormatError(f"{path}: not a plain numeric .npy array ({error})") from None
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            raise DataFormatError(
                f"{path}: expected a 2-d numeric array [n_items, dim], got shape {array.shape} dtype {array.dtype}"
            )
        array = array.astype(np.float32, copy=False)
        finite = np.isfinite(array)
        if not finite.all():
            row = int(np.flatnonzero(~finite.all(axis=1))[0])
            raise DataFormatError(f"{path}: row {row} (item {row}) holds NaN or Inf values; features must be finite")
        features[modality] = torch.from_numpy(np.ascontiguousarray(array))
    rows = {m: int(f.shape[0]) for m, f in features.items()}
    if len(set(rows.values())) > 1:
        raise DataFormatError(f"feature arrays in {folder} disagree on the number of items (rows): {rows}")
    return features


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

    num_users = int(users.max()) + 1
    num_items = int(items.max()) + 1
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
