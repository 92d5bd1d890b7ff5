"""Choosing :class:`~lit_mmrec.callbacks.cold_items.ColdItems`'s settings on validation, and reporting them.

``ColdItemsComparison`` is a test-time callback: after ``train.py test`` has loaded a checkpoint it
measures cold-item Recall/NDCG with the items as learned (``off``) and with every ColdItems setting
given, on the validation AND the test items, under both protocols (all items / within the cold items),
in one process (the representations are computed once per setting), and writes one compact JSON (per setting,
split and threshold: the sizes and the four reported metrics, :func:`~lit_mmrec.experiments.runner.cold_start_record`)::

    python train.py test --config configs/ml100k/vbpr.yaml --ckpt_path checkpoints/<run>/best-epoch=N.ckpt \\
        "--trainer.callbacks+=studies.cold_items_compare.ColdItemsComparison" \\
        --trainer.callbacks.init_args.output cold_items/

(a folder: the file is ``cold_items/<run>.json``; the same arguments after a runner's ``--`` make every run of a
study write its own file after the fit's test.)

``python -m studies.cold_items_compare report --inputs DIR --runs runs.json ...`` reads those
JSON files and writes ``cold_items.md``: every setting's validation numbers, the setting the selection
rule picks, and that setting's test numbers beside ``off`` per backbone and init.

Selection rule (fixed before any run; validation only): the setting with the highest mean, over every
evaluated checkpoint, of validation Recall@20 on items never seen in training ranked over ALL items (the
full-ranking protocol, where the learned representations score 0); a setting within 0.001 of the best
that comes earlier in :data:`SETTINGS` (fewer neighbours, no rescaling, plain mean) wins the tie. ``off``
competes too: when nothing beats it, ColdItems is not recommended.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lit_mmrec.callbacks.cold_item_neighbours import WEIGHTINGS
from lit_mmrec.callbacks.cold_items import dataset_neighbours
from lit_mmrec.experiments.aggregate import fmt, mean_std
from lit_mmrec.experiments.runner import cold_start_record
from lit_mmrec.experiments.runs_json import read_runs
from lit_mmrec.metrics.cold_start import cold_start_metrics

#: The settings compared, simplest first (the order breaks ties). ``k=1000000,own=true`` (k clipped to every warm
#: item) is the plain shift of the cold items to the warm items' mean.
SETTINGS = (
    "k=1", "k=5", "k=10", "k=20", "k=5,keep_norm=true", "k=10,keep_norm=true", "k=20,keep_norm=true",
    "k=20,keep_norm=true,weighting=similarity", "k=10,own=true", "k=20,keep_norm=true,own=true",
    "k=1000000,own=true",
)
OFF = "off"
SPLITS = ("valid", "test")
SELECTION_KEY = ("valid", "0", "recall@20")
TIE = 1e-3


def parse_setting(text: str) -> dict[str, Any]:
    """``"k=5,keep_norm=true,weighting=mean"`` -> ColdItems keyword arguments (``k`` is required)."""
    options: dict[str, Any] = {"k": None, "keep_norm": False, "weighting": "mean", "own": False}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if name == "k" and value.isdigit() and int(value) >= 1:
            options["k"] = int(value)
        elif name in ("keep_norm", "own") and value in ("true", "false"):
            options[name] = value == "true"
        elif name == "weighting" and value in WEIGHTINGS:
            options["weighting"] = value
        else:
            raise ValueError(f"cold-item setting {text!r}: cannot read {part!r} (expected k=<int >= 1>, "
                             f"keep_norm=true|false, own=true|false, weighting={'|'.join(WEIGHTINGS)})")
    if options["k"] is None:
        raise ValueError(f"cold-item setting {text!r}: k=<int> is required")
    return options


class ColdItemsComparison(L.Callback):
    """After ``test``: cold-item metrics of the tested checkpoint with each ColdItems setting and without.

    Args:
        output: JSON file to write; a path not ending in ``.json`` is a folder, the file in it named after the
            tested checkpoint's folder (``<run>.json``: what a study's runner passes to every run).
        settings: ColdItems settings as ``"k=5,keep_norm=true"`` strings (default: :data:`SETTINGS`).
        thresholds: the values of N (items with at most N training interactions).
        chunk_size: users ranked at a time.
    """

    def __init__(
        self, output: str, settings: list[str] | None = None, thresholds: list[int] | None = None,
        chunk_size: int = 2048,
    ) -> None:
        self.output = output
        self.settings = {s: parse_setting(s) for s in (SETTINGS if settings is None else settings)}
        self.thresholds = [0, 5] if thresholds is None else list(thresholds)
        self.chunk_size = chunk_size

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the learned representations once per checkpoint; each setting only maps the item rows
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            user_repr, item_repr = pl_module.representations()
        pl_module.train(was_training)
        dataset = trainer.datamodule.dataset
        results: dict[str, Any] = {}
        for name in (OFF, *self.settings):
            items = item_repr if name == OFF else dataset_neighbours(dataset, **self.settings[name]).apply(item_repr)
            results[name] = {split: self._measure(pl_module, user_repr, items, split) for split in SPLITS}
        if trainer.is_global_zero:
            checkpoint = Path(trainer.ckpt_path) if trainer.ckpt_path else None
            record = {"run": checkpoint.parent.name if checkpoint else None,
                      "checkpoint": checkpoint.name if checkpoint else None, "settings": results}
            output = Path(self.output)
            if output.suffix != ".json":
                output = output / f"{record['run'] or 'model'}.json"
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(record, separators=(",", ":")) + "\n")

    def _measure(
        self, pl_module: L.LightningModule, user_repr: torch.Tensor, item_repr: torch.Tensor, split: str,
    ) -> dict[str, dict[str, float]]:
        values = {}
        for protocol in ("all", "cold"):
            found = cold_start_metrics(user_repr, item_repr, pl_module.index("train"), pl_module.index(split),
                                       self.thresholds, pl_module.test_metrics.ks, self.chunk_size, protocol)
            values.update({(str(n) if protocol == "all" else f"cold/{n}"): v for n, v in found.items()})
        return cold_start_record(values)


def _value(record: dict[str, Any], setting: str, split: str, key: str, metric: str = "recall@20") -> float | None:
    entry = record["settings"].get(setting, {}).get(split, {}).get(key, {})
    return entry.get(metric) if entry.get("users") else None


def _table(rows: list[list[str]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _mean_std(values: list[float]) -> str:
    return fmt(mean_std(values)) if values else "-"


def select(records: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """The selection rule of the module docstring: ``(chosen setting, mean validation value per setting)``."""
    order = [OFF, *SETTINGS] + sorted({s for r in records for s in r["settings"]} - {OFF, *SETTINGS})
    split, key, metric = SELECTION_KEY
    means = {}
    for setting in order:
        values = [v for r in records if (v := _value(r, setting, split, key, metric)) is not None]
        if values:
            means[setting] = statistics.fmean(values)
    if not means:
        raise ValueError("no evaluated checkpoint has a validation user with an item never seen in training: "
                         "the selection rule has nothing to choose on")
    best = max(means.values())
    chosen = next(s for s in order if s in means and means[s] >= best - TIE)
    return chosen, means


def comparison_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``cold_items.md``: validation per setting, the chosen one, then its test numbers beside ``off``."""
    chosen, means = select(records)
    columns = [("valid", "0"), ("valid", "cold/0"), ("valid", "5"), ("valid", "cold/5")]
    rows = []
    for setting in means:
        cells = [_mean_std([v for r in records if (v := _value(r, setting, s, k)) is not None]) for s, k in columns]
        rows.append([f"**{setting}**" if setting == chosen else setting, *cells])
    head = ["setting", "valid N=0 all", "valid N=0 within", "valid N≤5 all", "valid N≤5 within"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(record["model"], record["variant"])].append(record)
    detail = []
    test_columns = [("valid", "0"), ("test", "0"), ("test", "cold/0"), ("test", "5"), ("test", "cold/5")]
    for (model, variant), group in sorted(groups.items()):
        for setting in (OFF, chosen) if chosen != OFF else (OFF,):
            cells = [_mean_std([v for r in group if (v := _value(r, setting, s, k)) is not None])
                     for s, k in test_columns]
            detail.append([model, variant, setting, str(len(group)), *cells])
    detail_head = ["backbone", "init", "cold items as", "runs", "valid N=0 all", "test N=0 all", "test N=0 within",
                   "test N≤5 all", "test N≤5 within"]
    counts = {k: v for k, v in next(iter(records))["settings"][OFF]["test"].items() if not k.startswith("cold/")}
    sizes = "; ".join(f"N={n}: {c['cold_items']} cold test items, {c['users']} users" for n, c in counts.items())
    return (
        "# ColdItems settings, chosen on validation\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n"
        "Recall@20 on items with at most N training interactions, mean ± sample std over the evaluated "
        "checkpoints; *all*: ranked among every item (training items excluded), *within*: among the cold items "
        f"only. {len(records)} checkpoints; test: {sizes}.\n\n"
        "Selection rule (written before the runs, `studies/cold_items_compare.py`): highest mean "
        "validation Recall@20 at N = 0 ranked over all items; within 0.001, the simpler setting (earlier in the "
        f"list) wins; `off` competes. Chosen: **{chosen}** (mean {means[chosen]:.4f}; off {means.get(OFF, 0):.4f}).\n\n"
        "## Every setting, validation only\n\n" + _table(rows, head) + "\n\n"
        "## The chosen setting against the learned representations, per backbone and init\n\n"
        + _table(detail, detail_head) + "\n"
    )


def load_records(inputs: list[Path], runs: list[Path]) -> list[dict[str, Any]]:
    """The comparison JSON files under ``inputs``, each joined to its run's record in one of ``runs``
    (``runs.json`` files of the studies whose checkpoints were evaluated) by run name."""
    known = {}
    for path in runs:
        known.update({r["name"]: r for r in read_runs(path)})
    records = []
    for folder in inputs:
        for path in sorted(folder.glob("*.json")):
            record = json.loads(path.read_text())
            run = known.get(record.get("run"))
            if run is None:
                raise ValueError(f"{path}: run {record.get('run')!r} is in none of the runs.json files given")
            records.append({**record, **{k: run[k] for k in ("dataset", "model", "variant", "seed")}})
    if not records:
        raise ValueError(f"no comparison JSON under {[str(p) for p in inputs]}")
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studies.cold_items_compare",
                                     description="Report ColdItemsComparison results and apply the selection rule.")
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="write the Markdown report")
    report.add_argument("--inputs", type=Path, nargs="+", required=True, help="folders of comparison JSON files")
    report.add_argument("--runs", type=Path, nargs="+", required=True, help="runs.json files naming the runs")
    report.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    report.add_argument("--command", default="", help="the command(s) that produced the inputs, for the report")
    args = parser.parse_args(argv)
    records = load_records(args.inputs, args.runs)
    args.out.write_text(comparison_markdown(records, args.command or " ".join(["report", *map(str, args.inputs)])))
    print(f"{args.out}: {len(records)} checkpoints, chosen {select(records)[0]}")


if __name__ == "__main__":
    main()
