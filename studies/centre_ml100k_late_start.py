"""The late-start report (plan: ``docs/results/sgurinit_selection_rule.md``, "Late start on ml100k: the backbones
where item-sum starts behind"), run from the repository root:

    python -m studies.centre_ml100k_late_start > docs/results/centre_ml100k_late_start/late_start.md

Per (backbone, init) on ml100k: the best validation Recall@20 within the first 1 / 5 / 10 / 25 epochs as a share of
random's mean best (random's six seeds: ``rule2_ml100k/`` + ``null2_ml100k/``), epochs to 95% of the run's own
best, best validation Recall@20 against random's six seeds (relative change and in random's stds), and test
Recall@20 (read for the report only). Item-sum's six seeds (``rule2_ml100k/`` + ``six_ml100k/``) are shown beside.
"""

import statistics

from studies.results import done_runs

SOURCES = {"random": ["rule2_ml100k", "null2_ml100k"], "item-sum": ["rule2_ml100k", "six_ml100k"]}
BUDGETS = (1, 5, 10, 25)


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    new = done_runs("centre_ml100k_late_start", dataset="ml100k")
    print("# Where item-sum starts behind on ml100k (centre, decorrelate)\n")
    print("Produced by `python -m studies.centre_ml100k_late_start`; the runs: `README.md`. "
          "Validation only but the last column (test, for the report).\n")
    heads = " | ".join(f"≤ {e} epochs" for e in BUDGETS)
    print(f"| backbone | init | seeds | {heads} | epochs to 95% | best val R@20 | vs random (6 seeds) | test R@20 |")
    print("|---|---|---|" + "---|" * len(BUDGETS) + "---|---|---|---|")
    for model in dict.fromkeys(r["model"] for r in new):
        groups = {v: [r for f in fs for r in done_runs(f, dataset="ml100k", model=model, variant=v)]
                  for v, fs in SOURCES.items()}
        groups.update({v: [r for r in new if r["model"] == model and r["variant"] == v]
                       for v in dict.fromkeys(r["variant"] for r in new if r["model"] == model)})
        reference = [r["best_val_recall@20"] for r in groups["random"]]
        centre, spread = statistics.mean(reference), statistics.stdev(reference)
        for variant, group in groups.items():
            best = [r["best_val_recall@20"] for r in group]
            shares = " | ".join(f"{statistics.mean(max(r['curve'][:e]) for r in group) / centre:.2f}" for e in BUDGETS)
            e95 = [r["epochs_to_95"] for r in group]
            gap = statistics.mean(best) - centre
            print(f"| {model} | `{variant}` | {len(group)} | {shares} | {statistics.mean(e95):.0f} ± "
                  f"{sd(e95):.0f} | {statistics.mean(best):.4f} ± {sd(best):.4f} | "
                  f"{100 * gap / centre:+.1f}% ({gap / spread:+.1f} std) | "
                  f"{statistics.mean(r['test']['recall@20'] for r in group):.4f} |")


if __name__ == "__main__":
    main()
