"""SG-URInit versus random initialisation for one backbone config: accuracy, convergence, overhead.

Runs ``train.py fit`` once per (initialisation, seed) in subprocesses (``--jobs`` at a time),
then prints, per run: test Recall@20 / NDCG@20 at the best-validation checkpoint, the best
validation Recall@20 and its epoch, the epochs run, SG-URInit's seconds and its share of the
fit's wall time; and mean ± std per initialisation.

    python benchmarks/sgurinit_study.py --config configs/ml100k/lightgcn.yaml \
        --variants random item-sum item-attention user-sum user-attention --seeds 999

A variant is ``random`` or ``<cluster_on>-<fusion>``. Results (one JSON line per run) are appended
to ``--out``; a run already there is not run again.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_name(config: Path, variant: str, seed: int) -> str:
    return f"study_{config.parent.name}_{config.stem}_{variant}_s{seed}"


def command(config: Path, variant: str, seed: int, extra: list[str]) -> list[str]:
    name = run_name(config, variant, seed)
    args = [
        sys.executable, str(ROOT / "train.py"), "fit", "--config", str(config),
        "--experiment", name, "--seed_everything", str(seed), "--data.init_args.seed", str(seed),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
        "--trainer.logger.init_args.save_dir", "logs", "--trainer.logger.init_args.name", name,
    ]
    if variant != "random":
        cluster_on, fusion = variant.split("-")
        args += [
            "--trainer.callbacks+=lit_mmrec.callbacks.SGURInit",
            "--trainer.callbacks.init_args.cluster_on", cluster_on,
            "--trainer.callbacks.init_args.fusion", fusion,
            "--trainer.callbacks.init_args.seed", str(seed),
        ]
    return args + extra


def read_metrics(name: str) -> dict:
    versions = sorted((ROOT / "logs" / name).glob("version_*/metrics.csv"), key=lambda p: p.stat().st_mtime)
    rows = list(csv.DictReader(open(versions[-1])))
    val = [(int(r["epoch"]), float(r["val/recall@20"])) for r in rows if r.get("val/recall@20")]
    best_epoch, best_val = max(val, key=lambda v: (v[1], -v[0]))
    test = next(r for r in rows if r.get("test/recall@20"))
    init = [float(r["sgurinit/seconds"]) for r in rows if r.get("sgurinit/seconds")]
    reach = next(e for e, v in val if v >= 0.95 * best_val)
    return {
        "test_recall@20": float(test["test/recall@20"]),
        "test_ndcg@20": float(test["test/ndcg@20"]),
        "test_recall@10": float(test["test/recall@10"]),
        "test_ndcg@10": float(test["test/ndcg@10"]),
        "best_val_recall@20": best_val,
        "best_epoch": best_epoch,
        "epoch_95pct": reach,
        "epochs": len(val),
        "sgurinit_s": init[0] if init else 0.0,
    }


def execute(config: Path, variant: str, seed: int, extra: list[str], out: Path) -> dict:
    name = run_name(config, variant, seed)
    start = time.perf_counter()
    result = subprocess.run(command(config, variant, seed, extra), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"run {name} failed:\n{result.stderr[-3000:]}")
    record = {"run": name, "config": str(config), "variant": variant, "seed": seed, "wall_s": wall, **read_metrics(name)}
    record["sgurinit_share"] = record["sgurinit_s"] / wall
    with open(out, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--variants", nargs="+", default=["random", "item-sum"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[999])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "sgurinit_study.jsonl")
    args, extra = parser.parse_known_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            record = json.loads(line)
            done[record["run"]] = record
    todo = [(v, s) for v in args.variants for s in args.seeds if run_name(args.config, v, s) not in done]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for record in pool.map(lambda vs: execute(args.config, vs[0], vs[1], extra, args.out), todo):
            done[record["run"]] = record
    print(f"\n{'variant':<16}{'runs':>5}{'val R@20':>18}{'test R@20':>18}{'test N@20':>18}{'best epoch':>12}"
          f"{'s/epoch':>9}{'init s':>8}{'share':>8}")
    for variant in args.variants:
        records = [done[run_name(args.config, variant, s)] for s in args.seeds]

        def fmt(key: str, records=records) -> str:
            values = [r[key] for r in records]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.4f} ± {spread:.4f}"

        epochs = statistics.mean(r["best_epoch"] for r in records)
        seconds = statistics.mean(r["sgurinit_s"] for r in records)
        share = statistics.mean(r["sgurinit_share"] for r in records)
        per_epoch = statistics.mean(r["wall_s"] / r["epochs"] for r in records)
        print(f"{variant:<16}{len(records):>5}{fmt('best_val_recall@20'):>18}{fmt('test_recall@20'):>18}"
              f"{fmt('test_ndcg@20'):>18}{epochs:>12.1f}{per_epoch:>9.2f}{seconds:>8.2f}{share:>8.2%}")


if __name__ == "__main__":
    main()
