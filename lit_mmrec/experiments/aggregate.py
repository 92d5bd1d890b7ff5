"""Aggregation over seeds and the paper-style ``table.md``.

For every (data set, backbone, variant): mean ± sample standard deviation (``n - 1`` in the
denominator; 0 for a single seed) of the test Recall@10/20 and NDCG@10/20 of the best-validation
checkpoint; and, for every SG-URInit variant, the relative improvement of its mean over the mean of
``random`` on the same backbone: ``(variant - random) / random``, in percent.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lit_mmrec.experiments.logs import TEST_METRICS
from lit_mmrec.experiments.variants import RANDOM

HEADERS = {"recall@10": "R@10", "recall@20": "R@20", "ndcg@10": "N@10", "ndcg@20": "N@20"}
Key = tuple[str, str, str]  # (dataset, model, variant)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 for one value)."""
    if not values:
        raise ValueError("no values to aggregate")
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def relative(value: float, reference: float) -> float | None:
    """``(value - reference) / reference`` in percent; None when the reference is 0."""
    return None if reference == 0 else 100.0 * (value - reference) / reference


def group(records: Sequence[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
    """Finished records by (dataset, model, variant), in first-seen order."""
    groups: dict[Key, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("status", "done") == "done":
            groups.setdefault((record["dataset"], record["model"], record["variant"]), []).append(record)
    return groups


def summarise(
    records: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float | None], name: str
) -> dict[Key, dict[str, Any]]:
    """``{key: {name: (mean, std), "seeds": n}}`` of ``value(record)`` per group (None values skipped)."""
    summary: dict[Key, dict[str, Any]] = {}
    for key, members in group(records).items():
        values = [v for v in (value(r) for r in members) if v is not None]
        if values:
            summary.setdefault(key, {"seeds": len(values)})[name] = mean_std(values)
    return summary


def summarise_columns(
    records: Sequence[dict[str, Any]], names: Iterable[str], value: Callable[[dict[str, Any], str], float | None]
) -> dict[Key, dict[str, Any]]:
    """:func:`summarise` of ``value(record, name)`` for every column ``name``, merged per group."""
    summary: dict[Key, dict[str, Any]] = {}
    for name in names:
        for key, entry in summarise(records, lambda r, n=name: value(r, n), name).items():
            summary.setdefault(key, {}).update(entry)
    return summary


def metric_summary(records: Sequence[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Mean ± std of the four test metrics per (dataset, model, variant)."""
    return summarise_columns(records, TEST_METRICS, lambda r, metric: r["test"][metric])


def fmt(mean_and_std: tuple[float, float], digits: int = 4, seeds: int | None = None) -> str:
    """``mean ± std``; the mean alone for a single seed, where no spread was measured."""
    mean, std = mean_and_std
    if seeds == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_relative(change: float | None) -> str:
    return "n/a" if change is None else f"{change:+.2f}%"


def markdown_table(
    summary: dict[Key, dict[str, Any]], columns: dict[str, str], digits: int = 4, lower_is_better: bool = False,
    compare: bool = True,
) -> str:
    """One Markdown section per data set: a row per (backbone, variant) with ``mean ± std`` of each column,
    then (``compare``) a row per SG-URInit variant with its relative change over ``random`` on that backbone."""
    lines: list[str] = []
    datasets = list(dict.fromkeys(k[0] for k in summary))
    for dataset in datasets:
        compared = False
        lines += [f"### {dataset}", "", "| backbone | init | seeds | " + " | ".join(columns.values()) + " |",
                  "|---|---|---|" + "---|" * len(columns)]
        models = list(dict.fromkeys(k[1] for k in summary if k[0] == dataset))
        for model in models:
            variants = [k[2] for k in summary if k[:2] == (dataset, model)]
            variants = sorted(variants, key=lambda v: v != RANDOM)
            for index, variant in enumerate(variants):
                entry = summary[(dataset, model, variant)]
                cells = [fmt(entry[c], digits, entry.get("seeds")) if c in entry else "n/a" for c in columns]
                lines.append(f"| {model if index == 0 else ''} | {variant} | {entry['seeds']} | " + " | ".join(cells) + " |")
            base = summary.get((dataset, model, RANDOM)) if compare else None
            for variant in variants:
                if variant == RANDOM or base is None:
                    continue
                entry = summary[(dataset, model, variant)]
                cells = [
                    fmt_relative(relative(entry[c][0], base[c][0])) if c in entry and c in base else "n/a"
                    for c in columns
                ]
                lines.append(f"| | *{variant} vs random* | | " + " | ".join(cells) + " |")
                compared = True
        note = "negative is better" if lower_is_better else "positive is better"
        lines += ["", f"Relative change = (variant mean - random mean) / random mean ({note}).", ""] if compared else [""]
    return "\n".join(lines)


def table_markdown(records: Sequence[dict[str, Any]], command: str) -> str:
    """``table.md``: the paper's table (test metrics of the best-validation checkpoint)."""
    body = markdown_table(metric_summary(records), HEADERS)
    return (
        "# Test metrics, best-validation checkpoint\n\n"
        "Mean ± sample std over seeds of the test Recall@K / NDCG@K (full ranking, training items excluded) "
        "at the checkpoint with the best validation Recall@20.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n{body}"
    )
