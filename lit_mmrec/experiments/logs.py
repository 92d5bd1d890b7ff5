"""Reading a run's CSVLogger output: ``<logs>/<run>/version_*/metrics.csv``, merged over resumed versions."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from lit_mmrec.callbacks.epoch_timer import ELAPSED

VAL_METRIC = "val/recall@20"
#: test metrics kept in ``runs.json`` (all four are the paper's columns).
TEST_METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def version_dirs(run_logs: Path) -> list[Path]:
    """``version_*`` folders of one run, in version order (a resumed run adds one per resumption)."""
    found = [p for p in run_logs.glob("version_*") if re.fullmatch(r"version_\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def read_rows(run_logs: Path) -> list[dict[str, str]]:
    """Every row of every version's ``metrics.csv``, empty cells dropped, oldest version first."""
    rows = []
    for version in version_dirs(run_logs):
        path = version / "metrics.csv"
        if path.is_file():
            with open(path, newline="") as handle:
                rows += [{k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]
    return rows


def validation_curve(rows: list[dict[str, str]]) -> list[dict[str, float]]:
    """Per epoch (ascending): ``epoch``, ``val`` (Recall@20) and ``elapsed`` (seconds, when logged).

    A resumed run logs the interrupted epoch again: the last row logged for an epoch wins.
    """
    by_epoch: dict[int, dict[str, float]] = {}
    for row in rows:
        if VAL_METRIC in row:
            point = {"epoch": int(row["epoch"]), "val": float(row[VAL_METRIC])}
            if ELAPSED in row:
                point["elapsed"] = float(row[ELAPSED])
            by_epoch[point["epoch"]] = point
    return [by_epoch[e] for e in sorted(by_epoch)]


def test_metrics(rows: list[dict[str, str]]) -> dict[str, float]:
    """The last logged ``test/*`` values (the best-validation checkpoint's, after fit)."""
    found: dict[str, float] = {}
    for row in rows:
        found.update({k[len("test/"):]: float(v) for k, v in row.items() if k.startswith("test/")})
    return found


def first_value(rows: list[dict[str, str]], key: str) -> float | None:
    """The first logged value of ``key`` (e.g. ``sgurinit/seconds``), or None."""
    return next((float(row[key]) for row in rows if key in row), None)


DIAGNOSTICS = "diag/"


def diagnostics(rows: list[dict[str, str]]) -> dict[str, Any] | None:
    """The ``diag/*`` columns of :class:`~lit_mmrec.callbacks.user_table_diagnostics.UserTableDiagnostics`:
    ``{"start": {name: value}, "by_epoch": {name: [value per epoch index]}}`` (names without the ``diag/``
    prefix; the last row logged for an epoch wins, as for the validation curve), or None when not logged."""
    start: dict[str, float] = {}
    by_epoch: dict[str, dict[int, float]] = {}
    for row in rows:
        for key, value in row.items():
            if not key.startswith(DIAGNOSTICS):
                continue
            name = key[len(DIAGNOSTICS):]
            if name.endswith("_start"):
                start.setdefault(name[: -len("_start")], float(value))
            elif "epoch" in row:
                by_epoch.setdefault(name, {})[int(row["epoch"])] = float(value)
    if not start and not by_epoch:
        return None
    return {"start": start, "by_epoch": {name: [v[e] for e in sorted(v)] for name, v in by_epoch.items()}}
