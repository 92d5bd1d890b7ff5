"""Convergence of a run from its validation curve: epochs and seconds to the best Recall@20 and to 95% of it."""

from __future__ import annotations

from typing import Any

from lit_mmrec.experiments.aggregate import markdown_table, summarise

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


def mean_curve(curves: list[list[float]]) -> list[float]:
    """Mean per epoch index over the curves that reach it (early stopping ends seeds at different epochs)."""
    length = max((len(c) for c in curves), default=0)
    return [sum(c[e] for c in curves if len(c) > e) / sum(len(c) > e for c in curves) for e in range(length)]


def convergence_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``convergence.md``: mean ± std over seeds of the epochs / seconds to the best and to 95% of it."""
    summary: dict = {}
    for key in COLUMNS:
        for group, entry in summarise(records, lambda r, k=key: r.get(k), key).items():
            summary.setdefault(group, {}).update(entry)
    return (
        "# Convergence\n\n"
        f"Per run, from its validation Recall@20 per epoch: epochs trained until the best value (the "
        f"best-validation checkpoint) and until {FRACTION:.0%} of it was first reached; seconds are "
        "wall-clock since the fit started, SG-URInit included. Mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n"
        + markdown_table(summary, COLUMNS, digits=1, lower_is_better=True)
    )
