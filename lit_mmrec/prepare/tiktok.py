"""TikTok-style releases (per-modality feature arrays + interactions) -> MMRec layout with ``audio_feat.npy``.

The TikTok data set used by MMSSL, LATTICE, MICRO and their successors is distributed already
processed: ``image_feat.npy``, ``text_feat.npy`` and ``audio_feat.npy`` (row i = item i) plus the
interactions, either as the release's split (``train.json``, ``val.json``, ``test.json``: a JSON
object mapping each user id to a list of item ids) or as one interaction list. Both are accepted:

- a given split is kept as it is (no k-core, ids renumbered contiguously over the users and items
  that occur, in raw-id order), unless ``resplit`` merges the three files and applies the k-core
  and MMRec's per-user split;
- an interaction list (``user item [rating [timestamp]]`` per line, separated by tabs, commas or
  spaces, an optional header line) is k-core filtered and split by MMRec's rule.

Item ids must be row indices of the feature arrays; the output rows are those of the kept items.
Validation/test rows of users with no training row, and repeated (user, item) pairs, are dropped
and counted (the loader would drop them too).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from lit_mmrec.prepare.interactions import (
    IndexedInteractions,
    InteractionCollector,
    RawInteractions,
    SplitOrder,
    assign_ids,
    drop_duplicate_pairs,
    group_by_user,
    kcore_filter,
    mmrec_split,
)
from lit_mmrec.prepare.layout import PrepareResult, check_output_folder, write_layout
from lit_mmrec.prepare.readers import RawFormatError, iter_lines

log = logging.getLogger(__name__)

#: Feature file names looked for in the release folder, per modality.
FEATURE_FILES = {
    "image": ("image_feat.npy",),
    "text": ("text_feat.npy",),
    "audio": ("audio_feat.npy", "acoustic_feat.npy"),
}
#: Split files of a release, per x_label.
SPLIT_FILES = {0: ("train.json",), 1: ("val.json", "valid.json"), 2: ("test.json",)}
_SEPARATORS = re.compile(r"[\t, ]+")


def discover_features(folder: Path) -> dict[str, Path]:
    """Modality -> feature file found in ``folder`` (names of :data:`FEATURE_FILES`)."""
    found = {}
    for modality, names in FEATURE_FILES.items():
        for file_name in names:
            if (folder / file_name).is_file():
                found[modality] = folder / file_name
                break
    return found


def find_split_files(folder: Path) -> dict[int, Path] | None:
    """x_label -> split file when ``folder`` holds a train/val/test JSON split, else None."""
    found = {
        label: next((folder / n for n in names if (folder / n).is_file()), None)
        for label, names in SPLIT_FILES.items()
    }
    if found[0] is None:
        return None
    missing = [SPLIT_FILES[label][0] for label, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(f"{folder} has train.json but not {', '.join(missing)}")
    return found  # type: ignore[return-value]


def read_split_json(files: dict[int, Path]) -> tuple[RawInteractions, np.ndarray]:
    """Rows of the release's split files (``{"user": [item, ...], ...}``) and their x_label."""
    collector = InteractionCollector(", ".join(str(p) for p in files.values()))
    labels: list[int] = []
    for label, path in sorted(files.items()):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise RawFormatError(
                f"{path}, line {error.lineno}: not valid JSON ({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(content, dict):
            raise RawFormatError(f"{path}: expected a JSON object mapping user ids to lists of item ids")
        for user, items in content.items():
            if not isinstance(items, list) or not all(isinstance(i, int) and i >= 0 for i in items):
                raise RawFormatError(
                    f"{path}: user {user!r}: expected a list of non-negative integer item ids, got {items!r:.80}"
                )
            for item in items:
                collector.add(str(user), str(item))
            labels.extend([label] * len(items))
    return collector.build(), np.asarray(labels, dtype=np.int64)


def read_interaction_list(path: str | Path) -> RawInteractions:
    """Rows of ``user item [rating [timestamp]]`` lines (tabs, commas or spaces; optional header)."""
    collector = InteractionCollector(str(path))
    for number, line in iter_lines(path, description=f"interactions {Path(path).name}"):
        if not line.strip():
            continue
        fields = _SEPARATORS.split(line.strip())
        if number == 1 and len(fields) >= 2 and not fields[1].isdigit():
            continue  # header
        if not 2 <= len(fields) <= 4:
            raise RawFormatError(
                f"{path}, line {number}: expected 'user item [rating [timestamp]]', got {line[:80]!r}"
            )
        if not fields[1].isdigit():
            raise RawFormatError(
                f"{path}, line {number}: item id must be a non-negative integer (a feature row), got {fields[1]!r}"
            )
        try:
            rating = float(fields[2]) if len(fields) > 2 else 1.0
            timestamp = int(float(fields[3])) if len(fields) > 3 else 0
        except ValueError:
            raise RawFormatError(
                f"{path}, line {number}: rating and timestamp must be numbers: {line[:80]!r}"
            ) from None
        collector.add(fields[0], str(int(fields[1])), rating, timestamp, number)
    return collector.build()


def load_feature_rows(path: Path, rows: np.ndarray, where: str) -> np.ndarray:
    """Rows ``rows`` of the 2-d array in ``path`` as float32, checked (shape, type, finiteness)."""
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise RawFormatError(f"{path}: not a plain numeric .npy array ({error})") from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise RawFormatError(
            f"{path}: expected a 2-d numeric array [n_items, dim], got shape {array.shape} dtype {array.dtype}"
        )
    if rows.size and rows.max() >= array.shape[0]:
        raise RawFormatError(
            f"{path}: has {array.shape[0]} rows, but item id {int(rows.max())} occurs in {where}; item ids must be row indices"
        )
    selected = np.asarray(array[rows], dtype=np.float32)
    finite = np.isfinite(selected).all(axis=1)
    if not finite.all():
        raise RawFormatError(f"{path}: row {int(rows[np.flatnonzero(~finite)[0]])} holds NaN or Inf values")
    return selected


def _keep_given_split(raw: RawInteractions, labels: np.ndarray) -> tuple[IndexedInteractions, dict[str, int]]:
    keys = raw.users * max(len(raw.item_names), 1) + raw.items
    _, first = np.unique(keys, return_index=True)
    keep = np.zeros(keys.size, dtype=bool)
    keep[first] = True  # train rows come first, so a pair repeated across splits stays in train
    has_train = np.zeros(len(raw.user_names), dtype=bool)
    has_train[raw.users[keep & (labels == 0)]] = True
    orphan = keep & ~has_train[raw.users]
    counts = {
        "duplicates_dropped": int((~keep).sum()),
        "rows_of_users_without_train_dropped": int(orphan.sum()),
    }
    keep &= ~orphan
    data = assign_ids(raw.subset(keep), "sorted")
    data.labels = labels[keep]
    return group_by_user(data), counts


def prepare_tiktok(
    raw: str | Path,
    output: str | Path,
    interactions: str | Path | None = None,
    features: dict[str, str | Path] | None = None,
    name: str | None = None,
    kcore: int | None = None,
    resplit: bool = False,
    seed: int = 999,
    split_order: SplitOrder = "random",
    overwrite: bool = False,
) -> PrepareResult:
    """Convert a TikTok-style release (feature arrays + interactions) to an MMRec-layout folder.

    Args:
        raw: the release folder (split JSON files and feature arrays are looked for there).
        output: output folder.
        interactions: an interaction list file; None uses the folder's ``train/val/test.json``.
        features: modality -> ``.npy`` path; None discovers ``image_feat.npy``, ``text_feat.npy`` and
            ``audio_feat.npy`` (or ``acoustic_feat.npy``) in ``raw``.
        name: data set name; default: the output folder's name.
        kcore: k of the k-core; None means 5 when splitting, 0 when a given split is kept.
        resplit: merge a given split and redo k-core and MMRec's split.
        seed: seed of the per-user split.
        split_order: ``"random"`` (MMRec) or ``"time"``.
        overwrite: replace the files of an earlier run in ``output``.
    """
    raw, output = Path(raw), Path(output)
    name = name or output.name
    feature_paths = {m: Path(p) for m, p in (features or discover_features(raw)).items()}
    if not feature_paths:
        expected = ", ".join(n for names in FEATURE_FILES.values() for n in names)
        raise FileNotFoundError(f"no feature arrays given and none found in {raw} (looked for {expected})")
    for modality in feature_paths:
        if not re.fullmatch(r"[A-Za-z0-9_]+", modality):
            raise ValueError(f"modality names must be letters, digits or '_', got {modality!r}")
    check_output_folder(output, name, sorted(feature_paths), False, overwrite)

    split_files = None if interactions is not None else find_split_files(raw)
    info: dict[str, Any] = {
        "source": "tiktok-style",
        "features": {m: str(p) for m, p in feature_paths.items()},
    }
    if interactions is None and split_files is None:
        raise FileNotFoundError(
            f"{raw} holds no train.json/val.json/test.json; pass the interaction list file"
        )
    if split_files is not None and not resplit:
        if kcore not in (None, 0, 1):
            raise ValueError(
                "a k-core applies only when the split is recomputed: pass resplit (--resplit) too"
            )
        rows, labels = read_split_json(split_files)
        data, counts = _keep_given_split(rows, labels)
        where = ", ".join(p.name for p in split_files.values())
        info.update(
            inputs={"split_files": [str(p) for p in split_files.values()]}, split={"rule": "given"}, **counts
        )
    else:
        if split_files is not None:
            rows, _ = read_split_json(split_files)
            where = ", ".join(p.name for p in split_files.values())
        else:
            rows = read_interaction_list(interactions)
            where = str(interactions)
        kcore = 5 if kcore is None else kcore
        deduplicated, duplicates = drop_duplicate_pairs(rows)
        kept, rounds = kcore_filter(deduplicated, kcore)
        if not len(kept):
            raise RawFormatError(
                f"{where}: no interaction survives the {kcore}-core filter ({len(rows)} rows read)"
            )
        data = mmrec_split(assign_ids(kept, "sorted"), seed=seed, order=split_order)
        info.update(
            inputs={"interactions": where},
            duplicates_dropped=duplicates,
            kcore=kcore,
            kcore_rounds=rounds,
            split={"rule": "mmrec", "order": split_order, "seed": seed},
        )
    info.update(
        raw_rows=len(rows), users=data.num_users, items=data.num_items, interactions=int(data.users.size)
    )
    item_rows = np.array([int(item) for item in data.item_names], dtype=np.int64)
    matrices = {m: load_feature_rows(p, item_rows, where) for m, p in feature_paths.items()}
    info["feature_dims"] = {m: int(f.shape[1]) for m, f in matrices.items()}
    log.info(
        "%s: %d users, %d items, %d interactions, features %s",
        name,
        data.num_users,
        data.num_items,
        data.users.size,
        info["feature_dims"],
    )
    write_layout(output, name, data, matrices, None, item_column="item_id", info=info, overwrite=overwrite)
    return PrepareResult(output, name, info)
