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
with lit_mmrec.data.synthetic, except ``ml100k``, which reads ../shared/data/ml100k.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import sys
import time
from pathlib import Path

import lightning as L
import torch

from lit_mmrec.callbacks.sgurinit import SGURInit
from lit_mmrec.data.datamodule import MMRecDataModule, SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.sparse import symmetric_spmm

ROOT = Path(__file__).resolve().parents[1]
FEATURES = {"image": 4096, "text": 384}
SHAPES = {  # users, items, interactions (PROTOCOL.md)
    "baby": (19_445, 7_050, 160_792),
    "sports": (35_598, 18_357, 296_337),
    "clothing": (39_387, 23_033, 278_677),
}


def datamodule_for(shape: str, batch_size: int, eval_chunk_size: int) -> MMRecDataModule:
    if shape == "ml100k":
        folder = ROOT.parent / "shared" / "data" / "ml100k"
        return MMRecDataModule(str(folder), modalities=["text"], batch_size=batch_size, eval_chunk_size=eval_chunk_size)
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


class EpochTimer(L.Callback):
    """Seconds of each training epoch (its batches only) and of each validation pass.

    Lightning runs the epoch-end validation *before* ``on_train_epoch_end``, so the training time
    stops at whichever comes first: the validation's start or the epoch's end.
    """

    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []
        self._train_start: float | None = None

    def on_train_epoch_start(self, trainer, module) -> None:
        self._train_start = time.perf_counter()

    def _stop_training_clock(self) -> None:
        if self._train_start is not None:
            self.train.append(time.perf_counter() - self._train_start)
            self._train_start = None

    def on_train_epoch_end(self, trainer, module) -> None:
        self._stop_training_clock()

    def on_validation_epoch_start(self, trainer, module) -> None:
        self._stop_training_clock()
        self._val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, module) -> None:
        self.val.append(time.perf_counter() - self._val_start)


def bound_propagation(module: RecommenderModule, batches: int, layers: int = 2) -> float | None:
    """Seconds for ``layers`` sparse products forward + ``layers`` backward, per epoch."""
    adjacency = getattr(module, "adjacency", None)
    if adjacency is None:
        return None
    x = torch.randn(adjacency.shape[0], module.embedding_dim, requires_grad=True)
    start = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        h = x
        for _ in range(layers):
            h = symmetric_spmm(adjacency, h)
        h.sum().backward()
    return (time.perf_counter() - start) / repeats * batches


def bound_ranking(num_users: int, num_items: int, dim: int, chunk: int, k: int = 50) -> float:
    """Seconds to score and top-k every user against every item, chunk by chunk."""
    users = torch.randn(chunk, dim)
    items = torch.randn(num_items, dim)
    start = time.perf_counter()
    chunks = -(-num_users // chunk)
    for _ in range(chunks):
        torch.topk(users @ items.T, k, dim=1)
    return time.perf_counter() - start


def run(name: str, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(0)
    datamodule = datamodule_for(args.shape, args.batch_size, args.eval_chunk_size)
    dataset = datamodule.dataset
    module = model_class(name)(dataset.num_users, dataset.num_items, dataset.feature_dims)
    timer = EpochTimer()
    sgurinit = SGURInit()
    trainer = L.Trainer(
        max_epochs=args.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[timer, sgurinit],
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=datamodule)
    batches = len(datamodule.train_dataloader())
    eval_users = int(torch.unique(dataset.valid.users).numel())
    train_s = min(timer.train[1:] or timer.train)  # the first epoch includes warm-up
    val_s = min(timer.val[1:] or timer.val)
    propagation = bound_propagation(module, batches)
    ranking = bound_ranking(eval_users, dataset.num_items, module.embedding_dim, args.eval_chunk_size)
    return {
        "train_s": train_s,
        "val_s": val_s,
        "users_per_s": eval_users / val_s,
        "sgurinit_s": float(sgurinit.seconds),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "bound_train_s": propagation if propagation is not None else float("nan"),
        "bound_val_s": ranking,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="baby", choices=[*SHAPES, "ml100k"])
    parser.add_argument("--models", nargs="+", default=["lightgcn"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=2048)
    parser.add_argument("--eval_chunk_size", type=int, default=2048)
    args = parser.parse_args()
    print(f"# shape={args.shape} epochs={args.epochs} batch={args.batch_size} torch={torch.__version__} "
          f"threads={torch.get_num_threads()} python={sys.version.split()[0]}")
    header = f"{'model':<12}{'s/epoch':>9}{'x bound':>9}{'s/eval':>9}{'x bound':>9}{'users/s':>10}{'init s':>8}{'epochs':>8}{'peak GB':>9}"
    print(header)
    for name in args.models:
        r = run(name, args)
        print(
            f"{name:<12}{r['train_s']:>9.3f}{r['train_s'] / r['bound_train_s']:>9.2f}{r['val_s']:>9.3f}"
            f"{r['val_s'] / r['bound_val_s']:>9.2f}{r['users_per_s']:>10.0f}{r['sgurinit_s']:>8.2f}"
            f"{r['sgurinit_s'] / r['train_s']:>8.3f}{r['peak_rss_gb']:>9.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
