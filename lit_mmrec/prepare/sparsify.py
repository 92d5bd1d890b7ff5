"""A sparse version of a data set: at most ``k`` training interactions per chosen user, validation and test unchanged.

Two protocols, both seeded and recorded in the output's ``prepare.json``:

- ``--users all``: every user keeps at most ``k`` of their training interactions (a sparse data set);
- ``--users new --fraction f``: a random fraction ``f`` of the users with training interactions ("new" users)
  keeps at most ``k``; everybody else keeps their full history (new users among established ones).

Which ``k`` are kept (``--order``): ``first``, the user's earliest (by timestamp, ties by item id: a user who has
just arrived), ``last``, their latest, or ``random``. Validation and test rows are copied as they are, so the
metrics of a sparse set and of its source are computed on the same ground truth; items that lose every training
interaction become cold items. The feature arrays, id mappings and item texts are copied unchanged. The output is
written into a hidden staging folder and renamed into place when complete, as every ``prepare`` command does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lit_mmrec.data.loader import find_inter_file, read_inter_file
from lit_mmrec.prepare.layout import REPORT, PrepareResult

ORDERS = ("first", "last", "random")
#: files copied unchanged besides the feature arrays (``*_feat.npy``): id mappings and item texts
COPIED = ("u_id_mapping.csv", "i_id_mapping.csv", "u_id_mapping.tsv", "i_id_mapping.tsv", "item_text.tsv")
USERS = ("all", "new")


def sparse_keep(users: np.ndarray, labels: np.ndarray, timestamps: np.ndarray | None, items: np.ndarray, k: int,
                order: str, chosen: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows kept: every validation / test row, and for each user in ``chosen`` (a boolean
    array by user id) at most ``k`` training rows picked by ``order``; other users' training rows all."""
    keep = np.ones(len(users), dtype=bool)
    train = np.flatnonzero((labels == 0) & chosen[users])
    if order == "random":
        # ``timestamps`` is then a seeded random key per row
        key = timestamps[train]
    else:
        key = timestamps[train] if timestamps is not None else np.zeros(len(train))
        key = key if order == "first" else -key
    ranked = train[np.lexsort((items[train], key, users[train]))]  # by user, then key, then item id
    starts = np.r_[0, np.flatnonzero(np.diff(users[ranked])) + 1]
    position = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    keep[ranked[position >= k]] = False
    return keep


def sparsify(source: str | Path, out: str | Path, k: int, users: str = "all", fraction: float = 1.0,
             order: str = "first", seed: int = 999, overwrite: bool = False) -> PrepareResult:
    """Write the sparse version of the MMRec-layout folder ``source`` to ``out`` (see the module docstring)."""
    source, out = Path(source), Path(out)
    if k < 1:
        raise ValueError(f"sparsify: --keep must be >= 1, got {k}")
    if users not in USERS or order not in ORDERS:
        raise ValueError(f"sparsify: --users must be one of {USERS} and --order one of {ORDERS}")
    if users == "new" and not 0 < fraction < 1:
        raise ValueError(f"sparsify: --fraction must lie strictly between 0 and 1 with --users new, got {fraction}")
    if out.resolve() == source.resolve():
        raise ValueError(f"sparsify: the output folder must differ from the source {source}")
    inter = find_inter_file(source)
    user_ids, item_ids, labels = read_inter_file(inter)
    lines = inter.read_text(encoding="utf-8").split("\n")
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    columns = [c.split(":")[0].strip() for c in header.rstrip("\r").split("\t")]
    rng = np.random.default_rng(seed)
    timestamps = None
    if order == "random":
        timestamps = rng.random(len(rows))
    elif "timestamp" in columns:
        column = columns.index("timestamp")
        timestamps = np.array([float(row.split("\t")[column]) for row in rows])
    else:
        raise ValueError(f"sparsify: {inter} has no timestamp column; use --order random")
    num_users = int(user_ids.max()) + 1
    active = np.unique(user_ids[labels == 0])
    chosen = np.zeros(num_users, dtype=bool)
    if users == "all":
        chosen[active] = True
    else:
        chosen[rng.choice(active, size=max(1, round(fraction * len(active))), replace=False)] = True
    keep = sparse_keep(user_ids, labels, timestamps, item_ids, k, order, chosen)

    if out.exists() and not overwrite:
        raise FileExistsError(f"sparsify: {out} exists; give --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        name = out.name
        kept_rows = [row for row, kept in zip(rows, keep, strict=True) if kept]
        (staging / f"{name}.inter").write_text("\n".join([header, *kept_rows]) + "\n", encoding="utf-8")
        for path in sorted(source.iterdir()):
            if path.is_file() and (path.name.endswith("_feat.npy") or path.name in COPIED):
                shutil.copy2(path, staging / path.name)
        train_before = np.bincount(user_ids[labels == 0], minlength=num_users)
        train_after = np.bincount(user_ids[(labels == 0) & keep], minlength=num_users)
        items_before = np.unique(item_ids[labels == 0]).size
        items_after = np.unique(item_ids[(labels == 0) & keep]).size
        info: dict[str, Any] = {
            "command": "sparsify",
            "source": str(source),
            "source_inter_sha256": hashlib.sha256(inter.read_bytes()).hexdigest(),
            "options": {"keep": k, "users": users, "fraction": fraction if users == "new" else 1.0,
                        "order": order, "seed": seed},
            "users_sparsified": int(chosen.sum()),
            "train_rows": {"before": int((labels == 0).sum()), "after": int(((labels == 0) & keep).sum())},
            "valid_rows": int((labels == 1).sum()),
            "test_rows": int((labels == 2).sum()),
            "mean_train_per_sparsified_user": {
                "before": float(train_before[chosen].mean()), "after": float(train_after[chosen].mean())},
            "items_in_train": {"before": int(items_before), "after": int(items_after)},
        }
        (staging / REPORT).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.chmod(staging, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PrepareResult(out, out.name, info)
