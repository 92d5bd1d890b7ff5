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

from lit_mmrec.experiments.aggregate import HEADERS, markdown_table, summarise_columns
from lit_mmrec.metrics.cold_start import PROTOCOLS, cold_start_from_module


class ColdStartEvaluation(L.Callback):
    """Test metrics on cold items (at most N training interactions) after every test; JSON to ``output``.

    The JSON has one entry per threshold N, ``"<N>"`` for ranking over all items (the full-ranking
    protocol) and ``"cold/<N>"`` for ranking within the cold items only (the item cold-start protocol,
    e.g. CLCRec's); see :mod:`lit_mmrec.metrics.cold_start`.

    Args:
        thresholds: the values of N (0: items never seen in training).
        output: JSON file to write (default: ``cold_start.json`` in the logger's folder).
        chunk_size: users ranked at a time.
        protocols: ``all`` and / or ``cold``.
        split: ``test`` (the reported numbers) or ``valid`` (for choosing options, e.g. of
            :class:`~lit_mmrec.callbacks.cold_items.ColdItems`, without looking at test).
    """

    def __init__(
        self, thresholds: list[int] | None = None, output: str | None = None, chunk_size: int = 2048,
        protocols: list[str] | None = None, split: str = "test",
    ) -> None:
        self.thresholds = [0, 1, 5, 10] if thresholds is None else list(thresholds)
        self.output = output
        self.chunk_size = chunk_size
        self.protocols = list(PROTOCOLS) if protocols is None else list(protocols)
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown or not self.protocols:
            raise ValueError(f"protocols must be a non-empty list of {PROTOCOLS}, got {self.protocols}")
        if split not in ("test", "valid"):
            raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
        self.split = split
        self.results: dict[str, dict[str, float]] | None = None

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.results = {}
        for protocol in self.protocols:
            values = cold_start_from_module(pl_module, self.thresholds, self.chunk_size, protocol, self.split)
            self.results.update({_key(protocol, n): entry for n, entry in values.items()})
        if not trainer.is_global_zero:
            return
        output = Path(self.output) if self.output else Path(trainer.log_dir or ".") / "cold_start.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(self.results, indent=1) + "\n")


def _key(protocol: str, n: int | str) -> str:
    """The JSON key of threshold ``n`` under ``protocol``: ``"<n>"`` (all items, as before) or ``"cold/<n>"``."""
    return str(n) if protocol == "all" else f"{protocol}/{n}"


def _cold_value(record: dict[str, Any], key: str, metric: str) -> float | None:
    """``metric`` under cold-start entry ``key`` (``"<N>"`` or ``"cold/<N>"``); None (not counted) when the
    data set has no user with such an item, where the metric would read 0 without meaning it."""
    entry = record.get("cold_start", {}).get(key, {})
    return entry.get(metric) if entry.get("users") else None


def cold_start_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``cold_start.md``: per threshold N, the table of test metrics on cold items, random vs SG-URInit,
    ranking over all items; then, for runs that measured it, ranking within the cold items only."""
    keys = {k for r in records for k in r.get("cold_start", {})}
    sections = [_section(records, str(n), n, within=False) for n in sorted(int(k) for k in keys if k.isdigit())]
    within = sorted(int(k.split("/")[1]) for k in keys if k.startswith("cold/"))
    if within:
        sections.append(
            "## Ranking within the cold items only\n\nThe item cold-start protocol (e.g. CLCRec's): the "
            "candidates are the items with at most N training interactions, not every item.\n"
        )
        sections += [_section(records, _key("cold", n), n, within=True) for n in within]
    return (
        "# Item cold start\n\n"
        "Test metrics of the best-validation checkpoint with the ground truth restricted to test items with at "
        "most N training interactions (ranking over all items, training items excluded; users without such "
        "an item not counted). Mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(sections)
    )


def _section(records: list[dict[str, Any]], key: str, n: int, within: bool) -> str:
    """One threshold's table: sizes per data set, then metrics per (data set, backbone, init)."""
    summary = summarise_columns(records, HEADERS, lambda r, metric: _cold_value(r, key, metric))
    sizes = sorted({(r["dataset"], r["cold_start"][key]["cold_items"], r["cold_start"][key]["users"],
                     r["cold_start"][key].get("candidates"))
                    for r in records if key in r.get("cold_start", {})}, key=lambda size: (*size[:3], size[3] or 0))
    described = "; ".join(
        f"{d}: {items} cold test items, {users} users"
        + (f", {candidates} candidates (a random order: Recall@20 about {min(1.0, 20 / candidates):.3f})"
           if candidates else "")
        + ("" if users else " (not in the table: nothing to measure)")
        for d, items, users, candidates in sizes
    )
    title = "never seen in training" if n == 0 else f"with at most {n} training interaction{'' if n == 1 else 's'}"
    scope = ", ranked among the cold items only" if within else ""
    return f"## Test items {title}{scope} (N = {n})\n\n{described}\n\n" + markdown_table(summary, HEADERS)
