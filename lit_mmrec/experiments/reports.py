"""Which runs a command makes, and which reports it writes from ``runs.json``."""

from __future__ import annotations

from pathlib import Path

from lit_mmrec.experiments.aggregate import table_markdown
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


def write_reports(command: str, specs: list[RunSpec], store: RunStore, out: Path, shown: str) -> list[Path]:
    """Write the Markdown reports (and plots) of ``command`` (``table`` or ``sweep``) into ``out``."""
    records = store.select(specs)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "table.md"
    path.write_text(table_markdown(records, shown))
    written.append(path)
    return written
