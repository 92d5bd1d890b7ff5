"""The choice of the default recipe (plan: ``docs/results/sgurinit_selection_rule.md``, "Centre one kind of user
table only?"), run from the repository root:

    python -m studies.default_choice_grid > docs/results/default_choice_grid/decision.md

VBPR's tables (``centre_tables_vbpr/``): on VBPR (generated data), six seeds each of ``centre_tables=id`` and
``centre_tables=features`` against random, item-sum and ``centre`` (all tables); the one with the higher mean best
validation Recall@20 is the candidate (tie: ``features``). The grid (``default_choice_grid/``): the candidate
against item-sum by the three conditions of ``centre_as_default`` at seeds 999 / 1 / 2 over the 24 cells, and
condition 4 over six seeds on ml100k. Then, for the report only: the generated data over six seeds, test Recall@20
against the done-when's first criterion, and MMRec's rule replayed on the same curves. On backbones with one kind of
user table the candidate computes exactly the tables of ``centre`` (feature-space tables, if the candidate centres
them) or of item-sum (otherwise), so those runs stand for it. Test Recall@20 is printed for the report only. The
decision is withheld until every cell it needs is in.
"""

import math
import statistics

from lit_mmrec.callbacks.early_stopping import RULES
from studies.results import done_runs
from studies.rules import replay

RANDOM, ITEM_SUM, CENTRE = "random", "item-sum", "item-sum,centre=true"
CANDIDATES = {kind: f"{CENTRE},centre_tables={kind}" for kind in ("id", "features")}
#: the backbones' user tables (``user_init_targets``): ID tables only, feature-space tables only, or both
ID_ONLY = {"lightgcn", "lattice", "lgmrec", "mgcn"}
FEATURES_ONLY = {"bm3", "freedom", "slmrec", "mmgcn", "dragon", "dualgnn"}
MIXED = {"vbpr", "grcn"}
SOURCES = {
    "ml100k": {
        RANDOM: ["rule2_ml100k", "rule2_ml100k_mgcn", "null2_ml100k", "six_ml100k_more", "six_ml100k_mgcn"],
        ITEM_SUM: ["rule2_ml100k", "rule2_ml100k_mgcn", "six_ml100k", "six_ml100k_more", "six_ml100k_mgcn"],
        CENTRE: ["centre_ml100k_late_start", "centre_ml100k_grid"],
    },
    "synthetic": {
        RANDOM: ["rule2_synthetic", "null2_synthetic"],
        ITEM_SUM: ["rule2_synthetic", "six_synthetic"],
        CENTRE: ["centre_decorrelate_bm3", "centre_decorrelate_grcn", "centre_synthetic", "centre_synthetic_vbpr_more",
                 "six_centre_synthetic"],
    },
}
CANDIDATE_FOLDERS = ["centre_tables_vbpr", "default_choice_grid"]
RULE_SEEDS = (999, 1, 2)  # the seeds conditions 1-3 compare
SIX_SEEDS = (999, 1, 2, 3, 4, 5)
TIE_MARGIN = 0.5  # percentage points, the selection rule's


def group(dataset: str, variant: str, model: str, seeds: tuple[int, ...]) -> list[dict] | None:
    """One run per seed of ``variant`` (a candidate: its own runs, else the runs that compute the same tables);
    None while a seed is missing."""
    if variant in CANDIDATES.values():
        kind = variant.rsplit("=", 1)[1]
        found = [r for f in CANDIDATE_FOLDERS for r in done_runs(f, dataset=dataset, variant=variant, model=model)]
        if model not in MIXED:
            centred = (model in ID_ONLY) == (kind == "id")
            stand_in = CENTRE if centred else ITEM_SUM
            found += [r for f in SOURCES[dataset][stand_in] for r in done_runs(f, dataset=dataset, variant=stand_in, model=model)]
    else:
        found = [r for f in SOURCES[dataset][variant] for r in done_runs(f, dataset=dataset, variant=variant, model=model)]
    by_seed = {r["seed"]: r for r in found if r["seed"] in seeds}
    return [by_seed[s] for s in seeds] if len(by_seed) == len(seeds) else None


def mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows)


def best(rows: list[dict]) -> list[float]:
    return [r["best_val_recall@20"] for r in rows]


def test(rows: list[dict]) -> float:
    return statistics.mean(r["test"]["recall@20"] for r in rows)


def diagnosis() -> str | None:
    """The table of VBPR's tables; returns the candidate, or None while runs are missing."""
    print("## Which of VBPR's tables does centring cost? (generated data, six seeds each)\n")
    print("| init | best val R@20 (mean ± std) | vs random (in random's stds; in standard errors) | "
          "epochs to 95% | test R@20 (report only) |")
    print("|---|---|---|---|---|")
    base = group("synthetic", RANDOM, "vbpr", SIX_SEEDS)
    means = {}
    for variant in (RANDOM, ITEM_SUM, CENTRE, *CANDIDATES.values()):
        rows = group("synthetic", variant, "vbpr", SIX_SEEDS)
        if rows is None:
            print(f"| {variant} | missing | | | |")
            continue
        values = best(rows)
        means[variant] = statistics.mean(values)
        gap = means[variant] - statistics.mean(best(base))
        error = math.sqrt(statistics.variance(best(base)) / 6 + statistics.variance(values) / 6)
        print(f"| {variant} | {means[variant]:.4f} ± {statistics.stdev(values):.4f} | "
              f"{100 * gap / statistics.mean(best(base)):+.1f}% ({gap / statistics.stdev(best(base)):+.1f}; "
              f"{gap / error:+.1f}) | {mean(rows, 'epochs_to_95'):.0f} | {test(rows):.4f} |")
    print()
    if any(v not in means for v in CANDIDATES.values()):
        print("VBPR's tables not complete: no candidate yet.\n")
        return None
    kind = "id" if means[CANDIDATES["id"]] > means[CANDIDATES["features"]] else "features"
    print(f"Candidate (higher six-seed mean best validation; tie: features): **`{CANDIDATES[kind]}`**.\n")
    return CANDIDATES[kind]


def cell(dataset: str, model: str, candidate: str, seeds: tuple[int, ...]) -> dict | None:
    """Random, item-sum and the candidate on one backbone: gaps to random and epochs to 95%."""
    groups = {v: group(dataset, v, model, seeds if v != RANDOM else SIX_SEEDS) for v in (RANDOM, ITEM_SUM, candidate)}
    if any(g is None for g in groups.values()):
        return None
    ref, spread = statistics.mean(best(groups[RANDOM])), statistics.stdev(best(groups[RANDOM]))
    gaps = {v: statistics.mean(best(groups[v])) - ref for v in (ITEM_SUM, candidate)}
    return {
        "groups": groups, "ref": ref, "spread": spread,
        "change": {v: 100 * g / ref for v, g in gaps.items()},
        "stds": {v: g / spread for v, g in gaps.items()},
        "failed": {v: g < -spread for v, g in gaps.items()},
        "e95": {v: mean(g, "epochs_to_95") for v, g in groups.items()},
    }


def table(dataset: str, candidate: str, seeds: tuple[int, ...], missing: list[str]) -> dict[str, dict]:
    print("| backbone | best val R@20 random (6 seeds) | item-sum | candidate | vs random: item-sum / candidate "
          "(in random's stds) | epochs to 95%: random / item-sum / candidate | test R@20 random / item-sum / "
          "candidate |")
    print("|---|---|---|---|---|---|---|")
    cells = {}
    for model in sorted(ID_ONLY | FEATURES_ONLY | MIXED):
        c = cell(dataset, model, candidate, seeds)
        if c is None:
            missing.append(f"{dataset}/{model}")
            continue
        cells[model] = c
        g, v = c["groups"], (ITEM_SUM, candidate)
        print(f"| {model} | {c['ref']:.4f} ± {c['spread']:.4f} | "
              + " | ".join(f"{statistics.mean(best(g[x])):.4f}" for x in v) + " | "
              + " / ".join(f"{c['change'][x]:+.1f}% ({c['stds'][x]:+.1f})" for x in v)
              + " | " + " / ".join(f"{c['e95'][x]:.0f}" for x in (RANDOM, *v)) + " | "
              + " / ".join(f"{test(g[x]):.4f}" for x in (RANDOM, *v)) + " |")
    print()
    return cells


def verdict(cells: dict[str, dict], candidate: str) -> tuple[list[str], list[str]]:
    """New guard failures and the backbones where the candidate reaches 95% sooner than random."""
    new = [m for m, c in cells.items() if c["failed"][candidate] and not c["failed"][ITEM_SUM]]
    sooner = [m for m, c in cells.items() if c["e95"][candidate] < c["e95"][RANDOM]]
    return new, sooner


def main() -> None:
    print("# Centre one kind of user table only?\n")
    print("Produced by `python -m studies.default_choice_grid`; plan: "
          "`../sgurinit_selection_rule.md`, \"Centre one kind of user table only?\". Validation decides; test columns are for the report only.\n")
    candidate = diagnosis()
    if candidate is None:
        return
    if candidate == CANDIDATES["id"]:
        print("The candidate centres ID tables only: the third condition of `centre_as_default` cannot hold (plan). "
              "**item-sum stays the default.**")
        return
    missing: list[str] = []
    cells = {}
    for dataset in SOURCES:
        print(f"## {dataset}, seeds 999 / 1 / 2 (conditions 1-3)\n")
        cells[dataset] = table(dataset, candidate, RULE_SEEDS, missing)
    print("## ml100k, six seeds (condition 4)\n")
    six = table("ml100k", candidate, SIX_SEEDS, missing)
    if missing:
        print(f"Not yet complete: {', '.join(missing)}. No decision until every cell is in.")
        return
    new, sooner = {}, {}
    for dataset, c in cells.items():
        new[dataset], sooner[dataset] = verdict(c, candidate)
    change = {v: statistics.mean(c["change"][v] for d in cells.values() for c in d.values()) for v in (ITEM_SUM, candidate)}
    new_six, sooner_six = verdict(six, candidate)
    conditions = [
        (not any(new.values()), "new guard failures: " + (", ".join(f"{d}/{m}" for d, ms in new.items() for m in ms)
                                                          or "none")),
        (change[candidate] >= change[ITEM_SUM] - TIE_MARGIN,
         f"mean relative change over random: candidate {change[candidate]:+.2f}%, item-sum {change[ITEM_SUM]:+.2f}%"),
        (all(len(s) >= 8 for s in sooner.values()),
         "sooner to 95% than random: " + "; ".join(f"{d} {len(s)} of 12 ({', '.join(s)})" for d, s in sooner.items())),
        (len(sooner_six) >= 8 and not new_six,
         f"ml100k over six seeds: sooner on {len(sooner_six)} of 12 ({', '.join(sooner_six)}); new guard failures: "
         f"{', '.join(new_six) or 'none'}"),
    ]
    print("## Decision\n")
    for i, (ok, text) in enumerate(conditions, 1):
        print(f"{i}. {'met' if ok else 'NOT met'}: {text}.")
    replaces = all(ok for ok, _ in conditions)
    print(f"\n**{f'`{candidate}` replaces item-sum as the default.' if replaces else 'item-sum stays the default.'}**")
    report_only(candidate)


def report_only(candidate: str) -> None:
    """Six seeds on the generated data, the test criterion, and MMRec's rule replayed: decides nothing."""
    missing: list[str] = []
    print("\n## Report only: generated data, six seeds\n")
    six = table("synthetic", candidate, SIX_SEEDS, missing)
    if len(six) == 12:
        print(f"95% sooner than random on {len(verdict(six, candidate)[1])} of 12.\n")
    print("## Report only: test Recall@20 against random (the done-when's first criterion)\n")
    print("Seeds 999 / 1 / 2 for item-sum and the new default, six for random: worse = below random's mean by more "
          "than random's seed-to-seed std; better = a higher mean.\n")
    for dataset in SOURCES:
        counts = {}
        for variant in (ITEM_SUM, candidate):
            worse, better = [], []
            for model in sorted(ID_ONLY | FEATURES_ONLY | MIXED):
                base = [r["test"]["recall@20"] for r in group(dataset, RANDOM, model, SIX_SEEDS)]
                value = test(group(dataset, variant, model, RULE_SEEDS))
                if value < statistics.mean(base) - statistics.stdev(base):
                    worse.append(f"{model} {100 * (value / statistics.mean(base) - 1):+.1f}%")
                elif value > statistics.mean(base):
                    better.append(model)
            counts[variant] = f"worse on {len(worse)} ({', '.join(worse) or 'none'}), better on {len(better)} of 12"
        print(f"- {dataset}: new default {counts[candidate]}; item-sum {counts[ITEM_SUM]}.")
    print("\n## Report only: MMRec's rule (patience 20 from the first epoch), replayed on the same curves\n")
    print("Training does not depend on the rule, so a run's curve up to MMRec's stop is the run MMRec's rule would "
          "have trained (`studies/rules.py`); test under it is not measured here. Best validation "
          "change over random (six seeds) and epochs to 95% of each run's own best; seeds 999 / 1 / 2.\n")
    print("| data set | backbone | item-sum vs random | new default vs random | epochs to 95%: random / item-sum / "
          "new default |")
    print("|---|---|---|---|---|")
    mmrec = RULES["mmrec"]
    totals = {v: {"worse": 0, "sooner": 0} for v in (ITEM_SUM, candidate)}
    for dataset in SOURCES:
        for model in sorted(ID_ONLY | FEATURES_ONLY | MIXED):
            replayed = {}
            for variant in (RANDOM, ITEM_SUM, candidate):
                rows = group(dataset, variant, model, SIX_SEEDS if variant == RANDOM else RULE_SEEDS)
                replayed[variant] = [replay(r["curve"], mmrec["patience"], mmrec["warmup"]) for r in rows]
            base = [x.best for x in replayed[RANDOM]]
            e95 = {v: statistics.mean(x.epochs_to_95 for x in runs_) for v, runs_ in replayed.items()}
            cells = []
            for v in (ITEM_SUM, candidate):
                value = statistics.mean(x.best for x in replayed[v])
                worse = value < statistics.mean(base) - statistics.stdev(base)
                totals[v]["worse"] += worse
                totals[v]["sooner"] += e95[v] < e95[RANDOM]
                cells.append(f"{100 * (value / statistics.mean(base) - 1):+.1f}%{' ✗' if worse else ''}")
            print(f"| {dataset} | {model} | {' | '.join(cells)} | "
                  + " / ".join(f"{e95[v]:.0f}" for v in (RANDOM, ITEM_SUM, candidate)) + " |")
    print()
    for v, name in ((ITEM_SUM, "item-sum"), (candidate, "new default")):
        print(f"- {name}: below random beyond one std (✗) in {totals[v]['worse']} of 24 cells, 95% sooner in "
              f"{totals[v]['sooner']} of 24.")


if __name__ == "__main__":
    main()
