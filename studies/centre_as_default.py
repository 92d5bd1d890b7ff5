"""Whether ``centre`` becomes the default (plan: ``docs/results/sgurinit_selection_rule.md``, "Can ``centre`` be the
default?"), run from the repository root:

    python -m studies.centre_as_default > docs/results/centre_synthetic/decision.md

Over the 24 cells (12 backbones x ml100k, generated data), ``item-sum,centre=true`` (seeds 999 / 1 / 2) against the
current default ``item-sum`` (the same seeds, ``rule2_*``), both measured against random's six seeds under the same
rule: the plan's three conditions (no new validation guard failure; mean relative change of best validation
Recall@20 not below item-sum's by more than 0.5 points; fewer epochs to 95% than random on at least 8 of 12
backbones per data set). Test Recall@20 is printed for the report only. Cells not yet complete are listed and
the decision is withheld.
"""

import statistics

from studies.results import done_runs

DATASETS = {
    "ml100k": {
        "random": ["rule2_ml100k", "rule2_ml100k_mgcn", "null2_ml100k", "six_ml100k_more", "six_ml100k_mgcn"],
        "item-sum": ["rule2_ml100k", "rule2_ml100k_mgcn"],
        "item-sum,centre=true": ["centre_ml100k_late_start", "centre_ml100k_grid"],
    },
    "synthetic": {
        "random": ["rule2_synthetic", "null2_synthetic"],
        "item-sum": ["rule2_synthetic"],
        "item-sum,centre=true": ["centre_decorrelate_bm3", "centre_decorrelate_grcn", "centre_synthetic"],
    },
}
SEEDS = {999, 1, 2}
TIE_MARGIN = 0.5  # percentage points, the selection rule's


def mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows)


def main() -> None:
    print("# Can `centre` be the default?\n")
    print("Produced by `python -m studies.centre_as_default`; plan: "
          "`../sgurinit_selection_rule.md`, \"Can `centre` be the default?\". Validation decides; test columns are for the report only.\n")
    changes = {"item-sum": [], "item-sum,centre=true": []}
    new_failures, sooner, missing = [], {}, []
    for dataset, folders in DATASETS.items():
        print(f"## {dataset}\n")
        print("| backbone | best val R@20 random (6 seeds) | item-sum | centre | vs random: item-sum / centre "
              "(in random's stds) | epochs to 95%: random / item-sum / centre | test R@20 random / item-sum / "
              "centre |")
        print("|---|---|---|---|---|---|---|")
        random = [r for f in folders["random"] for r in done_runs(f, dataset=dataset, variant="random")]
        sooner[dataset] = []
        for model in sorted({r["model"] for r in random}):
            base = [r for r in random if r["model"] == model]
            groups = {
                v: [r for f in folders[v] for r in done_runs(f, dataset=dataset, variant=v) if r["model"] == model and r["seed"] in SEEDS]
                for v in changes
            }
            if any(len(g) < len(SEEDS) for g in groups.values()):
                missing.append(f"{dataset}/{model}")
                continue
            ref = mean(base, "best_val_recall@20")
            spread = statistics.stdev(r["best_val_recall@20"] for r in base)
            cells = []
            failed = {}
            for v, g in groups.items():
                gap = mean(g, "best_val_recall@20") - ref
                changes[v].append(100 * gap / ref)
                failed[v] = gap < -spread
                cells.append(f"{100 * gap / ref:+.1f}% ({gap / spread:+.1f})")
            if failed["item-sum,centre=true"] and not failed["item-sum"]:
                new_failures.append(f"{dataset}/{model}")
            e95 = [mean(base, "epochs_to_95")] + [mean(g, "epochs_to_95") for g in groups.values()]
            if e95[2] < e95[0]:
                sooner[dataset].append(model)
            tests = [statistics.mean(r["test"]["recall@20"] for r in g) for g in [base, *groups.values()]]
            print(f"| {model} | {ref:.4f} ± {spread:.4f} | "
                  + " | ".join(f"{mean(g, 'best_val_recall@20'):.4f}" for g in groups.values())
                  + f" | {' / '.join(cells)} | {' / '.join(f'{e:.0f}' for e in e95)} | "
                  + " / ".join(f"{t:.4f}" for t in tests) + " |")
        print()
    if missing:
        print(f"Not yet complete: {', '.join(missing)}. No decision until all 24 cells are in.")
        return
    gain = {v: statistics.mean(c) for v, c in changes.items()}
    conditions = [
        (not new_failures, f"new guard failures: {', '.join(new_failures) or 'none'}"),
        (gain["item-sum,centre=true"] >= gain["item-sum"] - TIE_MARGIN,
         f"mean relative change over random: centre {gain['item-sum,centre=true']:+.2f}%, "
         f"item-sum {gain['item-sum']:+.2f}%"),
        (all(len(s) >= 8 for s in sooner.values()),
         "sooner to 95% than random: " + "; ".join(f"{d} {len(s)} of 12 ({', '.join(s)})" for d, s in sooner.items())),
    ]
    print("## Decision\n")
    for i, (ok, text) in enumerate(conditions, 1):
        print(f"{i}. {'met' if ok else 'NOT met'}: {text}.")
    verdict = all(ok for ok, _ in conditions)
    print(f"\n**{'`centre` replaces item-sum as the default.' if verdict else 'item-sum stays the default.'}**")


if __name__ == "__main__":
    main()
