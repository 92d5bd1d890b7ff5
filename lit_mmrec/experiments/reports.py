"""The reports written from ``runs.json``: table, convergence, cold start, sweep (Markdown and PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_mmrec.experiments import plots
from lit_mmrec.experiments.aggregate import group, table_markdown
from lit_mmrec.experiments.cold_start import cold_start_markdown
from lit_mmrec.experiments.convergence import (
    PLOT_BUDGETS,
    anytime_groups_markdown,
    anytime_markdown,
    anytime_relative,
    comparable_backbones,
    convergence_markdown,
    mean_curve,
)
from lit_mmrec.experiments.diagnosis import PLOTTED, REPORTED, diagnosis_markdown, statistic_series
from lit_mmrec.experiments.paired import paired_markdown, paired_summary, study_comparisons
from lit_mmrec.experiments.runner import RunSpec, RunStore
from lit_mmrec.experiments.sweep import sweep_markdown, sweep_plot


def convergence_plots(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """``convergence_<dataset>_<model>.png``: mean validation Recall@20 per epoch, one line per init."""
    curves: dict[tuple[str, str], dict[str, list[float]]] = {}
    for (dataset, model, variant), members in group(records).items():
        curves.setdefault((dataset, model), {})[variant] = mean_curve([r["curve"] for r in members])
    return [
        plots.plot_curves(lines, f"{model} on {dataset} (mean over seeds)", out / f"convergence_{dataset}_{model}.png")
        for (dataset, model), lines in curves.items()
    ]


def anytime_plots(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """``anytime_<dataset>.png``: best validation Recall@20 within E epochs relative to random's final best,
    averaged over the backbones that ran every init (one line per init; the title says how many)."""
    return [
        plots.plot_anytime(list(PLOT_BUDGETS), lines,
                           f"{dataset}: mean over seeds and {len(comparable_backbones(records, dataset))} backbones",
                           out / f"anytime_{dataset}.png")
        for dataset, lines in anytime_relative(records).items() if lines
    ]


def diagnosis_plots(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """``diagnosis_<dataset>_<model>.png`` for runs with ``UserTableDiagnostics``: effective rank, common
    direction and drift of the user table per epoch, and validation Recall@20; mean over seeds per init."""
    written = []
    by_cell: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for (dataset, model, variant), members in group(records).items():
        if any(r.get("diagnostics") for r in members):
            by_cell.setdefault((dataset, model), {})[variant] = members
    for (dataset, model), variants in by_cell.items():
        panels: dict[str, dict[str, list[float]]] = {REPORTED[s]: {} for s in PLOTTED}
        panels["validation Recall@20"] = {}
        for variant, members in variants.items():
            for statistic in PLOTTED:
                series = [x for r in members if (x := statistic_series(r, statistic)) is not None]
                if series:
                    panels[REPORTED[statistic]][variant] = mean_curve(series)
            panels["validation Recall@20"][variant] = [float("nan")] + mean_curve([r["curve"] for r in members])
        written.append(plots.plot_panels(panels, f"{model} on {dataset}: user table per epoch (mean over seeds)",
                                         out / f"diagnosis_{dataset}_{model}.png"))
    return written


def write_reports(
    specs: list[RunSpec], store: RunStore, out: Path, shown: str, sweep: tuple[str, list[str]] | None = None
) -> list[Path]:
    """Write the Markdown reports (and plots, when matplotlib is there) into ``out``; ``sweep`` is the swept
    option and its values (``sweep.md`` and its plot)."""
    records = store.select(specs)
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "table.md": table_markdown(records, shown),
        "convergence.md": convergence_markdown(records, shown),
        "anytime.md": anytime_markdown(records, shown),
    }
    if any("diagnostics" in r for r in records):
        texts["diagnosis.md"] = diagnosis_markdown(records, shown)
    if any("cold_start" in r for r in records):
        texts["cold_start.md"] = cold_start_markdown(records, shown)
    if sweep is not None:
        texts["sweep.md"] = sweep_markdown(records, sweep[0], shown)
    by_group = anytime_groups_markdown(records, out / "runs", shown)
    if by_group is not None:
        texts["anytime_groups.md"] = by_group
    comparisons = study_comparisons(records, out / "runs")
    if comparisons:
        texts["paired.md"] = paired_markdown(comparisons, "recall@20", "t") + f"\nProduced by:\n\n```bash\n{shown}\n```\n"
        texts["table.md"] += paired_summary(comparisons)
    written = []
    for name, text in texts.items():
        (out / name).write_text(text)
        written.append(out / name)
    try:
        written += convergence_plots(records, out)
        written += anytime_plots(records, out)
        written += diagnosis_plots(records, out)
        if sweep is not None and records:
            written.append(sweep_plot(records, specs, sweep[0], sweep[1], out))
    except ImportError as error:
        print(error)
    return written
