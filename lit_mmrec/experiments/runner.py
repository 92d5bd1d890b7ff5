"""One run = one ``train.py fit`` subprocess; ``runs.json`` records every run and makes a study resumable.

A run is identified by (data set, backbone, variant, seed) and named
``<study>_<dataset>_<model>_<variant>_s<seed>``. Its checkpoints go to ``checkpoints/<name>/`` and its
CSV logs to ``<logs>/<name>/version_*/`` (both under the working folder), and its result folder
``<out>/runs/<name>/`` receives the full resolved configuration (``config.yaml``, as Lightning saved
it), the merged ``metrics.csv`` and, when asked, ``cold_start.json``.

Paths: every path a run is given (``train.py``, the config, the log folder, ``cold_start.json``) is relative
to the working folder (the repository root by default), and ``runs.json``, ``config.yaml`` and ``train.log``
record them that way, with the working folder's absolute path removed from the run's log and interpreter paths
shortened to ``site-packages/...`` (:func:`relative_text`): a study's records mean the same on any machine, and
``--report_only`` reads nothing else than ``runs.json``.

Threads: ``jobs`` runs at a time each get ``max(1, cores // jobs)`` threads (``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` of the child, which torch reads at start for its intra-op pool) unless the user set
``OMP_NUM_THREADS``: with torch's default (one thread per core in every child) two FREEDOM runs on 2 cores
took 5.2 s per epoch instead of 1.0 s.

Resumption: a run recorded as ``done`` in ``runs.json`` is never run again; a run that was
interrupted (its ``checkpoints/<name>/last.ckpt`` exists) is restarted with ``--ckpt_path last``,
which continues exactly where it stopped; anything else starts from scratch (its old logs removed).

Continuation (``Settings.continue_from``, ``--continue_from DIR``): a run of the new study starts from the
finished run of the same (data set, backbone, variant, seed) in the study at ``DIR``: that run's
``checkpoints/<name>/`` (hard-linked where the file system allows) and logs are copied under the new run's name
(same working folder) and training resumes from its ``last.ckpt`` with the new study's arguments, e.g. a longer
stopping rule. Training is deterministic and resumption exact, and a run's training does not depend on its
stopping rule, so the continued run is the run trained under the new rule from the start, at the cost of its extra
epochs only, provided the new rule never stops earlier than the earlier run's (a longer patience or warm-up, a
larger epoch budget). Its record says ``continued_from`` and its ``wall_s`` includes the earlier run's. The copied
``last.ckpt`` has its checkpoint callbacks' paths moved to the new folder (:func:`retarget_checkpoint`), so the
continued run keeps the earlier run's best checkpoint (copied with it) as its best until it beats it, and its test
reads the best of the whole run; the earlier study's folders are only read.
"""

from __future__ import annotations

import csv
import json
import os
import re
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

import yaml

from lit_mmrec.errors import InputError, check_integer, probe_folder
from lit_mmrec.experiments import logs
from lit_mmrec.experiments.convergence import convergence, group_curves_of_rows
from lit_mmrec.experiments.runs_json import read_runs, write_runs
from lit_mmrec.experiments.variants import Variant

#: every test user's metrics of a run (:class:`~lit_mmrec.callbacks.UserGroupMetrics`), in its run folder
PER_USER = "per_user.npz"

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
        continue_from: result folder of an earlier study whose finished runs the runs continue (see the
            module docstring); None: every run starts from scratch.
    """

    out: Path
    configs: Path = ROOT / "configs"
    workdir: Path = Path(".")
    logs: Path = Path("logs/experiments")
    max_epochs: int | None = None
    cold_start: tuple[int, ...] = ()
    extra: tuple[str, ...] = ()
    continue_from: Path | None = None

    @property
    def logs_dir(self) -> Path:
        return self.logs if self.logs.is_absolute() else self.workdir / self.logs

    def run_dir(self, spec: RunSpec) -> Path:
        return self.out / "runs" / spec.name


def relative_to(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` (both resolved; ``..`` where ``path`` is outside ``start``)."""
    return os.path.relpath(Path(path).resolve(), Path(start).resolve())


#: An interpreter's library folder (``/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/``).
_SITE_PACKAGES = re.compile(r"(?:/[^\s/'\":]+)+/(?:site|dist)-packages/")


def relative_text(text: str, roots: Iterable[Path | str]) -> str:
    """``text`` with every ``<root>/`` removed (paths under a root become relative to it) and every
    interpreter library path shortened to ``site-packages/``; roots are tried longest first."""
    for root in sorted({str(r).rstrip("/") for r in roots}, key=len, reverse=True):
        text = text.replace(root + "/", "")
    return _SITE_PACKAGES.sub("site-packages/", text)


def relativise_study(out: Path, roots: Iterable[Path | str]) -> list[Path]:
    """Rewrite a study folder's ``runs.json`` and every ``runs/*/config.yaml`` and ``runs/*/train.log`` with
    :func:`relative_text` (for studies whose records hold absolute paths); returns the files changed."""
    changed = []
    files = [out / "runs.json", *sorted(out.glob("runs/*/config.yaml")), *sorted(out.glob("runs/*/train.log"))]
    for path in files:
        if path.is_file():
            text = path.read_text()
            new = relative_text(text, roots)
            if new != text:
                path.write_text(new)
                changed.append(path)
    return changed


def thread_share(jobs: int, cores: int | None = None) -> int:
    """Threads of each of ``jobs`` concurrent runs: ``max(1, cores // jobs)``, cores usable by this process."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, jobs))


def child_environment(jobs: int, environ: dict[str, str] | None = None, cores: int | None = None) -> dict[str, str]:
    """The environment of a run: ``environ`` (default ``os.environ``) with ``OMP_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` set to :func:`thread_share` unless ``OMP_NUM_THREADS`` is already set."""
    env = dict(os.environ if environ is None else environ)
    if "OMP_NUM_THREADS" not in env:
        threads = str(thread_share(jobs, cores))
        env["OMP_NUM_THREADS"] = threads
        env.setdefault("MKL_NUM_THREADS", threads)
    return env


def runner_arguments(spec: RunSpec, settings: Settings) -> list[str]:
    """The ``train.py fit`` arguments the runner derives from ``spec`` and ``settings`` alone (config, run name,
    seeds, logger, :class:`~lit_mmrec.callbacks.EpochTimer`, per-user metrics, cold start), paths relative to
    ``settings.workdir`` (its cwd); a record does not repeat them."""
    here = settings.workdir
    args = [
        relative_to(ROOT / "train.py", here), "fit", "--config", relative_to(spec.config(settings.configs), here),
        "--experiment", spec.name, "--seed_everything", str(spec.seed), "--data.init_args.seed", str(spec.seed),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
        "--trainer.logger.init_args.save_dir", relative_to(settings.logs_dir, here),
        "--trainer.logger.init_args.name", spec.name,
        # first, so that the elapsed time it logs includes SG-URInit
        "--trainer.callbacks+=lit_mmrec.callbacks.EpochTimer",
    ]
    # every test user's metrics, for the paired comparison over users (paired.md)
    args += [
        "--trainer.callbacks+=lit_mmrec.callbacks.UserGroupMetrics",
        "--trainer.callbacks.init_args.per_user", relative_to(settings.run_dir(spec) / PER_USER, here),
    ]
    if settings.cold_start:
        args += [
            "--trainer.callbacks+=lit_mmrec.callbacks.ColdStartEvaluation",
            "--trainer.callbacks.init_args.thresholds", json.dumps(list(settings.cold_start)),
            "--trainer.callbacks.init_args.output", relative_to(settings.run_dir(spec) / "cold_start.json", here),
        ]
    return args


def run_options(spec: RunSpec, settings: Settings, resume: bool) -> list[str]:
    """The ``train.py fit`` arguments that set a run apart beyond :func:`runner_arguments` (what its record keeps
    as ``options``): SG-URInit's fragment and options, ``--trainer.max_epochs``, ``settings.extra`` and, when
    resuming, ``--ckpt_path last``."""
    # SG-URInit from its configs/sgurinit/ fragment, composed after the backbone config as a user would
    args = spec.variant.callback_args(spec.seed, relative_to(settings.configs / "sgurinit", settings.workdir))
    if settings.max_epochs is not None:
        args += ["--trainer.max_epochs", str(settings.max_epochs)]
    args += list(settings.extra)
    if resume:
        args += ["--ckpt_path", "last"]
    return args


#: What a run's code is made of: a change to these paths (uncommitted) marks the record's ``code``.
CODE_PATHS = ("lit_mmrec", "configs", "train.py")


def code_version(root: Path = ROOT) -> str | None:
    """The git commit of the code that trains (``root``'s checkout), with ``+changes`` when
    :data:`CODE_PATHS` differ from it; None outside a git checkout or without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
        changed = subprocess.run(["git", "status", "--porcelain", "--", *CODE_PATHS], cwd=root,
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0 or changed.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if changed.stdout.strip() else "")


def command(spec: RunSpec, settings: Settings, resume: bool) -> list[str]:
    """The ``train.py fit`` command line of ``spec``, its paths relative to ``settings.workdir`` (its cwd)."""
    return [sys.executable, *runner_arguments(spec, settings), *run_options(spec, settings, resume)]


class RunStore:
    """``runs.json`` (:mod:`~lit_mmrec.experiments.runs_json`): one record per run name, sorted by name, rewritten
    atomically after every change (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            self.records = {r["name"]: r for r in read_runs(path)}

    def done(self, name: str) -> bool:
        return self.records.get(name, {}).get("status") == "done"

    def put(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records[record["name"]] = record
            write_runs(self.path, sorted(self.records.values(), key=lambda r: r["name"]))

    def select(self, specs: Iterable[RunSpec]) -> list[dict[str, Any]]:
        """The finished records of ``specs``, in their order."""
        return [self.records[s.name] for s in specs if self.done(s.name)]


def read_result(spec: RunSpec, settings: Settings) -> dict[str, Any]:
    """Test metrics, validation curve summary (overall and per user-activity group, when logged) and SG-URInit
    seconds of a finished run, from its logs."""
    rows = logs.read_rows(settings.logs_dir / spec.name)
    test = logs.test_metrics(rows)
    missing = [m for m in logs.TEST_METRICS if m not in test]
    if missing:
        raise RuntimeError(f"run {spec.name}: no test metrics {missing} in its logs")
    result: dict[str, Any] = {"test": {m: test[m] for m in logs.TEST_METRICS}}
    curve = logs.validation_curve(rows)
    result.update(convergence(curve))
    result["sgurinit_s"] = logs.first_value(rows, "sgurinit/seconds")
    by_group = group_curves_of_rows(rows)
    if by_group:
        result["group_curves"] = by_group
    found = logs.diagnostics(rows)
    if found is not None:
        result["diagnostics"] = found
    stopping = stopping_settings(settings.logs_dir / spec.name)
    if stopping is not None:
        result["stopping"] = stopping
    return result


#: The early-stopping settings a run's record keeps (:func:`stopping_settings`).
STOPPING_KEYS = ("rule", "patience", "warmup", "min_delta", "relative_min_delta")


def stopping_settings(run_logs: Path) -> dict[str, Any] | None:
    """The ``early_stopping`` settings (:data:`STOPPING_KEYS`) of the last version's ``config.yaml`` under
    ``run_logs``: the session that trained to the stop (a resumed or continued run adds a version per session).
    None when no version has a config with an ``early_stopping`` section."""
    configs = [v / "config.yaml" for v in logs.version_dirs(run_logs) if (v / "config.yaml").is_file()]
    if not configs:
        return None
    section = (yaml.safe_load(configs[-1].read_text()) or {}).get("early_stopping")
    if not isinstance(section, dict):
        return None
    return {key: section.get(key) for key in STOPPING_KEYS}


#: The sizes a record's ``cold_start`` keeps beside :data:`~lit_mmrec.experiments.logs.TEST_METRICS`.
COLD_START_SIZES = ("cold_items", "candidates", "test_interactions", "users")


def cold_start_record(found: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """What a record keeps of a run's ``cold_start.json``: per threshold key, the sizes and the test metrics the
    reports read (:data:`~lit_mmrec.experiments.logs.TEST_METRICS`); the run's folder keeps the whole file."""
    keep = (*COLD_START_SIZES, *logs.TEST_METRICS)
    return {key: {name: value for name, value in entry.items() if name in keep} for key, entry in found.items()}


def save_artifacts(spec: RunSpec, settings: Settings) -> None:
    """Copy the resolved config and the merged metrics into the run's result folder. The config is the last
    version's, the session that trained to the stop (as :func:`stopping_settings` reads): a continued run's
    first version is the earlier study's session, under its stopping rule."""
    target = settings.run_dir(spec)
    target.mkdir(parents=True, exist_ok=True)
    versions = logs.version_dirs(settings.logs_dir / spec.name)
    configs = [v / "config.yaml" for v in versions if (v / "config.yaml").is_file()]
    if configs:
        (target / "config.yaml").write_text(relative_text(configs[-1].read_text(), [settings.workdir.resolve(), ROOT]))
    rows = logs.read_rows(settings.logs_dir / spec.name)
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("epoch", "step"), k))
    with open(target / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def link_or_copy(source: str, target: str) -> None:
    """Hard-link ``source`` at ``target`` (a continued run's copy of an earlier run's checkpoints costs no disk:
    checkpoints are written atomically, by replacing the file, so neither run can change the other's), or copy
    it where the file system cannot link."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def retarget_checkpoint(source: Path, target: Path, old: Path, new: Path) -> None:
    """Write the checkpoint at ``source`` to ``target`` (atomically, :class:`~lit_mmrec.callbacks.AtomicCheckpointIO`)
    with its checkpoint callbacks' paths moved from folder ``old`` to folder ``new``. Lightning's
    ``ModelCheckpoint`` restores its record of the best checkpoint only when its folder is unchanged; in a copied
    run folder it would otherwise start afresh, and the run's test would read the best checkpoint of the
    continuation's epochs alone, not of the whole run. FileNotFoundError when the checkpoint's folder is not
    ``old`` (saved through another path): continuing would lose the best record."""
    # here, not at the top: reports (--report_only) need neither torch nor Lightning
    from lit_mmrec.callbacks.checkpoint_io import AtomicCheckpointIO

    old_text, new_text = str(old.resolve()), str(new.resolve())

    def moved(value: Any) -> Any:
        if isinstance(value, str) and (value == old_text or value.startswith(old_text + os.sep)):
            return new_text + value[len(old_text):]
        if isinstance(value, dict):
            return {moved(k): moved(v) for k, v in value.items()}
        return value

    io = AtomicCheckpointIO()
    checkpoint = io.load_checkpoint(source, map_location="cpu", weights_only=False)
    checkpoint["callbacks"] = {key: moved(state) if key.startswith("ModelCheckpoint") else state
                               for key, state in checkpoint.get("callbacks", {}).items()}
    stray = [state["dirpath"] for key, state in checkpoint["callbacks"].items()
             if key.startswith("ModelCheckpoint") and state.get("dirpath") not in (None, new_text)]
    if stray:
        raise FileNotFoundError(f"{source}: its checkpoints were saved in {stray[0]}, not {old_text}; cannot continue it")
    io.save_checkpoint(checkpoint, target)


def continued_name(spec: RunSpec, settings: Settings) -> str:
    """Name of the run of ``settings.continue_from``'s study that ``spec`` continues."""
    assert settings.continue_from is not None
    return RunSpec(settings.continue_from.name, spec.dataset, spec.model, spec.variant, spec.seed).name


def check_continuable(specs: Iterable[RunSpec], settings: Settings) -> dict[str, dict[str, Any]]:
    """The earlier study's finished record of every spec that will continue from it (those without a
    ``last.ckpt`` of their own), by the spec's name. FileNotFoundError naming the first run that has no
    finished record or no checkpoint folder to continue from."""
    if settings.continue_from is None:
        return {}
    earlier = RunStore(settings.continue_from / "runs.json")
    if not earlier.path.is_file():
        raise FileNotFoundError(f"--continue_from {settings.continue_from}: no runs.json there")
    found = {}
    for spec in specs:
        if (settings.workdir / "checkpoints" / spec.name / "last.ckpt").is_file():
            continue  # already continued (and interrupted): resumes from its own checkpoint
        name = continued_name(spec, settings)
        if not earlier.done(name):
            raise FileNotFoundError(f"--continue_from {settings.continue_from}: no finished run {name} to continue "
                                    f"{spec.name} from")
        for folder in (settings.workdir / "checkpoints" / name, settings.logs_dir / name):
            if not folder.is_dir():
                raise FileNotFoundError(f"cannot continue {spec.name} from {name}: no folder {folder}")
        if not (settings.workdir / "checkpoints" / name / "last.ckpt").is_file():
            raise FileNotFoundError(f"cannot continue {spec.name}: no {settings.workdir / 'checkpoints' / name / 'last.ckpt'}")
        found[spec.name] = earlier.records[name]
    return found


def execute(
    spec: RunSpec, settings: Settings, store: RunStore, echo: Callable[[str], None] = print,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train ``spec`` (or resume it) with environment ``env`` (default: :func:`child_environment` of one
    job), then record its result in ``store``; returns the record."""
    env = child_environment(1) if env is None else env
    last = settings.workdir / "checkpoints" / spec.name / "last.ckpt"
    resume = last.is_file()
    earlier = None
    if not resume:
        shutil.rmtree(settings.logs_dir / spec.name, ignore_errors=True)
        if settings.continue_from is not None:
            earlier = check_continuable([spec], settings)[spec.name]
            old = continued_name(spec, settings)
            shutil.rmtree(settings.workdir / "checkpoints" / spec.name, ignore_errors=True)
            shutil.copytree(settings.logs_dir / old, settings.logs_dir / spec.name)
            # last.ckpt written last (atomically): until it exists, a crash here leaves a run that starts over
            source = settings.workdir / "checkpoints" / old
            shutil.copytree(source, last.parent, ignore=shutil.ignore_patterns("last.ckpt"), copy_function=link_or_copy)
            retarget_checkpoint(source / "last.ckpt", last, source, last.parent)
            resume = True
    settings.run_dir(spec).mkdir(parents=True, exist_ok=True)
    args = command(spec, settings, resume)
    record: dict[str, Any] = {
        "name": spec.name, "dataset": spec.dataset, "model": spec.model, "variant": spec.variant.name,
        "seed": spec.seed, "config": relative_to(spec.config(settings.configs), ROOT),
        "options": run_options(spec, settings, resume), "threads": env.get("OMP_NUM_THREADS"),
        "code": code_version(),
    }
    workdir = relative_to(settings.workdir, ROOT)
    if workdir != ".":
        record["workdir"] = workdir
    if settings.continue_from is not None:
        record["continued_from"] = continued_name(spec, settings)
    echo(f"{'continue' if earlier else 'resume' if resume else 'start '} {spec.name}")
    start = time.perf_counter()
    result = subprocess.run(args, cwd=settings.workdir, capture_output=True, text=True, env=env)
    before = (earlier or store.records.get(spec.name, {})).get("wall_s", 0.0)
    record["wall_s"] = time.perf_counter() - start + before
    log_text = relative_text(result.stdout[-20000:] + result.stderr[-20000:], [settings.workdir.resolve(), ROOT])
    (settings.run_dir(spec) / "train.log").write_text(log_text)
    if result.returncode != 0:
        record.update(status="failed", error=result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"])
        store.put(record)
        echo(f"FAILED {spec.name}: {record['error'][0]} (see {settings.run_dir(spec) / 'train.log'})")
        return record
    save_artifacts(spec, settings)
    record.update(status="done", **read_result(spec, settings))
    cold = settings.run_dir(spec) / "cold_start.json"
    if settings.cold_start and cold.is_file():
        record["cold_start"] = cold_start_record(json.loads(cold.read_text()))
    store.put(record)
    echo(f"done   {spec.name}: test recall@20 {record['test']['recall@20']:.4f} in {record['wall_s']:.0f} s")
    return record


def check_before_runs(specs: list[RunSpec], settings: Settings, jobs: int) -> None:
    """Everything a study needs, checked before its first run (:class:`~lit_mmrec.errors.InputError`, one line):
    ``jobs`` and the settings' numbers in range, the working folder an existing folder, the result and log
    folders writable (:func:`~lit_mmrec.errors.probe_folder`), and every run's config and SG-URInit fragment a
    YAML mapping."""
    check_integer("--jobs", "the number of runs at a time", jobs, 1)
    if settings.max_epochs is not None:
        check_integer("--max_epochs", "the epoch budget", settings.max_epochs, 1)
    for threshold in settings.cold_start:
        check_integer("--cold_start", "every threshold", threshold, 0)
    if not settings.workdir.is_dir():
        raise InputError(f"--workdir {settings.workdir}: no such folder (the runs' working folder)")
    if not specs:
        return
    probe_folder(settings.out, "--out")
    probe_folder(settings.logs_dir, "--logs")
    configs = {spec.config(settings.configs): spec.name for spec in specs}
    for spec in specs:
        if spec.variant.fragment is not None:
            configs.setdefault(settings.configs / "sgurinit" / f"{spec.variant.fragment}.yaml", spec.name)
    for path, name in configs.items():
        if not path.is_file():
            kind = "SG-URInit fragment" if path.parent.name == "sgurinit" else "config"
            raise InputError(f"no {kind} {path} for {name} (--configs {settings.configs})")
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: not a YAML file ({' '.join(str(error).split())[:120]})") from None
        if not isinstance(content, dict):
            raise InputError(f"{path}: not a mapping of options (for {name})")


def run_all(specs: list[RunSpec], settings: Settings, store: RunStore, jobs: int = 1) -> list[dict[str, Any]]:
    """Run every spec not yet done, ``jobs`` at a time, each with its share of the cores
    (:func:`child_environment`); returns the records of the runs this call made."""
    todo = [s for s in specs if not store.done(s.name)]
    check_before_runs(todo, settings, jobs)
    check_continuable(todo, settings)
    skipped = len(specs) - len(todo)
    env = child_environment(jobs)
    print(f"{len(specs)} runs: {skipped} already done, {len(todo)} to run, {jobs} at a time, "
          f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']} each", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda s: execute(s, settings, store, lambda m: print(m, flush=True), env), todo))
