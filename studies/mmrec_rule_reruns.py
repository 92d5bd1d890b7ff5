"""The evidence grid's test Recall@20 under MMRec's rule, measured.

Training does not depend on the stopping rule, so a `warmup50` run whose MMRec-rule replay stops at the same
epoch IS the MMRec-rule run (same curve, same stop, same best checkpoint, same test). This script retrains, with
`--early_stopping.rule mmrec`, only the runs of selection_ml100k (+ diagnosis_ml100k_warmup50's MGCN) and
selection_synthetic whose MMRec-rule replay stops earlier and that no earlier MMRec-rule study already holds
(diagnosis_ml100k, lightgcn_ml100k_mmrec_rule on ml100k). Resumable (the runner skips finished runs).

    OMP_NUM_THREADS=1 python -m studies.mmrec_rule_reruns
"""

from pathlib import Path

from lit_mmrec.experiments.runner import RunSpec, RunStore, Settings, run_all
from lit_mmrec.experiments.runs_json import read_runs
from lit_mmrec.experiments.variants import parse_variant
from studies.rules import compared_runs, replay

RESULTS = Path("docs/results")
OUT = RESULTS / "mmrec_rule_reruns"


def load(*folders: str) -> list[dict]:
    return [r for f in folders for r in read_runs(RESULTS / f / "runs.json")]


def needed() -> list[tuple[str, str, str, int, float]]:
    held = {(r["dataset"], r["model"], r["variant"], r["seed"])
            for r in load("diagnosis_ml100k", "lightgcn_ml100k_mmrec_rule")}
    found = []
    for records in (load("selection_ml100k", "diagnosis_ml100k_warmup50"), load("selection_synthetic")):
        for (dataset, model), per_init in compared_runs(records, "item-sum").items():
            for variant, members in per_init.items():
                for r in members:
                    stop = replay(r["curve"], 20, 0, 1000).epochs
                    if stop != r["epochs"] and (dataset, model, variant, r["seed"]) not in held:
                        found.append((dataset, model, variant, r["seed"], stop * r["wall_s"] / r["epochs"]))
    return sorted(found, key=lambda x: -x[-1])  # longest first: two jobs end together


if __name__ == "__main__":
    specs = [RunSpec(OUT.name, d, m, parse_variant(v), s) for d, m, v, s, _ in needed()]
    print(len(specs), "runs to retrain under MMRec's rule")
    settings = Settings(out=OUT, max_epochs=1000, cold_start=(0, 1, 5, 10), extra=("--early_stopping.rule", "mmrec"))
    run_all(specs, settings, RunStore(OUT / "runs.json"), jobs=2)
