"""A/B timing of training epochs and validations: two source trees of lit-mmrec, one config, alternated.

Each run is a fresh process that trains ``--epochs`` epochs of ``train.py fit`` (the config as given, one
thread, no logger, no test) from one tree and prints the seconds of every training epoch (the epoch minus its
validation, as ``studies/mmrec_side_by_side.py``'s ``PhaseTimer``) and of every validation. Runs alternate
A, B, A, B, ... ``--repeats`` times each; the first ``--skip`` epochs of every run are left out (start-up).
Prints every run's median s/epoch and s/eval, then per side the median over runs and the ratio A / B.

    python benchmarks/ab_epoch.py --config configs/ml100k/pgl.yaml --a HEAD~1 --b . --epochs 4 --repeats 4

``--a`` / ``--b``: a git revision (exported with ``git archive`` to a temporary folder) or ``.`` (this working
tree, uncommitted changes included). ``--a original:FOLDER:MODEL`` runs MMRec's own code instead: ``FOLDER`` an
export as ``studies/mmrec_side_by_side.py`` makes it (``mmrec/`` with ``src/`` and ``data/``; copied, never
written to), ``MODEL`` its model name (``PGL``, ``DAMRS``), with ``--original_python`` (MMRec's venv). Its trainer
times epochs with ``time()``; here that name is bound to ``time.process_time``, so its log gives the CPU seconds
of every training epoch and validation (its wall seconds per epoch are not available: shown as nan).

    python benchmarks/ab_epoch.py --config configs/ml100k/pgl.yaml --epochs 4 --repeats 3 \
        --a original:/path/to/runs/original/pgl/mmrec:PGL --original_python /work/mmrec-venv/bin/python ``--profile N``: instead of timing, run one tree (``--b``) and print
``torch.profiler``'s top ``N`` operations (self CPU time) over one training epoch and one validation (the epoch
after the first ``--skip``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(tree: Path, config: str, data_dir: str, epochs: int, skip: int, profile: int) -> None:
    """Train in this process from ``tree``; print one JSON line ``{"train_s": [...], "eval_s": [...]}``."""
    sys.path.insert(0, str(tree))
    import lightning as L
    import torch

    from lit_mmrec.cli import MMRecCLI
    from lit_mmrec.console import setup_process
    from lit_mmrec.data.datamodule import MMRecDataModule
    from lit_mmrec.models.base import RecommenderModule

    assert Path(sys.modules["lit_mmrec"].__file__).resolve().is_relative_to(tree.resolve())
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {"train_s": [], "eval_s": [], "train_cpu_s": [], "eval_cpu_s": [], "recall": []}

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.epoch_start = self.eval_start = self.eval_s = 0.0
            self.profiler: torch.profiler.profile | None = None

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            if profile and trainer.current_epoch == skip:
                self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.profiler.__enter__()
            self.epoch_start, self.eval_s = time.perf_counter(), 0.0
            self.epoch_cpu, self.eval_cpu = time.process_time(), 0.0

        def on_validation_start(self, trainer, pl_module) -> None:
            self.eval_start, self.eval_cpu_start = time.perf_counter(), time.process_time()

        def on_validation_end(self, trainer, pl_module) -> None:
            self.eval_s += time.perf_counter() - self.eval_start
            self.eval_cpu += time.process_time() - self.eval_cpu_start

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            total, total_cpu = time.perf_counter() - self.epoch_start, time.process_time() - self.epoch_cpu
            times["train_s"].append(total - self.eval_s)
            times["eval_s"].append(self.eval_s)
            times["train_cpu_s"].append(total_cpu - self.eval_cpu)
            times["eval_cpu_s"].append(self.eval_cpu)
            times["recall"].append(float(trainer.callback_metrics.get("val/recall@20", float("nan"))))
            if self.profiler is not None:
                self.profiler.__exit__(None, None, None)
                table = self.profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=profile)
                print(table)
                self.profiler = None

    timer = Timer()

    class TimedCLI(MMRecCLI):
        def fit(self, **kwargs) -> None:
            self.trainer.callbacks.insert(0, timer)
            super().fit(**kwargs)

    setup_process()
    torch.set_float32_matmul_precision("high")
    args = [
        "fit", "--config", str(tree / config), "--data.init_args.data_dir", data_dir,
        "--trainer.max_epochs", str(epochs), "--test_after_fit", "false", "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--experiment", "ab",
    ]
    TimedCLI(
        RecommenderModule, MMRecDataModule, subclass_mode_model=True, subclass_mode_data=True,
        seed_everything_default=999, save_config_kwargs={"overwrite": True}, args=args, auto_configure_optimizers=False,
    )
    print(json.dumps(times))


def export(revision: str, folder: Path) -> Path:
    """``revision`` as a source tree: ``.`` is a copy of this working tree's package and configs as they are
    now (edits made while the runs go on do not reach them), anything else ``git archive``'s export."""
    if revision == ".":
        target = folder / "working-tree"
        for part in ("lit_mmrec", "configs"):
            shutil.copytree(ROOT / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        return target
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", revision], check=True, capture_output=True, text=True)
    target = folder / sha.stdout.strip()[:12]
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha.stdout.strip()], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


#: MMRec's log line of one epoch: ``epoch 3 training [time: 2.51s, ...`` / ``epoch 3 evaluating [time: 0.08s, ...``
ORIGINAL_EPOCH = re.compile(r"epoch (\d+) (training|evaluating) \[time: ([0-9.]+)s")


def prepare_original(spec: str, folder: Path, epochs: int) -> tuple[Path, str]:
    """Copy MMRec's export named by ``original:FOLDER:MODEL`` and set its epoch count; ``(src folder, model)``."""
    _, source, model = spec.split(":")
    target = folder / "original"
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("log", "__pycache__"))
    config = target / "src" / "configs" / "dataset" / "ml100k.yaml"
    config.write_text(re.sub(r"(?m)^epochs: .*$", f"epochs: {epochs}", config.read_text()))
    return target / "src", model


def run_original(src: Path, model: str, python: str) -> dict[str, list[float]]:
    """MMRec's ``main.py`` on one thread, its epoch timer reading CPU seconds; the seconds from its log."""
    driver = (
        "import sys, time, runpy, torch; torch.set_num_threads(1); sys.path.insert(0, '.'); "
        "import common.trainer as trainer; trainer.time = time.process_time; "
        "sys.argv = ['main.py', '--model', sys.argv[1], '--dataset', 'ml100k']; "
        "runpy.run_path('main.py', run_name='__main__')"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([python, "-c", driver, model], cwd=src, env=env, check=True, capture_output=True, text=True)
    seconds: dict[str, dict[int, float]] = {"training": {}, "evaluating": {}}
    for epoch, phase, value in ORIGINAL_EPOCH.findall(done.stdout + done.stderr):
        seconds[phase][int(epoch)] = float(value)
    train = [seconds["training"][e] for e in sorted(seconds["training"])]
    evaluation = [seconds["evaluating"][e] for e in sorted(seconds["evaluating"])]
    nan = [float("nan")] * len(train)
    return {"train_s": nan, "eval_s": nan, "train_cpu_s": train, "eval_cpu_s": evaluation, "recall": nan}


def run(tree: Path, options: argparse.Namespace, workdir: Path, profile: int = 0) -> dict[str, list[float]]:
    command = [
        sys.executable, __file__, "--worker", str(tree), "--config", options.config, "--data_dir", options.data_dir,
        "--epochs", str(options.epochs), "--skip", str(options.skip), "--profile", str(profile),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=workdir, env=env, check=True, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if profile:
        print("\n".join(lines[:-1]))
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config path relative to the tree's root")
    parser.add_argument("--data_dir", default=str(ROOT / "data" / "ml100k"))
    parser.add_argument("--a", default="HEAD", help="git revision or '.'")
    parser.add_argument("--b", default=".", help="git revision or '.'")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--skip", type=int, default=1, help="leading epochs of each run left out")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--original_python", default="/work/mmrec-venv/bin/python", help="MMRec's Python")
    parser.add_argument("--profile", type=int, default=0, help="print the top N operations of one epoch of --b")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    options.data_dir = str(Path(options.data_dir).resolve())
    if options.worker is not None:
        worker(options.worker, options.config, options.data_dir, options.epochs, options.skip, options.profile)
        return
    with tempfile.TemporaryDirectory(prefix="ab_epoch_") as tmp:
        workdir, exports = Path(tmp) / "run", Path(tmp) / "trees"
        workdir.mkdir()
        trees = {side: export(getattr(options, side.lower()), exports) for side in ("A", "B")
                 if not getattr(options, side.lower()).startswith("original:")}
        originals = {side: prepare_original(getattr(options, side.lower()), Path(tmp) / side, options.epochs)
                     for side in ("A", "B") if getattr(options, side.lower()).startswith("original:")}
        if options.profile:
            times = run(trees["B"], options, workdir, options.profile)
            print(f"B ({options.b}) s/epoch {times['train_s']}  s/eval {times['eval_s']}")
            return
        keys = ("train_s", "eval_s", "train_cpu_s", "eval_cpu_s")
        results: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        print(f"A = {options.a}, B = {options.b}, {options.config}, {options.epochs} epochs (first {options.skip} left out)")
        for repeat in range(options.repeats):
            for side in ("A", "B"):
                if side in originals:
                    times = run_original(*originals[side], options.original_python)
                else:
                    times = run(trees[side], options, workdir)
                row = {key: statistics.median(times[key][options.skip :]) for key in keys}
                results[side].append(row)
                print(
                    f"run {repeat} {side}: s/epoch {row['train_s']:.3f} (CPU {row['train_cpu_s']:.3f})  "
                    f"s/eval {row['eval_s']:.4f} (CPU {row['eval_cpu_s']:.4f})  "
                    f"val recall@20 per epoch {' '.join(f'{r:.6f}' for r in times['recall'])}  "
                    f"(load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        summary = {side: {key: statistics.median(r[key] for r in rows) for key in keys} for side, rows in results.items()}
        for side, row in summary.items():
            print(f"{side}: median " + "  ".join(f"{key} {value:.4f}" for key, value in row.items()))
        print("A / B: " + "  ".join(f"{key} {summary['A'][key] / summary['B'][key]:.3f}x" for key in keys))

if __name__ == "__main__":
    main()
