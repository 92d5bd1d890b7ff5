"""Write a prepared data set as an MMRec-layout folder.

Files (``../shared/reference/PROTOCOL.md``; the mapping files as MMRec's preprocessing writes them):

- ``<name>.inter``: tab-separated ``userID itemID rating timestamp x_label``, rows grouped by user;
- ``<modality>_feat.npy``: float32 ``[n_items, d]``, row i = item i;
- ``u_id_mapping.csv`` / ``i_id_mapping.csv``: tab-separated raw id -> contiguous id, with a header
  (``user_id userID``; ``asin itemID`` for Amazon, ``item_id itemID`` otherwise);
- ``item_text.tsv``: ``itemID text``, the exact string each text vector was encoded from (when there is text);
- ``prepare.json``: how the folder was made (inputs, options, counts, models).

Every file is first written into a hidden staging folder beside the output
(``.<folder>.partial-<random>``), which becomes the output folder by one rename when the folder
is new; into an existing folder (``--overwrite``) the old ``.inter`` and ``prepare.json`` are
removed first and the new ``.inter`` moved in after every other file. A ``prepare`` killed at any
point leaves either no ``.inter`` (which the loader and ``check`` refuse) or a complete data set;
its staging folder is removed by the next ``prepare`` into the same output.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lit_mmrec.data.loader import FEATURE_SUFFIX
from lit_mmrec.prepare.interactions import IndexedInteractions

INTER_HEADER = "userID\titemID\trating\ttimestamp\tx_label"
USER_MAPPING = "u_id_mapping.csv"
ITEM_MAPPING = "i_id_mapping.csv"
ITEM_TEXT = "item_text.tsv"
REPORT = "prepare.json"
_ROWS_PER_WRITE = 100_000


@dataclass
class PrepareResult:
    """What a ``prepare`` pipeline wrote: the folder, the data set name and the provenance (``prepare.json``)."""

    folder: Path
    name: str
    info: dict[str, Any]


def planned_files(name: str, modalities: list[str], with_text: bool) -> list[str]:
    """Names of the files :func:`write_layout` writes."""
    files = [f"{name}.inter", USER_MAPPING, ITEM_MAPPING, REPORT] + [
        f"{m}{FEATURE_SUFFIX}" for m in modalities
    ]
    return files + ([ITEM_TEXT] if with_text else [])


def check_output_folder(
    folder: Path, name: str, modalities: list[str], with_text: bool, overwrite: bool
) -> None:
    """Refuse to write where the result would be ambiguous or would replace files unasked.

    Raises FileExistsError when the folder holds another ``.inter`` or ``*_feat.npy`` file (the
    loader would read them too) or, without ``overwrite``, any file this run writes.
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        raise FileExistsError(f"output {folder} exists and is not a folder")
    ours = set(planned_files(name, modalities, with_text))
    foreign = sorted(
        p.name
        for p in folder.iterdir()
        if (p.suffix == ".inter" or p.name.endswith(FEATURE_SUFFIX)) and p.name not in ours
    )
    if foreign:
        raise FileExistsError(
            f"output folder {folder} already holds {', '.join(foreign)}, which would be read as part of the "
            f"data set; use an empty folder"
        )
    existing = sorted(n for n in ours if (folder / n).exists())
    if existing and not overwrite:
        raise FileExistsError(
            f"output folder {folder} already holds {', '.join(existing)}; pass --overwrite to replace them"
        )


def _format_ratings(ratings: np.ndarray) -> list[str]:
    if np.all(ratings == np.round(ratings)):
        return [str(r) for r in ratings.astype(np.int64).tolist()]
    return [repr(r) for r in ratings.tolist()]


def write_inter(path: Path, data: IndexedInteractions) -> None:
    """Write ``<name>.inter`` (tab-separated, header ``userID itemID rating timestamp x_label``)."""
    if data.labels.size != data.users.size:
        raise ValueError("interactions must be split (x_label set) before they are written")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(INTER_HEADER + "\n")
        for start in range(0, data.users.size, _ROWS_PER_WRITE):
            window = slice(start, start + _ROWS_PER_WRITE)
            columns = (
                data.users[window].tolist(),
                data.items[window].tolist(),
                _format_ratings(data.ratings[window]),
                data.timestamps[window].tolist(),
                data.labels[window].tolist(),
            )
            handle.write(
                "".join(f"{u}\t{i}\t{r}\t{t}\t{x}\n" for u, i, r, t, x in zip(*columns, strict=True))
            )


def write_mapping(path: Path, raw_column: str, id_column: str, names: list[str]) -> None:
    """Write a raw id -> contiguous id table (tab-separated with a header, as MMRec's ``*_id_mapping.csv``)."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(f"{raw_column}\t{id_column}\n")
        handle.write("".join(f"{name}\t{index}\n" for index, name in enumerate(names)))


def write_layout(
    folder: str | Path,
    name: str,
    data: IndexedInteractions,
    features: dict[str, np.ndarray],
    item_texts: list[str] | None = None,
    item_column: str = "item_id",
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the data set to ``folder`` (created if needed); returns the ``.inter`` path.

    Args:
        folder: output folder.
        name: data set name, the ``.inter`` file's stem.
        data: split interactions with contiguous ids.
        features: modality -> ``[data.num_items, d]`` array (written as float32).
        item_texts: the string each text vector was encoded from, by item id (None: no ``item_text.tsv``).
        item_column: header of the raw item id column of ``i_id_mapping.csv``.
        info: provenance written to ``prepare.json``.
        overwrite: replace files of an earlier run.
    """
    folder = Path(folder)
    for modality, matrix in features.items():
        if matrix.ndim != 2 or matrix.shape[0] != data.num_items:
            raise ValueError(f"{modality} features have shape {matrix.shape}; expected [{data.num_items}, d]")
    check_output_folder(folder, name, sorted(features), item_texts is not None, overwrite)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{glob.escape(folder.name)}.partial-*"):  # left by a killed prepare
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        _write_files(staging, name, data, features, item_texts, item_column, info)
        _publish(staging, folder, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / f"{name}.inter"


def _write_files(
    folder: Path,
    name: str,
    data: IndexedInteractions,
    features: dict[str, np.ndarray],
    item_texts: list[str] | None,
    item_column: str,
    info: dict[str, Any] | None,
) -> None:
    write_inter(folder / f"{name}.inter", data)
    write_mapping(folder / USER_MAPPING, "user_id", "userID", data.user_names)
    write_mapping(folder / ITEM_MAPPING, item_column, "itemID", data.item_names)
    for modality, matrix in features.items():
        np.save(folder / f"{modality}{FEATURE_SUFFIX}", np.ascontiguousarray(matrix, dtype=np.float32))
    if item_texts is not None:
        with open(folder / ITEM_TEXT, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("itemID\ttext\n")
            handle.write("".join(f"{i}\t{text}\n" for i, text in enumerate(item_texts)))
    (folder / REPORT).write_text(json.dumps(info or {}, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _publish(staging: Path, folder: Path, name: str) -> None:
    """Move the complete files of ``staging`` to ``folder`` so that no state in between is a data set
    the loader accepts with files of two runs (see the module docstring)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's folder is private; the output folder is not
    if not folder.exists():
        os.rename(staging, folder)
        return
    inter = f"{name}.inter"
    for first in (REPORT, inter):
        (folder / first).unlink(missing_ok=True)
    files = sorted(p.name for p in staging.iterdir())
    for file in [f for f in files if f not in (inter, REPORT)] + [inter, REPORT]:
        os.replace(staging / file, folder / file)

