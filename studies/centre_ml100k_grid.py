"""``centre`` on the whole ml100k grid (plan: ``docs/results/sgurinit_selection_rule.md``, "``centre`` on the whole
ml100k grid, for the second criterion"), run from the repository root:

    python -m studies.centre_ml100k_grid > docs/results/centre_ml100k_grid/epochs_to_95.md

``item-sum,centre=true`` on all 12 ml100k backbones (``centre_ml100k_late_start/`` for DRAGON, DualGNN, BM3;
``centre_ml100k_grid/`` for the nine others) against random's six seeds under the same rule (``rule2_ml100k/``,
``rule2_ml100k_mgcn/``, ``null2_ml100k/``, ``six_ml100k_more/``, ``six_ml100k_mgcn/``): mean epochs to 95% of each
run's own best, best validation Recall@20 (relative change, in random's stds), and test Recall@20 (read for the
report only). Backbones whose ``centre`` runs are not all in yet are listed as missing.
"""

import statistics

from studies.results import done_runs

RANDOM = ["rule2_ml100k", "rule2_ml100k_mgcn", "null2_ml100k", "six_ml100k_more", "six_ml100k_mgcn"]
CANDIDATE = ("item-sum,centre=true", ["centre_ml100k_late_start", "centre_ml100k_grid"])
SEEDS = 3


def main() -> None:
    random = [r for f in RANDOM for r in done_runs(f, dataset="ml100k", variant="random")]
    variant, folders = CANDIDATE
    candidate = [r for f in folders for r in done_runs(f, dataset="ml100k", variant=variant)]
    print(f"# `{variant}` on the 12 ml100k backbones, epochs to 95% and the validation guard\n")
    print("Produced by `python -m studies.centre_ml100k_grid`; the runs: `README.md` here and "
          "in `../centre_ml100k_late_start/`. Validation only but the last column (test, for the report).\n")
    print("| backbone | seeds random / centre | epochs to 95%: random | centre | best val R@20: random | centre | "
          "vs random (in random's stds) | test R@20 random / centre |")
    print("|---|---|---|---|---|---|---|---|")
    sooner, guard_failures, missing = [], [], []
    for model in sorted({r["model"] for r in random}):
        base = [r for r in random if r["model"] == model]
        mine = [r for r in candidate if r["model"] == model]
        if len(mine) < SEEDS:
            missing.append(model)
            continue
        e95 = [statistics.mean(r["epochs_to_95"] for r in g) for g in (base, mine)]
        best = [[r["best_val_recall@20"] for r in g] for g in (base, mine)]
        centre, spread = statistics.mean(best[0]), statistics.stdev(best[0])
        gap = statistics.mean(best[1]) - centre
        if e95[1] < e95[0]:
            sooner.append(model)
        if gap < -spread:
            guard_failures.append(model)
        tests = " / ".join(f"{statistics.mean(r['test']['recall@20'] for r in g):.4f}" for g in (base, mine))
        print(f"| {model} | {len(base)} / {len(mine)} | {e95[0]:.0f} | {e95[1]:.0f} | {centre:.4f} ± {spread:.4f} | "
              f"{statistics.mean(best[1]):.4f} | {100 * gap / centre:+.1f}% ({gap / spread:+.1f}) | {tests} |")
    done = len({r["model"] for r in random}) - len(missing)
    print(f"\n`{variant}` reaches 95% of its best in fewer epochs than random (mean over seeds) on {len(sooner)} of "
          f"{done} backbones ({', '.join(sooner) or 'none'}); below random's best validation by more than random's "
          f"std on {len(guard_failures)} ({', '.join(guard_failures) or 'none'})."
          + (f" Not yet complete: {', '.join(missing)}." if missing else ""))


if __name__ == "__main__":
    main()
