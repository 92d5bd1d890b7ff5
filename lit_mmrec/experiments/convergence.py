"""Convergence of a run from its validation curve: epochs and seconds to the best Recall@20 and to 95% of it."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from lit_mmrec.experiments.aggregate import group, markdown_table, summarise_columns
from lit_mmrec.experiments.variants import RANDOM

#: The fraction of the best validation Recall@20 whose first reaching is reported.
FRACTION = 0.95


def convergence(curve: list[dict[str, float]], fraction: float = FRACTION) -> dict[str, Any]:
    """Summary of a validation curve (:func:`lit_mmrec.experiments.logs.validation_curve`).

    Epochs are counted as epochs trained: reaching a value at epoch index ``e`` takes ``e + 1`` epochs.
    The best is the first epoch with the highest validation Recall@20 (the one early stopping and the
    best checkpoint keep). Seconds come from the logged elapsed time (``None`` when it was not logged).

    Returns:
        ``epochs`` (trained), ``best_val_recall@20``, ``epochs_to_best``, ``epochs_to_95``,
        ``seconds_to_best``, ``seconds_to_95``, and ``curve`` (validation Recall@20 per epoch index).
    """
    if not curve:
        raise ValueError("empty validation curve: the run logged no val/recall@20")
    best = max(curve, key=lambda p: (p["val"], -p["epoch"]))
    reached = next(p for p in curve if p["val"] >= fraction * best["val"])
    return {
        "epochs": curve[-1]["epoch"] + 1,
        "best_val_recall@20": best["val"],
        "epochs_to_best": best["epoch"] + 1,
        "epochs_to_95": reached["epoch"] + 1,
        "seconds_to_best": best.get("elapsed"),
        "seconds_to_95": reached.get("elapsed"),
        "curve": [p["val"] for p in curve],
    }


COLUMNS = {
    "epochs_to_best": "epochs to best",
    "epochs_to_95": "epochs to 95%",
    "seconds_to_best": "s to best",
    "seconds_to_95": "s to 95%",
    "epochs": "epochs run",
}


#: The head start: where validation begins (after one epoch) and where it peaks.
HEAD_START_COLUMNS = {"first_val": "val R@20 after epoch 1", "best_val_recall@20": "best val R@20"}


def head_start(record: dict[str, Any], key: str) -> float | None:
    """Validation Recall@20 after the first epoch (``first_val``) or at its best; None when not logged."""
    if key == "first_val":
        return record["curve"][0] if record.get("curve") else None
    return record.get(key)


def mean_curve(curves: list[list[float]]) -> list[float]:
    """Mean per epoch index over the curves that reach it (early stopping ends seeds at different epochs)."""
    length = max((len(c) for c in curves), default=0)
    return [sum(c[e] for c in curves if len(c) > e) / sum(len(c) > e for c in curves) for e in range(length)]


#: SG-URInit's own cost per run (runs without SG-URInit have none and are left out).
COST_COLUMNS = {"sgurinit_s": "SG-URInit s", "sgurinit_share": "% of the run's wall time"}


def sgurinit_cost(record: dict[str, Any], key: str) -> float | None:
    """SG-URInit seconds of a run, or their share (%) of the run's wall time; None without SG-URInit."""
    seconds = record.get("sgurinit_s")
    if not seconds:
        return None
    if key == "sgurinit_s":
        return float(seconds)
    wall = record.get("wall_s")
    return 100.0 * seconds / wall if wall else None


def convergence_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``convergence.md``: mean ± std over seeds of the epochs / seconds to the best and to 95% of it,
    the validation Recall@20 after one epoch and at its best (the head start), then SG-URInit's seconds
    and share of each run's wall time."""
    summary = summarise_columns(records, COLUMNS, lambda r, key: r.get(key))
    cost = summarise_columns(records, COST_COLUMNS, sgurinit_cost)
    head = summarise_columns(records, HEAD_START_COLUMNS, head_start)
    head_section = (
        "\n## Head start\n\nValidation Recall@20 after the first training epoch and at its best epoch.\n\n"
        + markdown_table(head, HEAD_START_COLUMNS, digits=4)
        if head else ""
    )
    cost_section = (
        "\n## Cost of SG-URInit\n\nSeconds of the initialisation (K-Means, local and cluster terms, writing the "
        "tables) and their share of the run's wall time (the whole `train.py fit` process: fit and test).\n\n"
        + markdown_table(cost, COST_COLUMNS, digits=3, lower_is_better=True)
        if cost else ""
    )
    return (
        "# Convergence\n\n"
        f"Per run, from its validation Recall@20 per epoch: epochs trained until the best value (the "
        f"best-validation checkpoint) and until {FRACTION:.0%} of it was first reached; seconds are "
        "wall-clock since the fit started, SG-URInit included. Mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n"
        + markdown_table(summary, COLUMNS, digits=1, lower_is_better=True)
        + head_section
        + cost_section
    )


#: Epoch budgets of the anytime table.
BUDGETS = (5, 10, 25, 50, 100)


def best_within(record: dict[str, Any], budget: str) -> float | None:
    """The best validation Recall@20 within the first ``budget`` epochs (a column name ``"<=E"``): the model a
    user who can afford E epochs gets. A run stopped earlier contributes its best (it stopped there)."""
    curve = record.get("curve") or []
    return max(curve[: int(budget[2:])]) if curve else None


def anytime_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``anytime.md``: best validation Recall@20 within 5 / 10 / 25 / 50 / 100 epochs, mean ± std over seeds."""
    return _anytime_page(
        records, command, "# Anytime: best validation Recall@20 within a budget of epochs",
        "Per run, the highest validation Recall@20 reached within the first E epochs (a run stopped earlier "
        "counts with its best); mean ± sample std over seeds.",
    )


def _anytime_page(records: list[dict[str, Any]], command: str, heading: str, text: str) -> str:
    """``heading``, ``text``, the command and the table of :func:`best_within` at :data:`BUDGETS` over ``records``."""
    columns = {f"<={e}": f"≤ {e} epochs" for e in BUDGETS}
    summary = summarise_columns(records, columns, best_within)
    return (f"{heading}\n\n{text} Validation only: nothing here looks at test.\n\n"
            f"Produced by:\n\n```bash\n{command}\n```\n\n" + markdown_table(summary, columns, digits=4))


#: A per-group validation Recall@20 column of ``UserGroupMetrics`` (``val/users_<lo>-<hi>/recall@20``).
GROUP_COLUMN = re.compile(r"^val/(users_(\d+)-(\d+))/recall@20$")


def group_curves_of_rows(rows: list[dict[str, str]]) -> dict[str, list[float]]:
    """Validation Recall@20 per epoch of every user-activity group (``users_<lo>-<hi>``, lowest first) in a
    run's logged rows (:func:`lit_mmrec.experiments.logs.read_rows`); empty when the run logged no groups. A
    resumed run logs the interrupted epoch again: the last row logged for an epoch wins."""
    by_group: dict[str, dict[int, float]] = {}
    bounds: dict[str, tuple[int, int]] = {}
    for row in rows:
        for column, value in row.items():
            found = GROUP_COLUMN.match(column or "")
            if found and value not in ("", None):
                by_group.setdefault(found[1], {})[int(row["epoch"])] = float(value)
                bounds[found[1]] = (int(found[2]), int(found[3]))
    return {name: [by_group[name][e] for e in sorted(by_group[name])] for name in sorted(by_group, key=bounds.get)}


def group_curves(metrics: Path) -> dict[str, list[float]]:
    """:func:`group_curves_of_rows` of a run's merged ``metrics.csv`` (as the runner copies it into the run's
    folder)."""
    with open(metrics, newline="") as handle:
        return group_curves_of_rows(list(csv.DictReader(handle)))


def anytime_groups_markdown(records: list[dict[str, Any]], runs_dir: Path, command: str) -> str | None:
    """``anytime_groups.md``: :func:`anytime_markdown` per user-activity group, from the per-group validation
    curves a record keeps (``group_curves``, runs with ``UserGroupMetrics``) or else from its
    ``runs_dir/<run>/metrics.csv``; None when no run has them."""
    per_group = []
    for record in records:
        if record.get("status", "done") != "done":
            continue
        curves = record.get("group_curves")
        if curves is None:
            path = runs_dir / record["name"] / "metrics.csv"
            curves = group_curves(path) if path.is_file() else {}
        for name, curve in curves.items():
            per_group.append({"dataset": record["dataset"], "model": f"{record['model']} · {name}",
                              "variant": record["variant"], "seed": record["seed"], "curve": curve})
    if not per_group:
        return None
    return _anytime_page(
        per_group, command, "# Anytime by user activity: best validation Recall@20 of each group within a budget of epochs",
        "As `anytime.md`, over the validation users of one activity group (`users_<lo>-<hi>`: training "
        "interactions from lo to hi, the groups of `UserGroupMetrics`, lowest first): per run, the highest group "
        "Recall@20 within the first E epochs (a run stopped earlier counts with its best); mean ± sample std over "
        "seeds.",
    )


#: Epoch budgets of the anytime plot (log-spaced).
PLOT_BUDGETS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 1000)


def _curves(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    return {key: members for key, members in group(records).items() if all(r.get("curve") for r in members)}


def comparable_backbones(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """The backbones of ``dataset`` with runs (and curves) of random and of every other init found there."""
    return _comparable(_curves(records), dataset)


def _comparable(runs: dict[tuple[str, str, str], list[dict[str, Any]]], dataset: str) -> list[str]:
    variants = {RANDOM} | {key[2] for key in runs if key[0] == dataset}
    models = dict.fromkeys(key[1] for key in runs if key[0] == dataset)
    return [m for m in models if all((dataset, m, v) in runs for v in variants)]


def anytime_relative(records: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per data set and init, at each of :data:`PLOT_BUDGETS`: the best validation Recall@20 within that many
    epochs (mean over seeds), divided by random's final best on the same backbone (mean over seeds), then
    averaged over the backbones that have runs of random and of every other init of the data set (every line
    averages the same backbones). 1.0 is random's level at the end of its run."""
    runs = _curves(records)
    result: dict[str, dict[str, list[float]]] = {}
    for dataset in dict.fromkeys(key[0] for key in runs):
        complete = _comparable(runs, dataset)
        per_variant: dict[str, list[list[float]]] = {}
        for (d, model, variant), members in runs.items():
            reference = runs.get((dataset, model, RANDOM))
            if d != dataset or model not in complete:
                continue
            final = sum(max(r["curve"]) for r in reference) / len(reference)
            values = [sum(max(r["curve"][:budget]) for r in members) / len(members) / final for budget in PLOT_BUDGETS]
            per_variant.setdefault(variant, []).append(values)
        result[dataset] = {v: [sum(col) / len(col) for col in zip(*rows, strict=True)] for v, rows in per_variant.items()}
    return result
