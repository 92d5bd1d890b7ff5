"""How long SG-URInit's head start lasts (the done-when's second criterion), over six seeds a side, run
from the repository root:

    python -m studies.headstart > docs/results/headstart/README.md

Reads the committed runs under the default rule (``warmup50_patience50``): random = ``rule2_*`` (999 / 1 / 2) +
``null2_*`` (3 / 4 / 5), plus ``six_ml100k_more/`` (LGMRec, SLMRec on ml100k) and, for MGCN on ml100k,
``rule2_ml100k_mgcn/`` + ``six_ml100k_mgcn/``; item-sum = ``rule2_*`` + ``six_*`` (3 / 4 / 5). Validation only
(nothing here reads test).

Per (data set, backbone): epochs to 95% of the run's own best validation Recall@20, mean ± sample std per init,
and the difference in standard errors of the difference of the two means; then the anytime curve: the best
validation Recall@20 within the first E epochs, as a fraction of random's mean best, mean over seeds per init.
"""

import math
import statistics

from studies.results import done_runs

FOLDERS = {"ml100k": ["rule2_ml100k", "null2_ml100k", "six_ml100k", "six_ml100k_more", "rule2_ml100k_mgcn",
                      "six_ml100k_mgcn"],
           "synthetic": ["rule2_synthetic", "null2_synthetic", "six_synthetic"]}
BUDGETS = (1, 5, 10, 25, 50, 100)


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.0f} ± {statistics.stdev(values):.0f}"


def main() -> None:
    print("# How long the head start lasts (six seeds a side, default rule)\n")
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    print("Produced by `python -m studies.headstart > docs/results/headstart/README.md`.\n")
    for dataset, folders in FOLDERS.items():
        found = [r for f in folders for r in done_runs(f, dataset=dataset)]
        print(f"## {dataset}\n")
        budgets = " | ".join(f"≤ {e}: random / item-sum" for e in BUDGETS)
        print(f"| backbone | seeds | epochs to 95%: random | item-sum | difference (SE) | {budgets} |")
        print("|---|---|---|---|---|" + "---|" * len(BUDGETS))
        sooner = 0
        models = sorted({r["model"] for r in found})
        for model in models:
            group = {v: [r for r in found if r["model"] == model and r["variant"] == v] for v in ("random", "item-sum")}
            if min(len(g) for g in group.values()) < 6:
                continue
            e95 = {v: [r["epochs_to_95"] for r in g] for v, g in group.items()}
            se = math.sqrt(sum(statistics.variance(x) / len(x) for x in e95.values()))
            gap = statistics.mean(e95["item-sum"]) - statistics.mean(e95["random"])
            sooner += gap < 0
            reference = statistics.mean(r["best_val_recall@20"] for r in group["random"])
            cells = " | ".join(
                " / ".join(f"{statistics.mean(max(r['curve'][:e]) for r in group[v]) / reference:.2f}"
                           for v in ("random", "item-sum")) for e in BUDGETS)
            print(f"| {model} | {len(group['random'])} / {len(group['item-sum'])} | {mean_std(e95['random'])} | "
                  f"{mean_std(e95['item-sum'])} | {gap:+.0f} ({gap / se if se else 0.0:+.1f}) | {cells} |")
        print(f"\nItem-sum reaches 95% of its best in fewer epochs (mean over seeds) on {sooner} of the backbones "
              "with six seeds a side.\n")


if __name__ == "__main__":
    main()
