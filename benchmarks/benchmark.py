"""Speed and memory of training and full-ranking evaluation on data of a public data set's shape.

Prints, per backbone: seconds per training epoch, seconds per full-ranking validation pass,
users ranked per second, peak resident memory, the seconds SG-URInit (default options) took before
epoch zero and that cost in training epochs, and the same figures for the bare
operations the model cannot avoid (the sparse propagation forward + backward of one batch
times the number of batches; one chunk of users x all items matmul + top-k over all chunks),
as a ratio ("x bound"). Compare with ../shared/reference/PERFORMANCE.md (MMRec's figures).

    python benchmarks/benchmark.py --shape baby --models lightgcn
    python benchmarks/benchmark.py --shape ml100k --models lightgcn

Data of a given shape is generated (users, items, interactions, 4096-d image + 384-d text)
with lit_mmrec.data.synthetic, except ``ml100k``, which reads ``--ml100k`` (default ../shared/data/ml100k).

``--device cuda`` trains and evaluates on the first GPU and measures the bounds there too; every
CUDA timing is taken after ``torch.cuda.synchronize``, the libraries (cuBLAS, cuSOLVER, cuSPARSE) are
warmed up once before the first backbone so that SG-URInit's seconds do not include their start-up,
"peak GPU GB" is ``torch.cuda.max_memory_allocated`` during the fit, reset per backbone, and float32
products run as ``train.py`` runs them there (``--matmul_precision high``: TF32).
``--device cuda`` without CUDA prints one line and exits 2.

    python benchmarks/benchmark.py --device cuda --shape baby --models lightgcn freedom lgmrec mmgcn --epochs 3
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from lit_mmrec.callbacks.sgurinit import SGURInit
from lit_mmrec.console import setup_process
from lit_mmrec.data.datamodule import MMRecDataModule, SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.init.sgurinit import pca_reduce
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import symmetric_spmm

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ML100K = ROOT.parent / "shared" / "data" / "ml100k"
FEATURES = {"image": 4096, "text": 384}
SHAPES = {  # users, items, interactions (PROTOCOL.md)
    "baby": (19_445, 7_050, 160_792),
    "sports": (35_598, 18_357, 296_337),
    "clothing": (39_387, 23_033, 278_677),
}
EXIT_NO_CUDA = 2


def datamodule_for(shape: str, batch_size: int, eval_chunk_size: int, ml100k: Path = DEFAULT_ML100K) -> MMRecDataModule:
    if shape == "ml100k":
        return MMRecDataModule(str(ml100k), modalities=["text"], batch_size=batch_size, eval_chunk_size=eval_chunk_size)
    users, items, interactions = SHAPES[shape]
    spec = SyntheticSpec(
        num_users=users,
        num_items=items,
        mean_interactions_per_user=interactions / users,
        modalities=dict(FEATURES),
        name=f"{shape}_shaped",
    )
    return SyntheticDataModule(spec, batch_size=batch_size, eval_chunk_size=eval_chunk_size)


def model_class(name: str) -> type[RecommenderModule]:
    """``lightgcn`` -> lit_mmrec.models.lightgcn.LightGCN; a dotted path is imported as is."""
    if "." in name:
        module_name, class_name = name.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), class_name)
    module = importlib.import_module(f"lit_mmrec.models.{name.lower()}")
    for attribute in vars(module).values():
        if isinstance(attribute, type) and issubclass(attribute, RecommenderModule) and attribute.__name__.lower() == name.lower():
            return attribute
    raise SystemExit(f"error: no backbone class {name!r} in lit_mmrec.models.{name.lower()}")


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a host clock read after it covers that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    synchronize(device)
    return time.perf_counter()


def warm_up(device: torch.device) -> None:
    """Run each library SG-URInit, training and evaluation use once (dense and sparse products,
    randomised PCA, top-k), so that their start-up is not charged to the first timing."""
    x = torch.randn(256, 96, device=device)
    pca_reduce(x, 16)
    graph = bipartite_adjacency(torch.arange(8), torch.arange(8), 8, 8).to(device)
    symmetric_spmm(graph, torch.randn(16, 4, device=device, requires_grad=True)).sum().backward()
    torch.topk(x @ x.T, 5, dim=1)
    synchronize(device)


class EpochTimer(L.Callback):
    """Seconds of each training epoch (its batches only) and of each validation pass.

    Lightning runs the epoch-end validation *before* ``on_train_epoch_end``, so the training time
    stops at whichever comes first: the validation's start or the epoch's end. On CUDA every clock
    read waits for the queued kernels first.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.train: list[float] = []
        self.val: list[float] = []
        self._train_start: float | None = None

    def on_train_epoch_start(self, trainer, module) -> None:
        self._train_start = clock(self.device)

    def _stop_training_clock(self) -> None:
        if self._train_start is not None:
            self.train.append(clock(self.device) - self._train_start)
            self._train_start = None

    def on_train_epoch_end(self, trainer, module) -> None:
        self._stop_training_clock()

    def on_validation_epoch_start(self, trainer, module) -> None:
        self._stop_training_clock()
        self._val_start = clock(self.device)

    def on_validation_epoch_end(self, trainer, module) -> None:
        self.val.append(clock(self.device) - self._val_start)


def bound_propagation(adjacency: torch.Tensor | None, dim: int, batches: int, device: torch.device, layers: int = 2) -> float:
    """Seconds for ``layers`` sparse products forward + ``layers`` backward, per epoch (nan without a graph)."""
    if adjacency is None:
        return float("nan")
    adjacency = adjacency.to(device)
    x = torch.randn(adjacency.shape[0], dim, device=device, requires_grad=True)

    def once() -> None:
        h = x
        for _ in range(layers):
            h = symmetric_spmm(adjacency, h)
        h.sum().backward()

    once()  # warm-up
    repeats = 5
    start = clock(device)
    for _ in range(repeats):
        once()
    return (clock(device) - start) / repeats * batches


def bound_ranking(num_users: int, num_items: int, dim: int, chunk: int, device: torch.device, k: int = 50) -> float:
    """Seconds to score and top-k every user against every item, chunk by chunk."""
    users = torch.randn(chunk, dim, device=device)
    items = torch.randn(num_items, dim, device=device)
    torch.topk(users @ items.T, k, dim=1)  # warm-up
    start = clock(device)
    chunks = -(-num_users // chunk)
    for _ in range(chunks):
        torch.topk(users @ items.T, k, dim=1)
    return clock(device) - start


def run(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    torch.manual_seed(0)
    datamodule = datamodule_for(args.shape, args.batch_size, args.eval_chunk_size, args.ml100k)
    dataset = datamodule.dataset
    module = model_class(name)(num_users=dataset.num_users, num_items=dataset.num_items,
                               feature_dims=dataset.feature_dims, **args.model_args)
    timer = EpochTimer(device)
    sgurinit = SGURInit() if module.user_init_targets() else None  # a backbone without a user table: none
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_epochs=args.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[timer] if sgurinit is None else [timer, sgurinit],
        use_distributed_sampler=False,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer.fit(module, datamodule=datamodule)
    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    batches = len(datamodule.train_dataloader())
    eval_users = int(torch.unique(dataset.valid.users).numel())
    train_s = min(timer.train[1:] or timer.train)  # the first epoch includes warm-up
    val_s = min(timer.val[1:] or timer.val)
    # Lightning moves the module back to the CPU after fit; the bounds run on the benchmark's device
    propagation = bound_propagation(getattr(module, "adjacency", None), module.embedding_dim, batches, device)
    ranking = bound_ranking(eval_users, dataset.num_items, module.embedding_dim, args.eval_chunk_size, device)
    return {
        "model": name,
        "shape": args.shape,
        "device": str(device),
        "train_s": train_s,
        "val_s": val_s,
        "users_per_s": eval_users / val_s,
        "sgurinit_s": float("nan") if sgurinit is None else float(sgurinit.seconds),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_gpu_gb": peak_gpu,
        "bound_train_s": propagation,
        "bound_val_s": ranking,
    }


def model_arguments(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as constructor keyword arguments, each value read as YAML."""
    arguments = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            parser.error(f"--model_args: expected NAME=VALUE, got {pair!r}")
        arguments[name] = yaml.safe_load(value)
    return arguments


def require_device(name: str) -> torch.device:
    """``name`` as a device; exits with one line (code 2) when it is CUDA and there is none."""
    if name == "cuda" and not torch.cuda.is_available():
        print(f"error: --device cuda but CUDA is not available (torch {torch.__version__}, "
              f"CUDA build: {torch.version.cuda})", file=sys.stderr)
        raise SystemExit(EXIT_NO_CUDA)
    return torch.device(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="baby", choices=[*SHAPES, "ml100k"])
    parser.add_argument("--models", nargs="+", default=["lightgcn"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=2048)
    parser.add_argument("--eval_chunk_size", type=int, default=2048)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train, evaluate and time the bounds")
    parser.add_argument("--ml100k", type=Path, default=DEFAULT_ML100K, help="folder of the ml100k data set")
    parser.add_argument("--json", type=Path, help="also append one JSON line per backbone to this file")
    parser.add_argument("--matmul_precision", choices=["highest", "high", "medium"],
                        help="torch.set_float32_matmul_precision; default: 'high' on CUDA (TF32, as train.py sets it), "
                             "torch's own ('highest') on the CPU")
    parser.add_argument("--model_args", nargs="+", default=[], metavar="NAME=VALUE",
                        help="constructor arguments given to every backbone, values read as YAML "
                             "(e.g. --model_args contrast_rows=batch)")
    args = parser.parse_args(argv)
    args.model_args = model_arguments(parser, args.model_args)
    setup_process()  # THP and quiet framework notices, as train.py has them
    device = require_device(args.device)
    if args.matmul_precision or device.type == "cuda":
        torch.set_float32_matmul_precision(args.matmul_precision or "high")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# shape={args.shape} epochs={args.epochs} batch={args.batch_size} device={where} torch={torch.__version__} "
          f"threads={torch.get_num_threads()} python={sys.version.split()[0]} matmul={torch.get_float32_matmul_precision()}")
    warm_up(device)
    header = (f"{'model':<12}{'s/epoch':>9}{'x bound':>9}{'s/eval':>9}{'x bound':>9}{'users/s':>10}{'init s':>8}"
              f"{'epochs':>8}{'peak GB':>9}{'GPU GB':>8}")
    print(header)
    for name in args.models:
        r = run(name, args, device)
        gpu = "-" if math.isnan(r["peak_gpu_gb"]) else f"{r['peak_gpu_gb']:.2f}"
        init, epochs = ("-", "-") if math.isnan(r["sgurinit_s"]) else \
            (f"{r['sgurinit_s']:.2f}", f"{r['sgurinit_s'] / r['train_s']:.3f}")
        print(
            f"{name:<12}{r['train_s']:>9.3f}{r['train_s'] / r['bound_train_s']:>9.2f}{r['val_s']:>9.3f}"
            f"{r['val_s'] / r['bound_val_s']:>9.2f}{r['users_per_s']:>10.0f}{init:>8}"
            f"{epochs:>8}{r['peak_rss_gb']:>9.2f}{gpu:>8}",
            flush=True,
        )
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
