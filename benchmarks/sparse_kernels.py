"""Which sparse kernel should propagate over the user-item graph, per device: measured, not assumed.

For the normalised user-item graph ``A`` (``D^-1/2 A D^-1/2``, users then items, int32 CSR, as
:func:`lit_mmrec.nn.normalisation.bipartite_adjacency` builds it) of the ml100k data and of the Baby shape,
times ``layers`` products ``A @ x`` forward and their backward (``x [nodes, dim]`` float32, the gradient
of ``<A^L x, probe>`` w.r.t. ``x``) through each kernel:

- ``shipped``: :func:`lit_mmrec.nn.sparse.symmetric_spmm` as the models call it (its own dispatch:
  ``embedding_bag`` on the CPU, ``torch.sparse.mm`` elsewhere; backward ``A @ grad``, ``A`` symmetric);
- ``embedding_bag``: ``F.embedding_bag(col, x, crow, per_sample_weights=values, mode="sum")`` on every
  device (the CPU-tuned CSR product), same symmetric backward;
- ``sparse.mm``: ``torch.sparse.mm`` on the int32 CSR (cuSPARSE's SpMM on CUDA), same symmetric backward;
- ``pyg.spmm``: ``torch_geometric.utils.spmm`` on the CSR with autograd's own backward (what a PyG layer
  over an ``adj_t`` sparse tensor does; torch transposes ``A`` for the backward);
- ``pyg.EdgeIndex``: ``torch_geometric.EdgeIndex.matmul`` (row-sorted, undirected edge index with the
  normalised values as ``input_value``), its own backward;
- ``pyg.LGConv``: ``torch_geometric.nn.LGConv(normalize=False)`` over ``edge_index`` + ``edge_weight``
  (``MessagePassing.propagate``: gather the source rows, scale, scatter-add into the targets).

Every kernel's output and gradient are compared with a float64 reference (``torch.sparse.mm`` on the
CPU in float64): ``max rel err`` is ``|out - ref| / |ref|`` (Frobenius norms), the larger of forward and
gradient; a kernel above ``--tolerance`` is marked and never the winner. Times: median (and min) of
``--repeats`` timed runs after ``--warmup`` untimed ones, each run ``torch.cuda.synchronize``-d on CUDA.

    python benchmarks/sparse_kernels.py --device cpu
    python benchmarks/sparse_kernels.py --device cuda --json $OUT/sparse_kernels_cuda.json

``--device cuda`` without CUDA prints one line and exits 2. The Baby-shaped interactions are generated
(:mod:`lit_mmrec.data.synthetic`, with 8-d features only: the interactions do not depend on them); ml100k
is read from ``--ml100k`` (default ``../shared/data/ml100k``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from benchmark import DEFAULT_ML100K, require_device, synchronize  # this folder's benchmark.py

from lit_mmrec.console import setup_process
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.data.synthetic import SyntheticSpec, ensure_synthetic
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import symmetric_spmm

#: users, items, mean interactions per user (PROTOCOL.md's Baby: 19,445 / 7,050 / 160,792)
BABY = (19_445, 7_050, 160_792 / 19_445)


def training_graph(shape: str, ml100k: Path) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """``(users, items, num_users, num_items)`` of the training interactions of ``shape``."""
    if shape == "ml100k":
        dataset = load_mmrec_dataset(ml100k, None, ["text"])
    else:
        users, items, activity = BABY
        spec = SyntheticSpec(num_users=users, num_items=items, mean_interactions_per_user=activity,
                             modalities={"text": 8}, name="baby_graph")
        dataset = load_mmrec_dataset(ensure_synthetic(spec), spec.name, None)
    return dataset.train.users, dataset.train.items, dataset.num_users, dataset.num_items


# ------------------------------------------------------------------------------------ kernels
def embedding_bag_mm(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a CSR ``matrix`` through ``F.embedding_bag`` (any device)."""
    crow, col = matrix.crow_indices(), matrix.col_indices()
    return F.embedding_bag(col, x, crow, mode="sum", per_sample_weights=matrix.values(), include_last_offset=True)


def symmetric(product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
    """``A @ x`` with the backward ``A @ grad`` (``A`` symmetric), both through ``product``."""

    class _Symmetric(torch.autograd.Function):
        @staticmethod
        def forward(ctx, matrix, x):  # type: ignore[override]
            ctx.matrix = matrix
            return product(matrix, x)

        @staticmethod
        def backward(ctx, grad):  # type: ignore[override]
            return None, product(ctx.matrix, grad.contiguous())

    return _Symmetric.apply


def kernels(adjacency: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """One ``x -> A @ x`` (differentiable in ``x``) per kernel, over ``adjacency`` (int32 CSR on its device)."""
    from torch_geometric import EdgeIndex
    from torch_geometric.nn import LGConv
    from torch_geometric.utils import spmm

    coo = adjacency.to_sparse_coo().coalesce()
    edge_index, edge_weight = coo.indices(), coo.values()
    n = adjacency.shape[0]
    indexed = EdgeIndex(edge_index, sparse_size=(n, n), sort_order="row", is_undirected=True)
    conv = LGConv(normalize=False)
    embedding_bag = symmetric(embedding_bag_mm)
    sparse_mm = symmetric(torch.sparse.mm)
    return {
        "shipped": lambda x: symmetric_spmm(adjacency, x),
        "embedding_bag": lambda x: embedding_bag(adjacency, x),
        "sparse.mm": lambda x: sparse_mm(adjacency, x),
        "pyg.spmm": lambda x: spmm(adjacency, x),
        "pyg.EdgeIndex": lambda x: indexed.matmul(x, input_value=edge_weight),
        "pyg.LGConv": lambda x: conv(x, edge_index, edge_weight),
    }


def forward_backward(kernel, x0: torch.Tensor, probe: torch.Tensor, layers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A^L x0, d<A^L x0, probe>/dx0)`` through ``kernel``."""
    x = x0.detach().requires_grad_(True)
    h = x
    for _ in range(layers):
        h = kernel(h)
    h.backward(probe)
    return h.detach(), x.grad


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    out = out.detach().to("cpu", torch.float64)
    return float(torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref))


def time_kernel(kernel, x0, probe, layers: int, warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Seconds of each of ``repeats`` forward + backward runs (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        forward_backward(kernel, x0, probe, layers)
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        forward_backward(kernel, x0, probe, layers)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def compare(shape: str, args: argparse.Namespace, device: torch.device) -> dict:
    users, items, num_users, num_items = training_graph(shape, args.ml100k)
    adjacency_cpu = bipartite_adjacency(users, items, num_users, num_items)
    n, nnz = adjacency_cpu.shape[0], adjacency_cpu._nnz()
    generator = torch.Generator().manual_seed(0)
    x0_cpu = torch.randn(n, args.dim, generator=generator)
    probe_cpu = torch.randn(n, args.dim, generator=generator)
    reference = adjacency_cpu.to(torch.float64)  # float64 CSR on the CPU
    ref_out, ref_grad = forward_backward(lambda x: torch.sparse.mm(reference, x), x0_cpu.double(), probe_cpu.double(),
                                         args.layers)
    adjacency = adjacency_cpu.to(device)
    x0, probe = x0_cpu.to(device), probe_cpu.to(device)
    rows = []
    for name, kernel in kernels(adjacency).items():
        try:
            out, grad = forward_backward(kernel, x0, probe, args.layers)
            error = max(relative_error(out, ref_out), relative_error(grad, ref_grad))
            seconds = time_kernel(kernel, x0, probe, args.layers, args.warmup, args.repeats, device)
            rows.append({"kernel": name, "median_ms": 1e3 * statistics.median(seconds), "min_ms": 1e3 * min(seconds),
                         "rel_err": error, "ok": error <= args.tolerance})
        except Exception as failure:  # a kernel that does not run on this device is a result too
            rows.append({"kernel": name, "error": f"{type(failure).__name__}: {str(failure).splitlines()[0][:120]}",
                         "ok": False})
    return {"shape": shape, "nodes": n, "nnz": nnz, "dim": args.dim, "layers": args.layers, "rows": rows}


def report(result: dict, device_name: str) -> str:
    good = [r for r in result["rows"] if r["ok"]]
    best = min(good, key=lambda r: r["median_ms"]) if good else None
    lines = [f"\n## {result['shape']}: {result['nodes']:,} nodes, {result['nnz']:,} non-zeros, dim {result['dim']}, "
             f"{result['layers']} layers forward + backward, on {device_name}",
             f"{'kernel':<16}{'median ms':>11}{'min ms':>10}{'x best':>8}{'max rel err':>13}"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"{r['kernel']:<16}  failed: {r['error']}")
            continue
        ratio = r["median_ms"] / best["median_ms"] if best else float("nan")
        flag = "" if r["ok"] else "  (above tolerance)"
        lines.append(f"{r['kernel']:<16}{r['median_ms']:>11.3f}{r['min_ms']:>10.3f}{ratio:>8.2f}{r['rel_err']:>13.1e}{flag}")
    close = [r["kernel"] for r in good if r is not best and r["median_ms"] <= 1.1 * best["median_ms"]] if best else []
    tie = f" (within 10%: {', '.join(close)})" if close else ""
    lines.append(f"winner on {device_name}, {result['shape']}: {best['kernel'] if best else 'none (no kernel agreed)'}{tie}")
    result["winner"], result["within_10_percent"] = (best["kernel"] if best else None), close
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--shapes", nargs="+", choices=["ml100k", "baby"], default=["ml100k", "baby"])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest max rel err still counted as agreeing")
    parser.add_argument("--ml100k", type=Path, default=DEFAULT_ML100K, help="folder of the ml100k data set")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    setup_process()  # THP and quiet framework notices, as train.py has them
    device = require_device(args.device)
    import torch_geometric

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# sparse kernels on {device_name}; torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
          f"python {sys.version.split()[0]}")
    results = []
    for shape in args.shapes:
        result = compare(shape, args, device)
        print(report(result, device_name), flush=True)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps({"device": device_name, "torch": torch.__version__, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
