"""Convergence of a run from its validation curve: epochs and seconds to the best Recall@20 and to 95% of it."""

from __future__ import annotations

from typing import Any

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
