"""Sensitivity sweeps and ablations: one SG-URInit option over several values, ``sweep.md`` and a PNG.

Ablations are sweeps too: ``--param weight 0 1`` (0: local only), ``--param local_weight 0 1``
(0: cluster only), ``--param cluster_on item user``, ``--param fusion sum attention``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_mmrec.experiments import plots
from lit_mmrec.experiments.aggregate import HEADERS, markdown_table, metric_summary
from lit_mmrec.experiments.runner import RunSpec
from lit_mmrec.experiments.variants import RANDOM, Variant, parse_variant, with_option

#: test metrics drawn in the sweep plot
PLOTTED = ("recall@20", "ndcg@20")


def sweep_specs(
    study: str, dataset: str, model: str, base: Variant, name: str, values: list[str], seeds: list[int],
    with_random: bool = True,
) -> list[RunSpec]:
    """Runs of a sweep of SG-URInit option ``name`` over ``values`` (from ``base``), plus random."""
    variants = [with_option(base, name, value) for value in values]
    if with_random:
        variants = [parse_variant(RANDOM), *variants]
    return [RunSpec(study, dataset, model, v, s) for v in variants for s in seeds]


def sweep_markdown(records: list[dict[str, Any]], param: str, command: str) -> str:
    """``sweep.md``: test metrics per value of ``param`` (one row per variant) and their change vs random."""
    return (
        f"# Sweep of SG-URInit's `{param}`\n\n"
        "Test metrics of the best-validation checkpoint, mean ± sample std over seeds; each row is one value "
        "(the variant's name shows it).\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + markdown_table(metric_summary(records), HEADERS)
    )


def sweep_plot(records: list[dict[str, Any]], specs: list[RunSpec], param: str, values: list[str], out: Path) -> Path:
    """``sweep_<dataset>_<model>_<param>.png``: test Recall@20 / NDCG@20 per value, random dashed."""
    summary = metric_summary(records)
    dataset, model = specs[0].dataset, specs[0].model
    swept = list(dict.fromkeys(s.variant.name for s in specs if not s.variant.is_random))
    shown = [(value, variant) for value, variant in zip(values, swept, strict=True)
             if (dataset, model, variant) in summary]
    series = {
        metric: ([summary[(dataset, model, v)][metric][0] for _, v in shown],
                 [summary[(dataset, model, v)][metric][1] for _, v in shown])
        for metric in PLOTTED
    }
    base = summary.get((dataset, model, RANDOM), {})
    baseline = {metric: base[metric][0] for metric in PLOTTED if metric in base}
    path = out / f"sweep_{dataset}_{model}_{param}.png"
    return plots.plot_sweep(param, [v for v, _ in shown], series, baseline, f"{model} on {dataset}", path)
