"""A/B timing of one backbone's training step (loss, backward, optimiser step) on ml100k: two source trees of
lit-mmrec, alternated, in CPU milliseconds per step.

Each run is a fresh process that builds the model from one tree (``--model`` and its ``configs/ml100k`` settings
that shape a step, as ``MODELS`` lists them; embedding 64, batch 2048, seed 0), steps over the first ``--batches``
training batches twice after two warm-up steps, and prints the mean CPU milliseconds per step and the total loss
of the first batch after those steps (the same number on both sides when the two trees compute the same maths
bit for bit; within float rounding otherwise). CPU time rather than wall time: the machine is shared. Runs
alternate A, B, A, B, ... ``--repeats`` times each; the medians and their ratio are printed.

    python benchmarks/ab_step.py --model damrs --a HEAD --b .

Faster to run than ``ab_epoch.py`` (no Lightning, no evaluation); ``ab_epoch.py`` gives the epoch figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_epoch import ROOT, export  # noqa: E402

#: class path and the step-shaping arguments of configs/ml100k/<model>.yaml
MODELS = {
    "pgl": ("lit_mmrec.models.pgl.PGL", {"knn_k": 10, "edge_dropout": 0.7, "dropout": 0.2, "reg_weight": 0.05}),
    "damrs": ("lit_mmrec.models.damrs.DAMRS", {"knn_k": 10, "cooccurrence_k": 2, "min_common_users": 2}),
}


def worker(tree: Path, model: str, data_dir: str, batches: int) -> None:
    sys.path.insert(0, str(tree))
    import importlib

    import torch

    from lit_mmrec.console import setup_process
    from lit_mmrec.data.datamodule import MMRecDataModule

    setup_process()  # as train.py: transparent huge pages for the large allocations
    assert Path(sys.modules["lit_mmrec"].__file__).resolve().is_relative_to(tree.resolve())
    torch.set_num_threads(1)
    datamodule = MMRecDataModule(data_dir, modalities=["text"], batch_size=2048)
    data = datamodule.dataset
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    chosen = [batch for _, batch in zip(range(batches), loader, strict=False)]
    class_path, arguments = MODELS[model]
    module, name = class_path.rsplit(".", 1)
    torch.manual_seed(0)
    backbone = getattr(importlib.import_module(module), name)(
        num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=64,
        **arguments,
    )
    backbone.attach(data)
    backbone.train()
    configured = backbone.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured

    def step(batch) -> None:
        optimizer.zero_grad()
        sum(backbone.loss(*batch).values()).backward()
        optimizer.step()

    for batch in chosen[:2]:
        step(batch)
    start = time.process_time()
    for _ in range(2):
        for batch in chosen:
            step(batch)
    ms = (time.process_time() - start) / (2 * len(chosen)) * 1e3
    torch.manual_seed(1)
    loss = float(sum(backbone.loss(*chosen[0]).values()))
    print(json.dumps({"ms": ms, "loss": loss}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--data_dir", default=str(ROOT / "data" / "ml100k"))
    parser.add_argument("--a", default="HEAD", help="git revision or '.'")
    parser.add_argument("--b", default=".", help="git revision or '.'")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    options.data_dir = str(Path(options.data_dir).resolve())
    if options.worker is not None:
        worker(options.worker, options.model, options.data_dir, options.batches)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="ab_step_") as tmp:
        trees = {side: export(getattr(options, side.lower()), Path(tmp) / side) for side in ("A", "B")}
        results: dict[str, list[float]] = {"A": [], "B": []}
        print(f"A = {options.a}, B = {options.b}, {options.model}, {options.batches} batches x 2")
        for repeat in range(options.repeats):
            for side, tree in trees.items():
                command = [
                    sys.executable, __file__, "--worker", str(tree), "--model", options.model,
                    "--data_dir", options.data_dir, "--batches", str(options.batches),
                ]
                done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                results[side].append(row["ms"])
                print(f"run {repeat} {side}: {row['ms']:.2f} CPU ms/step  loss after {row['loss']!r}  "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
        a, b = statistics.median(results["A"]), statistics.median(results["B"])
        print(f"median CPU ms/step: A {a:.2f}  B {b:.2f}  A / B {a / b:.3f}x")


if __name__ == "__main__":
    main()
