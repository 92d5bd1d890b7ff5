"""The selection rule of SG-URInit's default recipe (``docs/results/sgurinit_selection_rule.md``), as code.

Reads the ``runs.json`` of a study with ``random`` and candidate variants and applies the rule written before
the study ran, on VALIDATION only (each run's best validation Recall@20; no test metric is read):

1. per (data set, backbone) cell: the mean and sample std over seeds of each init's best validation Recall@20;
   only cells where random and every candidate have all ``seeds`` runs count;
2. guard: a candidate is eligible only if in no counted cell its mean is below random's mean by more than
   random's std there;
3. among eligible candidates, the highest mean relative change over random across the counted cells wins; one
   within ``tie`` (0.5 percentage points) of the best that comes earlier in ``candidates`` (simpler) wins the tie;
4. no eligible candidate: nothing is chosen (the current default stays), and the failing cells are listed.

``python -m studies.selection --runs docs/results/selection_ml100k/runs.json ... --out F.md``
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lit_mmrec.experiments.aggregate import mean_std
from lit_mmrec.experiments.runs_json import read_runs
from lit_mmrec.experiments.variants import RANDOM

CANDIDATES = ("item-sum", "item-sum,residual=1.0", "item-sum,decorrelate=true")
TIE = 0.005


@dataclass(frozen=True)
class Cell:
    """One (data set, backbone): per init, (mean, std) of the best validation Recall@20 over seeds."""

    dataset: str
    model: str
    stats: dict[str, tuple[float, float]]

    def change(self, candidate: str) -> float:
        return self.stats[candidate][0] / self.stats[RANDOM][0] - 1.0

    def guard_fails(self, candidate: str) -> bool:
        mean, std = self.stats[RANDOM]
        return self.stats[candidate][0] < mean - std


def cells(records: list[dict[str, Any]], candidates: tuple[str, ...] = CANDIDATES, seeds: int = 3) -> list[Cell]:
    """The complete cells of ``records`` (finished runs): random and every candidate with ``seeds`` runs."""
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record.get("status") == "done" and record.get("best_val_recall@20") is not None:
            values[(record["dataset"], record["model"])][record["variant"]].append(record["best_val_recall@20"])
    complete = []
    for (dataset, model), per_init in values.items():
        inits = (RANDOM, *candidates)
        if all(len(per_init.get(init, [])) >= seeds for init in inits):
            stats = {init: mean_std(per_init[init]) for init in inits}
            complete.append(Cell(dataset, model, stats))
    return sorted(complete, key=lambda c: (c.dataset, c.model))


def choose(found: list[Cell], candidates: tuple[str, ...] = CANDIDATES, tie: float = TIE) -> dict[str, Any]:
    """Apply the rule to the complete cells: ``{"chosen", "scores", "eligible", "failing"}``; ``chosen`` is
    None when no candidate is eligible."""
    if not found:
        raise ValueError("no complete cell (random and every candidate with all seeds): nothing to choose on")
    scores = {c: statistics.fmean(cell.change(c) for cell in found) for c in candidates}
    failing = {c: [f"{cell.dataset}/{cell.model}" for cell in found if cell.guard_fails(c)] for c in candidates}
    eligible = [c for c in candidates if not failing[c]]
    if eligible:
        best = max(scores[c] for c in eligible)
        chosen = next(c for c in eligible if scores[c] >= best - tie)
    else:
        chosen = None
    return {"chosen": chosen, "scores": scores, "eligible": eligible, "failing": failing}


def selection_markdown(found: list[Cell], candidates: tuple[str, ...], expected_cells: int, command: str) -> str:
    """The report: per cell the relative change of each candidate over random (✗: the guard fails there), the
    scores and the decision; says plainly when fewer cells than ``expected_cells`` are complete."""
    decision = choose(found, candidates)
    head = ["data set", "backbone", "random (mean ± std)", *candidates]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in found:
        mean, std = cell.stats[RANDOM]
        changes = [f"{cell.change(c):+.2%}" + (" ✗" if cell.guard_fails(c) else "") for c in candidates]
        lines.append(f"| {cell.dataset} | {cell.model} | {mean:.4f} ± {std:.4f} | " + " | ".join(changes) + " |")
    summary = [
        f"| {c} | {decision['scores'][c]:+.2%} | {'yes' if c in decision['eligible'] else 'no: ' + ', '.join(decision['failing'][c])} |"
        for c in candidates
    ]
    partial = len(found) < expected_cells
    status = (f"**Partial: {len(found)} of {expected_cells} cells complete; this is not the decision.**"
              if partial else f"All {expected_cells} cells complete.")
    if decision["chosen"] is None:
        verdict = "No candidate passed the guard" + (" on the complete cells" if partial else "") + \
            ": **none is chosen, the current default stays**"
    else:
        verdict = ("Provisional choice on the complete cells" if partial else "Chosen") + f": **{decision['chosen']}**"
    return (
        "# SG-URInit default recipe: the selection rule applied (validation only)\n\n"
        "Rule: `docs/results/sgurinit_selection_rule.md` (written before the runs), implemented in "
        "`studies/selection.py`. Per run its best validation Recall@20; per cell mean ± sample std "
        "over seeds; change of each candidate's mean over random's (✗: below random's mean by more than random's "
        "std, the guard).\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n{status}\n\n" + "\n".join(lines) + "\n\n"
        "| candidate | mean change over the cells | eligible (guard) |\n|---|---|---|\n" + "\n".join(summary)
        + f"\n\n{verdict}.\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studies.selection", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="runs.json files of the selection grid")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), help="in order of simplicity")
    parser.add_argument("--seeds", type=int, default=3, help="runs per init a cell needs")
    parser.add_argument("--expected_cells", type=int, default=24, help="cells of the full grid")
    args = parser.parse_args(argv)
    records = [r for path in args.runs for r in read_runs(path)]
    candidates = tuple(args.candidates)
    found = cells(records, candidates, args.seeds)
    if not found:
        parser.error(f"{', '.join(map(str, args.runs))}: no complete cell yet (random and every candidate of "
                     f"{list(candidates)} with {args.seeds} finished runs)")
    shown = "python -m studies.selection " + " ".join(
        ["--runs", *map(str, args.runs), "--out", str(args.out)])
    args.out.write_text(selection_markdown(found, candidates, args.expected_cells, shown))
    print(f"{args.out}: {len(found)} complete cells, chosen: {choose(found, candidates)['chosen'] or 'none'}")


if __name__ == "__main__":
    main()
