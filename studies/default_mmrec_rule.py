"""The new default recipe under MMRec's rule, test measured (report only; the done-when: "the same grid under
MMRec's rule is reported beside it"). Run from the repository root:

    python -m studies.default_mmrec_rule > docs/results/default_mmrec_rule/mmrec.md

Random and item-sum under MMRec's rule (patience 20 from the first epoch), seeds 999 / 1 / 2, test measured as in
``selection_*/rules.md``: a run trained under ``warmup50`` whose replayed MMRec stop is its own stop is the
MMRec-rule run, any other is the run retrained under MMRec's rule (``mmrec_rule_reruns/``, ``diagnosis_ml100k/``,
``lightgcn_ml100k_mmrec_rule/``). The new default (``item-sum,centre=true,centre_tables=features``): its own runs
under MMRec's rule (``default_mmrec_rule/``) on the eight backbones with feature-space tables; on the four ID-only
backbones it computes item-sum's tables, so item-sum's runs stand for it. Each of its own runs is checked to follow,
epoch for epoch, the validation curve of the same run under the default rule (``default_choice_grid/``'s), up to its
stop.
"""

import statistics
from pathlib import Path

from lit_mmrec.callbacks.early_stopping import RULES
from lit_mmrec.experiments.runs_json import read_runs
from studies import default_choice_grid as choice
from studies.rules import check_recorded, measured_test, replay

RESULTS = Path("docs/results")
RECORDS = {"ml100k": ["selection_ml100k", "diagnosis_ml100k_warmup50"], "synthetic": ["selection_synthetic"]}
MMREC_RUNS = ["mmrec_rule_reruns", "diagnosis_ml100k", "lightgcn_ml100k_mmrec_rule"]
SEEDS = (999, 1, 2)
MAX_EPOCHS = 1000
MMREC = RULES["mmrec"]

DEFAULT = choice.CANDIDATES["features"]


def load(folder: str) -> list[dict]:
    path = RESULTS / folder / "runs.json"
    return [r for r in read_runs(path) if r.get("status") == "done"] if path.is_file() else []


def main() -> None:
    others = {}
    for folder in MMREC_RUNS:
        for r in load(folder):
            others.setdefault((r["dataset"], r["model"], r["variant"], r["seed"]), r)
    own = {(r["dataset"], r["model"], r["seed"]): r for r in load("default_mmrec_rule") if r["variant"] == DEFAULT}
    print("# The new default under MMRec's rule, test measured (report only)\n")
    print("Produced by `python -m studies.default_mmrec_rule`. Test Recall@20 under MMRec's rule, "
          "mean over seeds 999 / 1 / 2; change over random's mean; ✗ below random's mean by more than random's "
          "seed-to-seed std.\n")
    print("| data set | backbone | test R@20 random | item-sum | new default | epochs (mean): random / item-sum / "
          "new default |")
    print("|---|---|---|---|---|---|")
    summary, missing, prefixes = {}, [], 0
    for dataset, folders in RECORDS.items():
        records = {}
        for folder in folders:
            for r in load(folder):
                records.setdefault((r["model"], r["variant"], r["seed"]), r)
        counts = {v: {"worse": [], "better": 0} for v in ("item-sum", "new default")}
        for model in sorted(choice.ID_ONLY | choice.FEATURES_ONLY | choice.MIXED):
            tests, epochs = {}, {}
            for variant in ("random", "item-sum"):
                rows = [records.get((model, variant, s)) for s in SEEDS]
                values = [None if r is None else measured_test(r, "mmrec", "warmup50", others, MAX_EPOCHS)
                          for r in rows]
                if None in values:
                    break
                tests[variant] = values
                epochs[variant] = statistics.mean(replay(r["curve"], MMREC["patience"], MMREC["warmup"], MAX_EPOCHS).epochs for r in rows)
            if model in choice.ID_ONLY:
                tests["new default"], epochs["new default"] = tests.get("item-sum"), epochs.get("item-sum")
            else:
                runs = [own.get((dataset, model, s)) for s in SEEDS]
                if None not in runs:
                    for r in runs:
                        check_recorded(r, "mmrec", MAX_EPOCHS)
                        longer = choice.group(dataset, DEFAULT, model, (r["seed"],))[0]
                        if longer["curve"][: len(r["curve"])] != r["curve"]:
                            raise ValueError(f"{r['name']}: its curve is not the default-rule run's up to its stop")
                        prefixes += 1
                    tests["new default"] = [r["test"]["recall@20"] for r in runs]
                    epochs["new default"] = statistics.mean(r["epochs"] for r in runs)
            if any(tests.get(v) is None for v in ("random", "item-sum", "new default")):
                missing.append(f"{dataset}/{model}")
                continue
            ref, spread = statistics.mean(tests["random"]), statistics.stdev(tests["random"])
            cells = []
            for v in ("item-sum", "new default"):
                value = statistics.mean(tests[v])
                worse = value < ref - spread
                if worse:
                    counts[v]["worse"].append(f"{model} {100 * (value / ref - 1):+.1f}%")
                counts[v]["better"] += value > ref
                cells.append(f"{value:.4f} ({100 * (value / ref - 1):+.1f}%{' ✗' if worse else ''})")
            print(f"| {dataset} | {model} | {ref:.4f} ± {spread:.4f} | {' | '.join(cells)} | "
                  + " / ".join(f"{epochs[v]:.0f}" for v in ("random", "item-sum", "new default")) + " |")
        summary[dataset] = counts
    print()
    for dataset, counts in summary.items():
        text = "; ".join(f"{v}: below beyond one std on {len(c['worse'])} ({', '.join(c['worse']) or 'none'}), "
                         f"higher on {c['better']}" for v, c in counts.items())
        print(f"- **{dataset}**: {text}.")
    print(f"\n{prefixes} runs of the new default under MMRec's rule follow their default-rule run's curve up to "
          "their stop, epoch for epoch.")
    if missing:
        print(f"\nNot yet complete: {', '.join(missing)}.")


if __name__ == "__main__":
    main()
