"""One run = one ``train.py fit`` subprocess; ``runs.json`` records every run and makes a study resumable.

A run is identified by (data set, backbone, variant, seed) and named
``<study>_<dataset>_<model>_<variant>_s<seed>``. Its checkpoints go to ``checkpoints/<name>/`` and its
CSV logs to ``<logs>/<name>/version_*/`` (both under the working folder), and its result folder
``<out>/runs/<name>/`` receives the full resolved configuration (``config.yaml``, as Lightning saved
it), the merged ``metrics.csv`` and, when asked, ``cold_start.json``.

Resumption: a run recorded as ``done`` in ``runs.json`` is never run again; a run that was
interrupted (its ``checkpoints/<name>/last.ckpt`` exists) is restarted with ``--ckpt_path last``,
which continues exactly where it stopped; anything else starts from scratch (its old logs removed).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lit_mmrec.experiments import logs
from lit_mmrec.experiments.convergence import convergence
from lit_mmrec.experiments.variants import Variant

#: The repository root, where ``train.py`` and ``configs/`` live.
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunSpec:
    """What to train: ``configs/<dataset>/<model>.yaml`` with ``variant`` and ``seed``."""

    study: str
    dataset: str
    model: str
    variant: Variant
    seed: int

    @property
    def name(self) -> str:
        return f"{self.study}_{self.dataset}_{self.model}_{self.variant.slug}_s{self.seed}"

    def config(self, configs: Path) -> Path:
        return configs / self.dataset / f"{self.model}.yaml"


@dataclass
class Settings:
    """How runs are executed (shared by every run of a study).

    Attributes:
        out: result folder (``runs.json``, reports, ``runs/<name>/``).
        configs: folder of ``<dataset>/<model>.yaml`` configs.
        workdir: working folder of the subprocesses (``checkpoints/`` and relative data paths).
        logs: CSVLogger folder (relative to ``workdir`` unless absolute).
        max_epochs: overrides the config's ``trainer.max_epochs`` when set.
        cold_start: item-count thresholds N of the cold-start evaluation (empty: none).
        extra: further ``train.py`` arguments, appended to every run.
    """

    out: Path
    configs: Path = ROOT / "configs"
    workdir: Path = Path(".")
    logs: Path = Path("logs/experiments")
    max_epochs: int | None = None
    cold_start: tuple[int, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def logs_dir(self) -> Path:
        return self.logs if self.logs.is_absolute() else self.workdir / self.logs

    def run_dir(self, spec: RunSpec) -> Path:
        return self.out / "runs" / spec.name


def command(spec: RunSpec, settings: Settings, resume: bool) -> list[str]:
    """The ``train.py fit`` command line of ``spec``."""
    config = spec.config(settings.configs)
    args = [
        sys.executable, str(ROOT / "train.py"), "fit", "--config", str(config.resolve()),
        "--experiment", spec.name, "--seed_everything", str(spec.seed), "--data.init_args.seed", str(spec.seed),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
        "--trainer.logger.init_args.save_dir", str(settings.logs_dir.resolve()),
        "--trainer.logger.init_args.name", spec.name,
        # first, so that the elapsed time it logs includes SG-URInit
        "--trainer.callbacks+=lit_mmrec.experiments.timing.EpochTimer",
    ]
    if settings.cold_start:
        args += [
            "--trainer.callbacks+=lit_mmrec.experiments.cold_start.ColdStartEvaluation",
            "--trainer.callbacks.init_args.thresholds", json.dumps(list(settings.cold_start)),
            "--trainer.callbacks.init_args.output", str((settings.run_dir(spec) / "cold_start.json").resolve()),
        ]
    args += spec.variant.callback_args(spec.seed)
    if settings.max_epochs is not None:
        args += ["--trainer.max_epochs", str(settings.max_epochs)]
    args += list(settings.extra)
    if resume:
        args += ["--ckpt_path", "last"]
    return args


class RunStore:
    """``runs.json``: one record per run name, rewritten atomically after every change (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            self.records = {r["name"]: r for r in json.loads(path.read_text())["runs"]}

    def done(self, name: str) -> bool:
        return self.records.get(name, {}).get("status") == "done"

    def put(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records[record["name"]] = record
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".json.tmp")
            runs = sorted(self.records.values(), key=lambda r: r["name"])
            temporary.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
            os.replace(temporary, self.path)

    def select(self, specs: Iterable[RunSpec]) -> list[dict[str, Any]]:
        """The finished records of ``specs``, in their order."""
        return [self.records[s.name] for s in specs if self.done(s.name)]


def read_result(spec: RunSpec, settings: Settings) -> dict[str, Any]:
    """Test metrics, validation curve summary and SG-URInit seconds of a finished run, from its logs."""
    rows = logs.read_rows(settings.logs_dir / spec.name)
    test = logs.test_metrics(rows)
    missing = [m for m in logs.TEST_METRICS if m not in test]
    if missing:
        raise RuntimeError(f"run {spec.name}: no test metrics {missing} in its logs")
    result: dict[str, Any] = {"test": {m: test[m] for m in logs.TEST_METRICS}}
    curve = logs.validation_curve(rows)
    result.update(convergence(curve))
    result["sgurinit_s"] = logs.first_value(rows, "sgurinit/seconds")
    return result


def save_artifacts(spec: RunSpec, settings: Settings) -> None:
    """Copy the resolved config (the first version's) and the merged metrics into the run's result folder."""
    target = settings.run_dir(spec)
    target.mkdir(parents=True, exist_ok=True)
    versions = logs.version_dirs(settings.logs_dir / spec.name)
    configs = [v / "config.yaml" for v in versions if (v / "config.yaml").is_file()]
    if configs:
        shutil.copyfile(configs[0], target / "config.yaml")
    rows = logs.read_rows(settings.logs_dir / spec.name)
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("epoch", "step"), k))
    with open(target / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def execute(spec: RunSpec, settings: Settings, store: RunStore, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``spec`` (or resume it), then record its result in ``store``; returns the record."""
    last = settings.workdir / "checkpoints" / spec.name / "last.ckpt"
    resume = last.is_file()
    if not resume:
        shutil.rmtree(settings.logs_dir / spec.name, ignore_errors=True)
    settings.run_dir(spec).mkdir(parents=True, exist_ok=True)
    args = command(spec, settings, resume)
    record: dict[str, Any] = {
        "name": spec.name, "dataset": spec.dataset, "model": spec.model, "variant": spec.variant.name,
        "seed": spec.seed, "config": str(spec.config(settings.configs)), "command": args[1:],
    }
    echo(f"{'resume' if resume else 'start '} {spec.name}")
    start = time.perf_counter()
    result = subprocess.run(args, cwd=settings.workdir, capture_output=True, text=True)
    record["wall_s"] = time.perf_counter() - start + store.records.get(spec.name, {}).get("wall_s", 0.0)
    (settings.run_dir(spec) / "train.log").write_text(result.stdout[-20000:] + result.stderr[-20000:])
    if result.returncode != 0:
        record.update(status="failed", error=result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"])
        store.put(record)
        echo(f"FAILED {spec.name}: {record['error'][0]} (see {settings.run_dir(spec) / 'train.log'})")
        return record
    save_artifacts(spec, settings)
    record.update(status="done", **read_result(spec, settings))
    cold = settings.run_dir(spec) / "cold_start.json"
    if settings.cold_start and cold.is_file():
        record["cold_start"] = json.loads(cold.read_text())
    store.put(record)
    echo(f"done   {spec.name}: test recall@20 {record['test']['recall@20']:.4f} in {record['wall_s']:.0f} s")
    return record


def run_all(specs: list[RunSpec], settings: Settings, store: RunStore, jobs: int = 1) -> list[dict[str, Any]]:
    """Run every spec not yet done, ``jobs`` at a time; returns the records of the runs made now."""
    todo = [s for s in specs if not store.done(s.name)]
    for spec in todo:
        if not spec.config(settings.configs).is_file():
            raise FileNotFoundError(f"no config {spec.config(settings.configs)} for {spec.name}")
    skipped = len(specs) - len(todo)
    print(f"{len(specs)} runs: {skipped} already done, {len(todo)} to run, {jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda s: execute(s, settings, store, lambda m: print(m, flush=True)), todo))
