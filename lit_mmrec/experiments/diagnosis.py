"""``diagnosis.md`` and the diagnosis plots' series, from the ``diagnostics`` the runner folds into ``runs.json``
out of :class:`~lit_mmrec.callbacks.user_table_diagnostics.UserTableDiagnostics`'s ``diag/*`` columns."""

from __future__ import annotations

from typing import Any

from lit_mmrec.experiments.aggregate import markdown_table, summarise_columns

#: Statistics shown in ``diagnosis.md`` (of the first user table a backbone declares, and its representations).
REPORTED = {
    "effective_rank": "effective rank", "common_direction": "common direction", "mean_cosine": "mean cosine",
    "nearest_cosine": "nearest-user cosine", "user_repr_nearest_cosine": "nearest-user cosine of the user repr",
    "mean_norm": "mean row norm", "drift": "drift from start", "user_repr_norm": "user repr norm",
    "item_repr_norm": "item repr norm",
}
#: When: at the start of training (after any initialisation), after epochs 1, 10, 50, and after the last epoch.
MOMENTS = {"start": "start", "1": "epoch 1", "10": "epoch 10", "50": "epoch 50", "last": "last epoch"}


def _table_name(found: dict[str, Any], statistic: str) -> str | None:
    """The logged name of ``statistic`` for the first table declared (e.g. ``user_embedding/<statistic>``), or
    the representation norms' plain name; None when not logged."""
    names = [n for n in list(found["by_epoch"]) + list(found["start"]) if n.split("/")[-1] == statistic]
    return names[0] if names else None


def _statistic(record: dict[str, Any], statistic: str, moment: str) -> float | None:
    found = record.get("diagnostics")
    name = _table_name(found, statistic) if found else None
    if name is None:
        return None
    if moment == "start":
        return found["start"].get(name)
    values = found["by_epoch"].get(name, [])
    index = len(values) - 1 if moment == "last" else int(moment) - 1
    return values[index] if 0 <= index < len(values) else None


def diagnosis_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``diagnosis.md``: per statistic, its value at the start, after epochs 1 / 10 / 50 and at the end, mean ±
    std over seeds, per (data set, backbone, init); runs without :class:`UserTableDiagnostics` are left out."""
    sections = []
    for statistic, title in REPORTED.items():
        summary = summarise_columns(records, MOMENTS, lambda r, moment, s=statistic: _statistic(r, s, moment))
        if summary:
            sections.append(f"## {title}\n\n" + markdown_table(summary, MOMENTS, digits=3, compare=False))
    return (
        "# Diagnosis: the user table during training\n\n"
        "Statistics of the first user table each backbone declares (users with training interactions), and "
        "the mean norms of the final user and item representations, logged by "
        "`lit_mmrec.callbacks.user_table_diagnostics.UserTableDiagnostics` (definitions there); mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(sections)
    )


#: The statistics drawn in ``diagnosis_<dataset>_<backbone>.png`` (beside validation Recall@20).
PLOTTED = ("effective_rank", "common_direction", "drift")


def statistic_series(record: dict[str, Any], statistic: str) -> list[float] | None:
    """``statistic`` of the run's first declared table per epoch, its value at the start first (index 0 =
    before training, index e = after epoch e); None when the run has no diagnostics for it."""
    found = record.get("diagnostics")
    name = _table_name(found, statistic) if found else None
    if name is None or name not in found["by_epoch"]:
        return None
    values = found["by_epoch"][name]
    start = found["start"].get(name)
    return ([start] if start is not None else [values[0]]) + values
