"""The README's SG-URInit summary: the default recipe against random, six seeds a side, per backbone.

    python -m studies.sgurinit_summary

prints the Markdown table the README shows between its ``sgurinit-summary`` markers (a test keeps the two equal).
It reads the committed studies through :func:`studies.default_choice_grid.group` (the runs of the default recipe, or
of the recipe that computes the same tables on a backbone with one kind of user table). Columns, per data set and
backbone: validation Recall@20 after the first epoch (the head start), epochs to 95% of the run's own best
validation Recall@20, and test Recall@20 of the best-validation checkpoint, mean ± std over the six seeds.
"""

from __future__ import annotations

import statistics

from studies.default_choice_grid import CANDIDATES, RANDOM, SIX_SEEDS, group

DEFAULT = CANDIDATES["features"]
DATASETS = {"ml100k": "ml100k", "synthetic": "generated"}
MODELS = ("bm3", "dragon", "dualgnn", "freedom", "grcn", "lattice", "lgmrec", "lightgcn", "mgcn", "mmgcn", "slmrec",
          "vbpr")


def first_epoch(rows: list[dict]) -> float:
    return statistics.mean(r["curve"][0] for r in rows)


def to_95(rows: list[dict]) -> float:
    return statistics.mean(r["epochs_to_95"] for r in rows)


def tests(rows: list[dict]) -> list[float]:
    return [r["test"]["recall@20"] for r in rows]


def main() -> None:
    print("| data | backbone | val R@20 after epoch 1: random → SG-URInit | epochs to 95% of best: random / SG-URInit "
          "| test R@20 random | test R@20 SG-URInit | change |")
    print("|---|---|---|---|---|---|---|")
    counts = {name: {"ahead": 0, "sooner": 0, "higher": 0, "below": 0} for name in DATASETS.values()}
    for dataset, name in DATASETS.items():
        for model in MODELS:
            random, default = group(dataset, RANDOM, model, SIX_SEEDS), group(dataset, DEFAULT, model, SIX_SEEDS)
            r_test, d_test = tests(random), tests(default)
            change = statistics.mean(d_test) / statistics.mean(r_test) - 1
            below = statistics.mean(r_test) - statistics.mean(d_test) > statistics.stdev(r_test)
            count = counts[name]
            count["ahead"] += first_epoch(default) > first_epoch(random)
            count["sooner"] += to_95(default) < to_95(random)
            count["higher"] += change > 0
            count["below"] += below
            print(f"| {name} | {model} | {first_epoch(random):.3f} → {first_epoch(default):.3f} "
                  f"| {to_95(random):.0f} / {to_95(default):.0f} "
                  f"| {statistics.mean(r_test):.4f} ± {statistics.stdev(r_test):.4f} "
                  f"| {statistics.mean(d_test):.4f} ± {statistics.stdev(d_test):.4f} "
                  f"| {change:+.1%}{' ✗' if below else ''} |")
    print()
    for name, count in counts.items():
        print(f"- {name}: ahead after epoch 1 on {count['ahead']} of {len(MODELS)}, 95% of the best sooner on "
              f"{count['sooner']}, test higher on {count['higher']}, below random by more than random's std "
              f"(✗) on {count['below']}.")


if __name__ == "__main__":
    main()
