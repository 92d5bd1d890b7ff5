"""``prepare check``: load a data set folder with the strict loader and report its statistics.

Anything the loader rejects propagates as its :class:`~lit_mmrec.data.loader.DataFormatError`
(the command turns it into one ``error: ...`` line and exit code 2). What the loader accepts
but changes (duplicate rows, validation/test rows of users without training rows) is listed
under ``notes``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lit_mmrec.data.loader import SPLITS, load_mmrec_dataset


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _feature_stats(matrix: np.ndarray) -> dict[str, Any]:
    norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
    return {
        "shape": list(matrix.shape),
        "dtype": str(matrix.dtype),
        "norm_min": float(norms.min()) if norms.size else 0.0,
        "norm_mean": float(norms.mean()) if norms.size else 0.0,
        "norm_max": float(norms.max()) if norms.size else 0.0,
        "zero_rows": int((norms == 0).sum()),
    }


def dataset_report(folder: str | Path, name: str | None = None) -> dict[str, Any]:
    """Load ``folder`` (validating everything) and return its statistics as a JSON-ready dict.

    Keys: ``name``, ``folder``, ``users``, ``items``, ``interactions``, ``density``, ``splits``
    (rows, users, items, and for valid/test ``cold_items``: items with no training interaction,
    and ``cold_rows``: rows on them), ``items_never_in_train``, ``features`` (shape, dtype, row norm
    min/mean/max, zero rows per modality) and ``notes`` (what the loader dropped, with why).

    Raises:
        DataFormatError: the loader rejects the folder.
    """
    logger = logging.getLogger("lit_mmrec.data.loader")
    collect = _Collect()
    logger.addHandler(collect)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = load_mmrec_dataset(folder, name)
    finally:
        logger.removeHandler(collect)
    notes = [str(w.message) for w in caught] + collect.messages

    train_items = np.zeros(dataset.num_items, dtype=bool)
    train_items[dataset.train.items.numpy()] = True
    splits: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        part = dataset.split(split)
        items = part.items.numpy()
        entry = {
            "rows": len(part),
            "users": int(np.unique(part.users.numpy()).size),
            "items": int(np.unique(items).size),
        }
        if split != "train":
            cold = ~train_items[items]
            entry["cold_items"] = int(np.unique(items[cold]).size)
            entry["cold_rows"] = int(cold.sum())
        splits[split] = entry
    interactions = sum(s["rows"] for s in splits.values())
    return {
        "name": dataset.name,
        "folder": str(Path(folder)),
        "users": dataset.num_users,
        "items": dataset.num_items,
        "interactions": interactions,
        "density": interactions / (dataset.num_users * dataset.num_items),
        "splits": splits,
        "items_never_in_train": int((~train_items).sum()),
        "features": {m: _feature_stats(f.numpy()) for m, f in dataset.item_features.items()},
        "notes": notes,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report of :func:`dataset_report` as aligned text."""
    lines = [
        f"data set {report['name']}  ({report['folder']})",
        f"  users {report['users']:,}  items {report['items']:,}  interactions {report['interactions']:,}  "
        f"density {100 * report['density']:.4f}%",
        f"  {'split':<6} {'rows':>12} {'users':>10} {'items':>10} {'cold items':>11} {'cold rows':>10}",
    ]
    for split, entry in report["splits"].items():
        cold = f"{entry['cold_items']:>11,} {entry['cold_rows']:>10,}" if "cold_items" in entry else ""
        lines.append(
            f"  {split:<6} {entry['rows']:>12,} {entry['users']:>10,} {entry['items']:>10,} {cold}".rstrip()
        )
    lines.append(f"  items never in train (cold start): {report['items_never_in_train']:,}")
    if report["features"]:
        lines.append("  features:")
        for modality, stats in report["features"].items():
            lines.append(
                f"    {modality:<8} [{stats['shape'][0]:,} x {stats['shape'][1]:,}] {stats['dtype']}  row norm "
                f"min {stats['norm_min']:.4g} / mean {stats['norm_mean']:.4g} / max {stats['norm_max']:.4g}  "
                f"zero rows {stats['zero_rows']:,}"
            )
    else:
        lines.append("  features: none")
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
