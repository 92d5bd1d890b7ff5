"""Which runs a command makes, and which reports it writes from ``runs.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_mmrec.experiments import plots
from lit_mmrec.experiments.aggregate import group, table_markdown
from lit_mmrec.experiments.cold_start import cold_start_markdown
from lit_mmrec.experiments.convergence import convergence_markdown, mean_curve
from lit_mmrec.experiments.runner import RunSpec, RunStore
from lit_mmrec.experiments.variants import RANDOM, Variant, parse_variant, with_option


def sweep_specs(
    study: str, dataset: str, model: str, base: Variant, name: str, values: list[str], seeds: list[int],
    with_random: bool = True,
) -> list[RunSpec]:
    """Runs of a sweep of SG-URInit option ``name`` over ``values`` (from ``base``), plus random."""
    variants = [with_option(base, name, value) for value in values]
    if with_random:
        variants = [parse_variant(RANDOM), *variants]
    return [RunSpec(study, dataset, model, v, s) for v in variants for s in seeds]


def convergence_plots(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """``convergence_<dataset>_<model>.png``: mean validation Recall@20 per epoch, one line per init."""
    curves: dict[tuple[str, str], dict[str, list[float]]] = {}
    for (dataset, model, variant), members in group(records).items():
        curves.setdefault((dataset, model), {})[variant] = mean_curve([r["curve"] for r in members])
    return [
        plots.plot_curves(lines, f"{model} on {dataset} (mean over seeds)", out / f"convergence_{dataset}_{model}.png")
        for (dataset, model), lines in curves.items()
    ]


def write_reports(command: str, specs: list[RunSpec], store: RunStore, out: Path, shown: str) -> list[Path]:
    """Write the Markdown reports (and plots, when matplotlib is there) of ``command`` into ``out``."""
    records = store.select(specs)
    out.mkdir(parents=True, exist_ok=True)
    texts = {"table.md": table_markdown(records, shown), "convergence.md": convergence_markdown(records, shown)}
    if any("cold_start" in r for r in records):
        texts["cold_start.md"] = cold_start_markdown(records, shown)
    written = []
    for name, text in texts.items():
        (out / name).write_text(text)
        written.append(out / name)
    try:
        written += convergence_plots(records, out)
    except ImportError as error:
        print(error)
    return written
