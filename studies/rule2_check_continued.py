"""Check the runs continued under the stopping rule ``warmup50_patience50`` (run from the repository root):

    python -m studies.rule2_check_continued

Every continued run's validation curve must start with the earlier run's curve digit for digit, ``warmup50``
replayed on it must stop where the earlier run stopped with the same best epoch and value, and a continued run
that never beat the earlier best must have the earlier run's test metrics (the best checkpoint is the same).
"""

from pathlib import Path

from lit_mmrec.experiments.runs_json import read_runs
from studies.rules import replay

RESULTS = Path("docs/results")
PAIRS = [("rule2_ml100k", "selection_ml100k"), ("rule2_ml100k_mgcn", "diagnosis_ml100k_warmup50"),
         ("rule2_synthetic", "selection_synthetic"), ("null2_ml100k", "null_ml100k"),
         ("null2_synthetic", "null_synthetic")]


def main() -> int:
    """Print the checks' counts; 1 when a continued run does not replay its earlier run, else 0."""
    checked, mismatched, kept, kept_other_test = 0, [], 0, []
    for new, old in PAIRS:
        if not (RESULTS / new / "runs.json").is_file():
            continue
        earlier = {r["name"]: r for r in read_runs(RESULTS / old / "runs.json")}
        for run in read_runs(RESULTS / new / "runs.json"):
            if run.get("status") != "done":
                continue
            before = earlier[run["continued_from"]]
            replayed = replay(run["curve"], patience=20, warmup=50)
            checked += 1
            if not (run["curve"][: len(before["curve"])] == before["curve"] and replayed.epochs == before["epochs"]
                    and replayed.best_epoch == before["epochs_to_best"] and replayed.best == before["best_val_recall@20"]):
                mismatched.append(run["name"])
            if run["best_val_recall@20"] == before["best_val_recall@20"]:
                kept += 1
                if run["test"] != before["test"]:
                    kept_other_test.append(run["name"])
    print(f"{checked} continued runs: {checked - len(mismatched)} replay to their earlier run's curve, stop and best"
          f"{'; mismatched: ' + ', '.join(mismatched) if mismatched else ''}")
    print(f"{kept} never beat the earlier best; {len(kept_other_test)} of them with a different test"
          f"{': ' + ', '.join(kept_other_test) if kept_other_test else ''}")
    return 1 if mismatched or kept_other_test else 0


if __name__ == "__main__":
    raise SystemExit(main())
