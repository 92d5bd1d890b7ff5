"""Item cold start in experiments: a callback that evaluates the tested checkpoint, and ``cold_start.md``.

``ColdStartEvaluation`` runs :func:`lit_mmrec.metrics.cold_start.cold_start_from_module` at the end of
every ``test`` (after ``fit``: the best-validation checkpoint) and writes the result as JSON. On any
checkpoint::

    python train.py test --config configs/ml100k/lightgcn.yaml --ckpt_path checkpoints/<run>/best-epoch=N.ckpt \\
        "--trainer.callbacks+=lit_mmrec.experiments.cold_start.ColdStartEvaluation" \\
        --trainer.callbacks.init_args.thresholds "[0, 1, 5]" --trainer.callbacks.init_args.output cold.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L

from lit_mmrec.experiments.aggregate import HEADERS, markdown_table, summarise
from lit_mmrec.metrics.cold_start import cold_start_from_module


class ColdStartEvaluation(L.Callback):
    """Test metrics on cold items (at most N training interactions) after every test; JSON to ``output``.

    Args:
        thresholds: the values of N (0: items never seen in training).
        output: JSON file to write (default: ``cold_start.json`` in the logger's folder).
        chunk_size: users ranked at a time.
    """

    def __init__(self, thresholds: list[int] | None = None, output: str | None = None, chunk_size: int = 2048) -> None:
        self.thresholds = [0, 1, 5, 10] if thresholds is None else list(thresholds)
        self.output = output
        self.chunk_size = chunk_size
        self.results: dict[int, dict[str, float]] | None = None

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.results = cold_start_from_module(pl_module, self.thresholds, self.chunk_size)
        if not trainer.is_global_zero:
            return
        output = Path(self.output) if self.output else Path(trainer.log_dir or ".") / "cold_start.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({str(n): values for n, values in self.results.items()}, indent=1) + "\n")


def _cold_value(record: dict[str, Any], n: int, metric: str) -> float | None:
    """``metric`` on test items with at most ``n`` training interactions; None (not counted) when the
    data set has no user with such an item, where the metric would read 0 without meaning it."""
    entry = record.get("cold_start", {}).get(str(n), {})
    return entry.get(metric) if entry.get("users") else None


def cold_start_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``cold_start.md``: per threshold N, the table of test metrics on cold items, random vs SG-URInit."""
    thresholds = sorted({int(n) for r in records for n in r.get("cold_start", {})})
    sections = []
    for n in thresholds:
        summary: dict = {}
        for metric in HEADERS:
            values = summarise(records, lambda r, m=metric, n=n: _cold_value(r, n, m), metric)
            for key, entry in values.items():
                summary.setdefault(key, {}).update(entry)
        sizes = sorted({(r["dataset"], r["cold_start"][str(n)]["cold_items"], r["cold_start"][str(n)]["users"])
                        for r in records if str(n) in r.get("cold_start", {})})
        described = "; ".join(
            f"{d}: {items} cold test items, {users} users" + ("" if users else " (not in the table: nothing to measure)")
            for d, items, users in sizes
        )
        title = "never seen in training" if n == 0 else f"with at most {n} training interaction{'' if n == 1 else 's'}"
        sections.append(f"## Test items {title} (N = {n})\n\n{described}\n\n" + markdown_table(summary, HEADERS))
    return (
        "# Item cold start\n\n"
        "Test metrics of the best-validation checkpoint with the ground truth restricted to test items with at "
        "most N training interactions (ranking over all items, training items excluded; users without such "
        "an item not counted). Mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(sections)
    )
