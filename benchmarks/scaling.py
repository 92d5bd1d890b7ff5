"""Scaling of full-ranking evaluation and SG-URInit with the number of users (no training).

For each user count (default 10^4, 10^5, 10^6) it generates interactions (``--per_user`` training and 2 test
items per user over ``--items`` items, Baby's 7,050 by default), random 64-d user and item representations and
one 64-d item feature matrix, then measures, each in a fresh subprocess so that peak memory is the stage's own:

- ``eval``: ranking every test user against every item in chunks of ``--chunk`` users, training items
  excluded, top-50, Recall/NDCG/Precision/MAP@{10,20,50} (what validation and test run);
- ``sgurinit``: :func:`lit_mmrec.init.sgurinit.initialise_user_table` (cluster_on=item, fusion=sum, K=20).

Printed per (users, stage): seconds, resident memory before the stage (data, representations), peak resident
memory during it, and the difference. Evaluation's difference depends on ``chunk x items``, not on users.

    OMP_NUM_THREADS=1 python benchmarks/scaling.py --users 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from lit_mmrec.console import setup_process


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    """Peak resident set size of this process in MB (Linux: ru_maxrss is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(users: int, items: int, per_user: int, seed: int = 0):
    """Training and test (user, item) pairs: ``per_user`` and 2 distinct items per user."""
    generator = torch.Generator().manual_seed(seed)
    picked = torch.randint(items, (users, per_user + 2), generator=generator)
    user_ids = torch.arange(users).repeat_interleave(per_user + 2).view(users, -1)
    train = (user_ids[:, :per_user].reshape(-1), picked[:, :per_user].reshape(-1))
    test = (user_ids[:, per_user:].reshape(-1), picked[:, per_user:].reshape(-1))
    return train, test


def stage(name: str, users: int, items: int, per_user: int, chunk: int, dim: int = 64) -> dict:
    """Run one stage in this process and return its figures."""
    from lit_mmrec.data.pairs import UserItemIndex, pairs_to_csr
    from lit_mmrec.init.options import SGURInitOptions
    from lit_mmrec.init.sgurinit import initialise_user_table
    from lit_mmrec.metrics.recall_ndcg import TopKMetrics
    from lit_mmrec.metrics.retrieval import rank_top_k

    (train_users, train_items), (test_users, test_items) = generate(users, items, per_user)
    generator = torch.Generator().manual_seed(1)
    if name == "eval":
        train = UserItemIndex(train_users, train_items, users, items)
        test = UserItemIndex(test_users, test_items, users, items)
        user_repr, item_repr = torch.randn(users, dim, generator=generator), torch.randn(items, dim, generator=generator)
        metrics = TopKMetrics([10, 20, 50])
        evaluated = test.users_with_items()
        before = rss_mb()
        start = time.perf_counter()
        for first in range(0, evaluated.numel(), chunk):
            batch = evaluated[first:first + chunk]
            _, top = rank_top_k(user_repr[batch], item_repr, batch, 50, train)
            metrics.update(test.contains(batch, top), test.counts(batch))
        metrics.compute()
    else:
        pairs = torch.unique(train_users * items + train_items)
        csr = pairs_to_csr(pairs // items, pairs % items, users, items)
        table, features = torch.randn(users, dim, generator=generator), torch.randn(items, dim, generator=generator)
        before = rss_mb()
        start = time.perf_counter()
        initialise_user_table(table, [features], csr, SGURInitOptions(n_clusters=20, cluster_on="item", fusion="sum"))
    seconds = time.perf_counter() - start
    peak = peak_mb()
    return {"stage": name, "users": users, "items": items, "seconds": seconds, "rss_before_mb": before,
            "peak_mb": peak, "stage_extra_mb": peak - before, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--items", type=int, default=7_050)
    parser.add_argument("--per_user", type=int, default=8, help="training items per user")
    parser.add_argument("--chunk", type=int, default=2048, help="users ranked at a time (eval_chunk_size)")
    parser.add_argument("--stages", nargs="+", default=["eval", "sgurinit"], choices=["eval", "sgurinit"])
    parser.add_argument("--one", nargs=2, metavar=("STAGE", "USERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_process()  # THP and quiet framework notices, as train.py has them
    if args.one:
        print(json.dumps(stage(args.one[0], int(args.one[1]), args.items, args.per_user, args.chunk)))
        return
    print(f"{'stage':<9}{'users':>10}{'items':>7}{'seconds':>10}{'RSS before MB':>15}{'peak MB':>10}{'stage extra MB':>16}")
    for users in args.users:
        for name in args.stages:
            command = [sys.executable, __file__, "--one", name, str(users), "--items", str(args.items),
                       "--per_user", str(args.per_user), "--chunk", str(args.chunk)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            print(f"{name:<9}{users:>10}{args.items:>7}{result['seconds']:>10.2f}{result['rss_before_mb']:>15.0f}"
                  f"{result['peak_mb']:>10.0f}{result['stage_extra_mb']:>16.0f}", flush=True)


if __name__ == "__main__":
    main()
