"""Six seeds for ``item-sum,centre=true`` on the generated data (plan: ``docs/results/sgurinit_selection_rule.md``,
"Six seeds for `centre` on the generated data"; report only), run from the repository root:

    python -m studies.six_centre > docs/results/six_centre_synthetic/six.md

Per backbone, ``centre`` (seeds 999 / 1 / 2: ``centre_decorrelate_bm3/``, ``centre_decorrelate_grcn/``,
``centre_synthetic/``; seeds 3 / 4 / 5: ``centre_synthetic_vbpr_more/``, ``six_centre_synthetic/``) and item-sum
(``rule2_synthetic/``, ``six_synthetic/``) against random's six seeds (``rule2_synthetic/``, ``null2_synthetic/``), all under the default rule: best validation
Recall@20 (relative change, in random's stds and in standard errors of the difference of the means), epochs to 95%
of each run's best, and test Recall@20 (for the report only). Backbones without six ``centre`` seeds yet are listed
as missing.
"""

import math
import statistics

from studies.results import done_runs

DATASET = "synthetic"
SOURCES = {
    "random": ["rule2_synthetic", "null2_synthetic"],
    "item-sum": ["rule2_synthetic", "six_synthetic"],
    "item-sum,centre=true": ["centre_decorrelate_bm3", "centre_decorrelate_grcn", "centre_synthetic",
                             "centre_synthetic_vbpr_more", "six_centre_synthetic"],
}
SEEDS = 6


def compare(base: list[float], other: list[float]) -> tuple[float, float, float]:
    """Relative change of the mean (%), and the gap in ``base``'s stds and in standard errors of the difference."""
    gap = statistics.mean(other) - statistics.mean(base)
    spread = statistics.stdev(base)
    error = math.sqrt(statistics.variance(base) / len(base) + statistics.variance(other) / len(other))
    return 100 * gap / statistics.mean(base), gap / spread, gap / error


def main() -> None:
    groups = {v: [r for f in folders for r in done_runs(f, dataset=DATASET, variant=v)] for v, folders in SOURCES.items()}
    print("# Six seeds for `centre` on the generated data (report only)\n")
    print("Produced by `python -m studies.six_centre`; the runs: `README.md`. "
          "Validation but the last column (test, for the report only). Gaps: relative change (random's stds, "
          "standard errors of the difference).\n")
    print("| backbone | best val R@20 random | item-sum | centre | item-sum vs random | centre vs random | "
          "epochs to 95%: random / item-sum / centre | test R@20 random / item-sum / centre |")
    print("|---|---|---|---|---|---|---|---|")
    tallies = ("worse", "higher", "below 2 SE", "above 2 SE", "sooner")
    counts = {v: {name: [] for name in tallies} for v in SOURCES if v != "random"}
    missing = []
    for model in sorted({r["model"] for r in groups["random"]}):
        mine = {v: [r for r in g if r["model"] == model] for v, g in groups.items()}
        if any(len(g) < SEEDS for g in mine.values()):
            missing.append(model)
            continue
        best = {v: [r["best_val_recall@20"] for r in g] for v, g in mine.items()}
        e95 = {v: statistics.mean(r["epochs_to_95"] for r in g) for v, g in mine.items()}
        cells = []
        for v, tally in counts.items():
            change, stds, errors = compare(best["random"], best[v])
            cells.append(f"{change:+.1f}% ({stds:+.1f}, {errors:+.1f})")
            for name, hit in (("worse", stds < -1), ("higher", change > 0), ("below 2 SE", errors < -2),
                              ("above 2 SE", errors > 2), ("sooner", e95[v] < e95["random"])):
                if hit:
                    tally[name].append(model)
        means = {v: statistics.mean(b) for v, b in best.items()}
        tests = " / ".join(f"{statistics.mean(r['test']['recall@20'] for r in g):.4f}" for g in mine.values())
        print(f"| {model} | {means['random']:.4f} ± {statistics.stdev(best['random']):.4f} | "
              f"{means['item-sum']:.4f} | {means['item-sum,centre=true']:.4f} | {' | '.join(cells)} | "
              f"{' / '.join(f'{e:.0f}' for e in e95.values())} | {tests} |")
    done = len({r["model"] for r in groups["random"]}) - len(missing)
    print(f"\nOver six seeds a side, on {done} backbones (validation; worse: below random by more than its std):\n")
    for v, tally in counts.items():
        print(f"- `{v}`: " + "; ".join(f"{name} {len(models)} ({', '.join(models) or 'none'})"
                                     for name, models in tally.items()) + ".")
    if missing:
        print(f"\nNot yet complete: {', '.join(missing)}.")


if __name__ == "__main__":
    main()
