"""The whitened offsets' report (plans: ``docs/results/sgurinit_selection_rule.md``, "Whitened offsets: why BM3
loses on the generated data", "Norm-matched offsets: semantic share or row norm?"), run from the repository root:

    python -m studies.whitened_offsets whitened_offsets_bm3 whitened_offsets_lightgcn \
        > docs/results/whitened_offsets_bm3/nearest_user.md
    python -m studies.whitened_offsets whitened_offsets_norm_matched_bm3 whitened_offsets_random_x141 \
        whitened_offsets_random_x224 > docs/results/whitened_offsets_norm_matched_bm3/nearest_user.md

Per (backbone, init): best validation Recall@20 (mean ± sample std over seeds) against random's six seeds under
the same rule (``rule2_synthetic/`` 999 / 1 / 2 and ``null2_synthetic/`` 3 / 4 / 5), the nearest-user cosine of
the user table and of the scored user representations at the start and after the last epoch, and test Recall@20
(read for the report only). Then the replay check: every replayed run (same init, seed and training code as a
committed run) must reproduce that run's validation curve and stop exactly.
"""

import statistics
import sys

from studies.results import done_runs

RANDOM = ["rule2_synthetic", "null2_synthetic"]
#: where the committed run that a replay reproduces lives (same init and seed)
REPLAYED = {"random": "rule2_synthetic", "item-sum": "rule2_synthetic",
            "item-sum,centre=true": "centre_decorrelate_bm3", "item-sum,decorrelate=true": "centre_decorrelate_bm3"}


def diagnostic(run: dict, name: str, moment: str) -> float | None:
    found = run.get("diagnostics") or {}
    if moment == "start":
        return found.get("start", {}).get(name)
    values = found.get("by_epoch", {}).get(name) or []
    return values[-1] if values else None


def label(run: dict) -> str:
    """The run's init, with the factor of a ``ScaledUserTables`` control when its options have one."""
    factor = [a.split("=", 1)[1] for a in run["options"] if a.startswith("--trainer.callbacks.init_args.factor=")]
    return f"{run['variant']} x {factor[0]} (ScaledUserTables)" if factor else run["variant"]


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main(folders: list[str]) -> None:
    new = [r for folder in folders for r in done_runs(folder)]
    print("# BM3 on the generated data: best validation and the nearest-user cosine per init\n")
    print(f"Produced by `python -m studies.whitened_offsets {' '.join(folders)}`; the runs: "
          "each folder's `README.md`. Validation decides, test is read for the report only.\n")
    print("| backbone | init | seeds | best val R@20 | vs random (6 seeds) | in random's stds | "
          "nearest cos, table: start / last | nearest cos, scored users: start / last | test R@20 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in sorted({r["model"] for r in new}):
        reference = [r["best_val_recall@20"] for f in RANDOM for r in done_runs(f)
                     if r["model"] == model and r["variant"] == "random"]
        centre, spread = statistics.mean(reference), statistics.stdev(reference)
        print(f"| {model} | random (reference) | {len(reference)} | "
              f"{centre:.4f} ± {spread:.4f} | | | | | |")
        for variant in dict.fromkeys(label(r) for r in new if r["model"] == model):
            group = [r for r in new if r["model"] == model and label(r) == variant]
            best = [r["best_val_recall@20"] for r in group]
            cos = {(what, moment): [v for r in group if (v := diagnostic(r, name, moment)) is not None]
                   for what, name in (("table", "user_embedding/nearest_cosine"),
                                      ("repr", "user_repr_nearest_cosine"))
                   for moment in ("start", "last")}
            gap = statistics.mean(best) - centre
            print(f"| {model} | `{variant}` | {len(group)} | {statistics.mean(best):.4f} ± "
                  f"{statistics.stdev(best) if len(best) > 1 else 0.0:.4f} | {100 * gap / centre:+.1f}% | "
                  f"{gap / spread:+.1f} | {mean_std(cos['table', 'start'])} / {mean_std(cos['table', 'last'])} | "
                  f"{mean_std(cos['repr', 'start'])} / {mean_std(cos['repr', 'last'])} | "
                  f"{statistics.mean(r['test']['recall@20'] for r in group):.4f} |")
    print("\n## Replays\n")
    checked, differing = 0, []
    for run in new:
        source = REPLAYED.get(label(run))
        if source is None:
            continue
        earlier = {(r["model"], r["variant"], r["seed"]): r for r in done_runs(source)}
        before = earlier.get((run["model"], run["variant"], run["seed"]))
        if before is None:
            continue
        checked += 1
        if (run["curve"], run["epochs"], run["best_val_recall@20"]) != (
                before["curve"], before["epochs"], before["best_val_recall@20"]):
            differing.append(f"{run['name']} (vs {before['name']})")
    print(f"{checked} replayed runs; {checked - len(differing)} reproduce their committed run's validation curve, "
          f"stop and best exactly" + (f"; differing: {', '.join(differing)}" if differing else "") + ".")


if __name__ == "__main__":
    main(sys.argv[1:])
