"""GPU check: a few epochs on one GPU with SG-URInit computed on CUDA, then the same under 1-GPU DDP.

    python benchmarks/gpu_check.py                      # baby-shaped synthetic data, LightGCN, 3 epochs
    python benchmarks/gpu_check.py --shape small --epochs 2

Everything goes through ``train.py``'s CLI (:func:`lit_mmrec.cli.main`), in a temporary folder:

1. ``fit`` on one GPU (SG-URInit on): seconds of SG-URInit, of each training epoch and of each
   validation pass; the device SG-URInit computed on (must be CUDA);
2. ``fit`` with ``--trainer.strategy ddp --trainer.devices 1`` (NCCL; SG-URInit broadcast by rank 0):
   the same timings, and its validation metrics next to run 1's (not asserted: CUDA sparse kernels
   are not bitwise deterministic);
3. ``validate`` of run 2's ``last.ckpt`` plainly and under 1-GPU DDP: must agree;
4. ``predict`` under 1-GPU DDP: seconds, and every user with training interactions gets a row.

Prints a summary (and the peak GPU memory of the runs). Exit codes: 0 every check passed; 1 a check
failed (a run that raises ends the script with its traceback: 1, or the CLI's own 2); 77 skipped: CUDA is
not available (one line says so; nothing ran). ``--allow-cpu`` runs the same steps on the CPU instead of
skipping, to test this script itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from lit_mmrec.callbacks import SGURInit, TopKWriter
from lit_mmrec.cli import main as train

EXIT_SKIPPED = 77  # the automake/ctest convention for "skipped"
SHAPES = {  # users, items, mean interactions per user, modalities
    "tiny": (300, 200, 10.0, {"image": 16, "text": 8}),
    "small": (2_000, 1_500, 25.0, {"image": 128, "text": 64}),
    "baby": (19_445, 7_050, 8.27, {"image": 4096, "text": 384}),
}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Timer(L.Callback):
    """Wall-clock seconds of each training epoch and each validation pass; the device at fit start
    (where SG-URInit, which runs just before, computed). Added as ``--trainer.callbacks+=<this module>.Timer``."""

    def __init__(self) -> None:
        self.device = ""
        self.train: list[float] = []
        self.validation: list[float] = []
        self._start = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.device = str(pl_module.device)

    def _begin(self, *args: object) -> None:
        _sync()
        self._start = time.perf_counter()

    def _elapsed(self) -> float:
        _sync()
        return time.perf_counter() - self._start

    on_train_epoch_start = on_validation_epoch_start = _begin

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train.append(self._elapsed())

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.validation.append(self._elapsed())


def common_args(shape: str, accelerator: str, chunk: int) -> list[str]:
    users, items, activity, modalities = SHAPES[shape]
    return [
        "--model", "lit_mmrec.models.lightgcn.LightGCN",
        "--data", "lit_mmrec.data.datamodule.SyntheticDataModule",
        "--data.spec.num_users", str(users),
        "--data.spec.num_items", str(items),
        "--data.spec.mean_interactions_per_user", str(max(activity, 5.0)),
        "--data.spec.modalities", str(modalities).replace("'", ""),
        "--data.spec.name", f"gpu_check_{shape}",
        "--data.eval_chunk_size", str(chunk),
        "--trainer.accelerator", accelerator,
        "--trainer.devices", "1",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
    ]


def run(argv: list[str]):
    """One ``train.py`` run in this process; (the CLI object, seconds)."""
    program, sys.argv = sys.argv, sys.argv[:1]  # LightningCLI warns when it sees both argv and args
    try:
        _sync()
        start = time.perf_counter()
        cli = train(argv)
        _sync()
        return cli, time.perf_counter() - start
    finally:
        sys.argv = program


def find(cli, kind: type):
    return next(c for c in cli.trainer.callbacks if isinstance(c, kind))


def val_metrics(cli) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(cli.trainer.callback_metrics.items()) if k.startswith("val/")}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="baby")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eval-chunk-size", type=int, default=2048)
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no CUDA (tests this script)")
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> int:
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    device = torch.cuda.get_device_name(0) if accelerator == "gpu" else "CPU (--allow-cpu)"
    print(f"gpu_check on {device}; torch {torch.__version__}; shape {args.shape} {SHAPES[args.shape][:2]}")
    common = common_args(args.shape, accelerator, args.eval_chunk_size)
    sgurinit = ["--trainer.callbacks+=lit_mmrec.callbacks.SGURInit", f"--trainer.callbacks+={Timer.__module__}.Timer"]
    fit = ["--trainer.max_epochs", str(args.epochs), "--test_after_fit", "false"]
    ddp = ["--trainer.strategy", "ddp"]
    failures: list[str] = []

    plain, plain_seconds = run(["fit", *common, *sgurinit, *fit, "--experiment", "gpu_plain"])
    dist, dist_seconds = run(["fit", *common, *sgurinit, *fit, *ddp, "--experiment", "gpu_ddp"])
    last = str(Path("checkpoints/gpu_ddp/last.ckpt").resolve())
    alone, _ = run(["validate", *common, "--experiment", "gpu_validate", "--ckpt_path", last])
    shared, _ = run(["validate", *common, *ddp, "--experiment", "gpu_validate_ddp", "--ckpt_path", last])
    predicted, predict_seconds = run(["predict", *common, *ddp, "--experiment", "gpu_predict", "--ckpt_path", last])

    print(f"\n{'run':<22}{'total s':>9}{'SG-URInit s':>13}{'on':>8}{'epoch s (each)':>34}{'val pass s':>12}")
    for name, cli, seconds in (("fit, 1 GPU", plain, plain_seconds), ("fit, 1-GPU DDP", dist, dist_seconds)):
        timer, init = find(cli, Timer), find(cli, SGURInit)
        epochs = " ".join(f"{s:.3f}" for s in timer.train)
        mean_val = sum(timer.validation) / max(len(timer.validation), 1)
        print(f"{name:<22}{seconds:>9.1f}{init.seconds or 0:>13.3f}{timer.device:>8}{epochs:>34}{mean_val:>12.3f}")
        if accelerator == "gpu" and not timer.device.startswith("cuda"):
            failures.append(f"{name}: SG-URInit ran on {timer.device}, not CUDA")

    print("\nvalidation metrics     fit 1 GPU   fit DDP   | last.ckpt: validate   validate DDP")
    a, b, c, d = val_metrics(plain), val_metrics(dist), val_metrics(alone), val_metrics(shared)
    for name in c:
        print(f"  {name:<20}{a.get(name, float('nan')):>9.4f}{b.get(name, float('nan')):>10.4f}"
              f"   |{c[name]:>20.6f}{d.get(name, float('nan')):>15.6f}")
        if abs(c[name] - d.get(name, float("nan"))) > 1e-5 or name not in d:
            failures.append(f"{name}: validate {c[name]} but validate under DDP {d.get(name)}")

    writer = find(predicted, TopKWriter)
    path = writer.paths.get("csv")
    with open(path, newline="") as handle:
        users = {row["user"] for row in csv.DictReader(handle)}
    expected = len(torch.unique(predicted.datamodule.dataset.train.users))
    print(f"\npredict, 1-GPU DDP: {predict_seconds:.1f} s, top-{writer.k} for {len(users)} users -> {path}")
    if len(users) != expected:
        failures.append(f"predict wrote {len(users)} users, expected {expected}")

    if accelerator == "gpu":
        print(f"peak GPU memory over the runs: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    print("\n" + ("FAILED:\n  " + "\n  ".join(failures) if failures else "all checks passed"))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(f"gpu_check: skipped, CUDA is not available (torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
              f"exit code {EXIT_SKIPPED}")
        return EXIT_SKIPPED
    previous = os.getcwd()
    os.chdir(tempfile.mkdtemp(prefix="lit_mmrec_gpu_check_"))  # checkpoints/, logs/, predictions/ of the runs
    try:
        return check(args)
    finally:
        os.chdir(previous)


if __name__ == "__main__":
    sys.exit(main())
