"""Stopping rules replayed on recorded validation curves, and the study's verdict under each rule.

A run's training does not depend on its stopping rule: the rule only decides when to stop, and training is
deterministic, so a run trained under a rule that stops later holds, digit for digit, the validation curve an
earlier-stopping rule would have seen up to its stop. MMRec's rule (patience 20 from the first epoch) never stops
later than ``warmup50`` (the same patience held at 0 for 50 epochs), so every ``warmup50`` run of a study answers
"where would MMRec's rule have stopped, and at which best validation Recall@20". That is a VALIDATION answer: the
test metrics of a run are those of its own best checkpoint. Test under another rule comes from ``--measured``
runs trained under it (or from the run itself where the replayed rule stops where the run stopped: then it is
the same run); the report says which numbers are replayed and which are measured.

:func:`replay` mirrors :class:`~lit_mmrec.callbacks.early_stopping.StoppingRule` with ``min_delta = 0``: a
validation improves when it is strictly above the best so far; during the warm-up (epoch index ``< warmup``)
the patience counter is held at 0; training stops after the validation at which the counter reaches
``patience``. The best is the first epoch with the highest value (the best-validation checkpoint).

``python -m studies.rules --runs docs/results/selection_ml100k/runs.json ... --out F.md``
writes the verdict of the done-when per (data set, backbone): the candidate's test Recall@20 against
random's under the rule the runs were trained with and under every ``--measured`` rule (measured), its best
validation Recall@20 and epochs to 95% under every rule asked for (replayed).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lit_mmrec.callbacks.early_stopping import DEFAULT_RULE, RULES
from lit_mmrec.experiments.aggregate import mean_std
from lit_mmrec.experiments.convergence import PLOT_BUDGETS, anytime_relative, convergence
from lit_mmrec.experiments.runs_json import read_runs
from lit_mmrec.experiments.variants import RANDOM


@dataclass(frozen=True)
class Replayed:
    """Where a rule stops on a curve: epochs trained, the best epoch (1-based) and its validation value, and the
    first epoch (1-based) at which 95% of that best was reached (:func:`~lit_mmrec.experiments.convergence.convergence`
    of the curve up to the stop)."""

    epochs: int
    best_epoch: int
    best: float
    epochs_to_95: int


def replay(curve: list[float], patience: int, warmup: int = 0, max_epochs: int | None = None) -> Replayed | None:
    """Replay a stopping rule (strict improvement, ``patience`` validations counted from epoch index ``warmup``)
    on ``curve`` (validation Recall@20 per epoch, from the first). None when the curve ends before the rule would
    have stopped, unless it ends at ``max_epochs`` (the budget stopped both)."""
    if patience < 1 or warmup < 0:
        raise ValueError(f"patience must be >= 1 and warmup >= 0, got patience={patience}, warmup={warmup}")
    if not curve:
        raise ValueError("empty validation curve")
    best, wait = float("-inf"), 0
    stop = None
    for index, value in enumerate(curve):
        if value > best:
            best, wait = value, 0
        else:
            wait += 1
        if index < warmup:
            wait = 0
        if wait >= patience:
            stop = index
            break
    if stop is None:
        if max_epochs is None or len(curve) < max_epochs:
            return None
        stop = len(curve) - 1
    # the best and the first reaching of 95% of it, as every run's summary defines them
    summary = convergence([{"epoch": i, "val": v} for i, v in enumerate(curve[: stop + 1])])
    return Replayed(epochs=stop + 1, best_epoch=summary["epochs_to_best"], best=summary["best_val_recall@20"],
                    epochs_to_95=summary["epochs_to_95"])


#: The settings a named rule fixes (patience, warmup, min_delta, relative_min_delta): the keys of every preset.
RULE_SETTINGS = tuple(RULES[DEFAULT_RULE])


def recorded_rule(record: dict[str, Any], default: str = "warmup50") -> str:
    """The named rule a run was trained with: its record's ``stopping`` settings (the rule's name, or the named
    rule its numbers equal), else its ``options``' ``--early_stopping.rule`` (records without ``stopping``), else
    ``default`` (``train.py``'s default when the run was made). A run trained with a patience or warm-up set by
    number that no named rule has cannot be replayed (ValueError)."""
    stopping = record.get("stopping")
    if stopping is not None:
        name = stopping.get("rule")
        if name is None:
            numbers = {key: stopping.get(key) for key in RULE_SETTINGS}
            name = next((n for n, preset in RULES.items() if preset == numbers), None)
            if name is None:
                raise ValueError(f"run {record['name']}: trained with stopping settings {numbers}, which no named "
                                 f"rule has ({sorted(RULES)}); only named rules are replayed")
        if name not in RULES:
            raise ValueError(f"run {record['name']}: trained under rule {name!r}, not one of {sorted(RULES)}")
        return name
    options = record.get("options", [])
    for flag in (f"--early_stopping.{key}" for key in RULE_SETTINGS):
        if flag in options:
            raise ValueError(f"run {record['name']}: trained with {flag} set by number; only named rules are replayed")
    if "--early_stopping.rule" in options:
        return options[options.index("--early_stopping.rule") + 1]
    return default


@dataclass(frozen=True)
class Verdict:
    """One (data set, backbone): mean ± std over seeds of random's and the candidate's values."""

    dataset: str
    model: str
    seeds: int
    test: dict[str, tuple[float, float]]  # init -> test Recall@20 under the recorded rule
    val: dict[str, dict[str, tuple[float, float]]]  # rule -> init -> best validation Recall@20 (replayed)
    e95: dict[str, dict[str, tuple[float, float]]]  # rule -> init -> epochs to 95% of the best (replayed)
    # rule -> mean epochs a run trains under it (replayed), over both inits' runs: what the rule costs
    epochs: dict[str, float] = field(default_factory=dict)
    # rule -> init -> test Recall@20 of the run trained under that rule (measured; None: a run is missing)
    measured: dict[str, dict[str, tuple[float, float]] | None] = field(default_factory=dict)


def check_recorded(record: dict[str, Any], trained_with: str, max_epochs: int) -> None:
    """ValueError unless replaying the rule ``record`` was trained with reproduces its recorded stop and best
    (a wrong ``trained_with``, or a run trained under a different rule than its options say, shows here)."""
    rule = recorded_rule(record, trained_with)
    preset = RULES[rule]
    replayed = replay(record["curve"], preset["patience"], preset["warmup"], max_epochs)
    if replayed is None or (replayed.epochs, replayed.best_epoch) != (record["epochs"], record["epochs_to_best"]):
        why = ("its record's stopping settings name it: the record does not match its own run" if "stopping" in record
               else "a run whose options name no rule ran under train.py's default of its day: 'mmrec' before "
               "2026-11-29, 'warmup50' until 2026-11-30, 'warmup50_patience50' since; --trained_with names it")
        raise ValueError(
            f"run {record['name']}: replaying {rule!r} on its curve gives {replayed}, but the run trained "
            f"{record['epochs']} epochs with its best at epoch {record['epochs_to_best']}: it was not trained under "
            f"{rule!r} ({why})")


def first_runs(records: list[dict[str, Any]], variants: tuple[str, ...]) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """Per (data set, backbone), per variant of ``variants``: the finished runs in record order, each seed once
    (a seed found again in a later record, e.g. the same cell in a second study's ``runs.json``: the first wins)."""
    found: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record.get("status") == "done" and record["variant"] in variants:
            members = found[(record["dataset"], record["model"])][record["variant"]]
            if all(r["seed"] != record["seed"] for r in members):
                members.append(record)
    return found


def compared_runs(records: list[dict[str, Any]], candidate: str, seeds: int = 3) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """Per (data set, backbone) where random and ``candidate`` both have ``seeds`` finished runs: their first
    ``seeds`` runs per init (:func:`first_runs`)."""
    found = first_runs(records, (RANDOM, candidate))
    return {
        cell: {init: per_init[init][:seeds] for init in (RANDOM, candidate)}
        for cell, per_init in sorted(found.items())
        if all(len(per_init.get(init, [])) >= seeds for init in (RANDOM, candidate))
    }


def measured_test(record: dict[str, Any], rule: str, trained_with: str, others: dict[tuple[str, str, str, int],
                  dict[str, Any]], max_epochs: int) -> float | None:
    """Test Recall@20 of ``record``'s run (data set, backbone, init, seed) trained under ``rule``: the record's own
    when the rule, replayed, stops where the record stopped (the same run: same curve, stop and best checkpoint);
    otherwise the one of ``others`` (runs trained under ``rule``, checked by :func:`check_recorded`); None when
    there is none."""
    preset = RULES[rule]
    replayed = replay(record["curve"], preset["patience"], preset["warmup"], max_epochs)
    if recorded_rule(record, trained_with) == rule or (replayed is not None and replayed.epochs == record["epochs"]):
        return record["test"]["recall@20"]
    other = others.get((record["dataset"], record["model"], record["variant"], record["seed"]))
    if other is None:
        return None
    check_recorded(other, rule, max_epochs)
    return other["test"]["recall@20"]


def verdicts(records: list[dict[str, Any]], candidate: str, rules: tuple[str, ...], seeds: int = 3,
             max_epochs: int = 1000, trained_with: str = "warmup50",
             measured: dict[str, list[dict[str, Any]]] | None = None) -> list[Verdict]:
    """Per (data set, backbone) of :func:`compared_runs`: each run must replay to its own recorded stop under the
    rule it was trained with (:func:`check_recorded`), and every rule of ``rules`` must stop within its curve (a
    replay that runs past a curve's end is an error, not a guess). ``measured``: per rule, runs trained under it
    (their test Recall@20 is :func:`measured_test`'s)."""
    by_rule = {
        rule: {(r["dataset"], r["model"], r["variant"], r["seed"]): r for r in reversed(runs) if r.get("status") == "done"}
        for rule, runs in (measured or {}).items()
    }  # reversed: the first file given wins, as in compared_runs
    result = []
    for (dataset, model), runs in compared_runs(records, candidate, seeds).items():
        val: dict[str, dict[str, tuple[float, float]]] = {}
        e95: dict[str, dict[str, tuple[float, float]]] = {}
        epochs: dict[str, float] = {}
        for members in runs.values():
            for record in members:
                check_recorded(record, trained_with, max_epochs)
        for rule in rules:
            preset = RULES[rule]
            val[rule], e95[rule], trained = {}, {}, []
            for init, members in runs.items():
                replays = []
                for record in members:
                    replayed = replay(record["curve"], preset["patience"], preset["warmup"], max_epochs)
                    if replayed is None:
                        raise ValueError(
                            f"run {record['name']} (trained under {recorded_rule(record, trained_with)!r}) ended before rule "
                            f"{rule!r} would have stopped: it cannot be replayed on this run")
                    replays.append(replayed)
                val[rule][init] = mean_std([r.best for r in replays])
                e95[rule][init] = mean_std([float(r.epochs_to_95) for r in replays])
                trained += [r.epochs for r in replays]
            epochs[rule] = sum(trained) / len(trained)
        test = {init: mean_std([r["test"]["recall@20"] for r in members]) for init, members in runs.items()}
        tested: dict[str, dict[str, tuple[float, float]] | None] = {}
        for rule, others in by_rule.items():
            values = {init: [measured_test(r, rule, trained_with, others, max_epochs) for r in members]
                      for init, members in runs.items()}
            complete = all(v is not None for vs in values.values() for v in vs)
            tested[rule] = {init: mean_std(vs) for init, vs in values.items()} if complete else None
        result.append(Verdict(dataset, model, seeds, test, val, e95, measured=tested, epochs=epochs))
    return result


def _compare(stats: dict[str, tuple[float, float]], candidate: str) -> str:
    """``+x.x%`` of the candidate's mean over random's, with ✗ (below random's mean by more than random's std)
    or ✓ (above random's mean)."""
    (base, std), (value, _) = stats[RANDOM], stats[candidate]
    change = f"{(value / base - 1.0):+.1%}" if base else "n/a"
    return change + (" ✗" if value < base - std else " ✓" if value > base else "")


#: Epoch budgets of the anytime line of the report.
ANYTIME = (1, 10, 50, 100, 1000)


def verdict_markdown(found: list[Verdict], candidate: str, rules: tuple[str, ...], recorded: str, command: str,
                     anytime: dict[str, dict[str, list[float]]] | None = None) -> str:
    """The report: a row per (data set, backbone), per data set the counts the done-when asks for, and (given
    ``anytime``, :func:`~lit_mmrec.experiments.convergence.anytime_relative` of the compared runs) the head start
    over all the backbones."""
    head = ["data set", "backbone", f"test R@20 random ({recorded}, measured)", f"{candidate} vs random, test"]
    measured_rules = list(dict.fromkeys(rule for v in found for rule in v.measured))
    head += [f"{candidate} vs random, test, {rule} (measured)" for rule in measured_rules]
    for rule in rules:
        head += [f"best val, {rule} (replayed)", f"epochs to 95%, {rule}: random -> {candidate}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    counts: dict[str, dict[str, int]] = {}
    for v in found:
        mean, std = v.test[RANDOM]
        row = [v.dataset, v.model, f"{mean:.4f} ± {std:.4f}", _compare(v.test, candidate)]
        tally = counts.setdefault(v.dataset, defaultdict(int))
        tally["cells"] += 1
        tally["worse"] += v.test[candidate][0] < mean - std
        tally["better"] += v.test[candidate][0] > mean
        for rule in measured_rules:
            stats = v.measured.get(rule)
            row.append(_compare(stats, candidate) if stats else "n/a (runs missing)")
            if stats:
                tally[f"measured {rule}"] += 1
                tally[f"worse test {rule}"] += stats[candidate][0] < stats[RANDOM][0] - stats[RANDOM][1]
                tally[f"better test {rule}"] += stats[candidate][0] > stats[RANDOM][0]
        for rule in rules:
            (r95, _), (c95, _) = v.e95[rule][RANDOM], v.e95[rule][candidate]
            row += [_compare(v.val[rule], candidate), f"{r95:.0f} -> {c95:.0f}"]
            tally[f"sooner {rule}"] += c95 < r95
            tally[f"worse val {rule}"] += v.val[rule][candidate][0] < v.val[rule][RANDOM][0] - v.val[rule][RANDOM][1]
            tally[f"epochs {rule}"] += v.epochs[rule]  # every cell has the same number of runs: a mean of means
        lines.append("| " + " | ".join(row) + " |")
    summary = []
    for dataset, tally in counts.items():
        parts = [f"test Recall@20 worse than random beyond one std on {tally['worse']} of {tally['cells']} "
                 f"backbones, better (higher mean) on {tally['better']}"]
        parts += [f"under {rule} (measured on {tally[f'measured {rule}']} backbones): test Recall@20 worse beyond "
                  f"one std on {tally[f'worse test {rule}']}, better on {tally[f'better test {rule}']}"
                  for rule in measured_rules]
        parts += [f"under {rule}: best validation worse beyond one std on {tally[f'worse val {rule}']}, fewer "
                  f"epochs to 95% on {tally[f'sooner {rule}']}, {tally[f'epochs {rule}'] / tally['cells']:.0f} epochs "
                  f"a run on average" for rule in rules]
        summary.append(f"- **{dataset}**: " + "; ".join(parts) + ".")
    for dataset, relative in (anytime or {}).items():
        shown = [e for e in ANYTIME if e in PLOT_BUDGETS]
        values = {init: " / ".join(f"{relative[init][PLOT_BUDGETS.index(e)]:.2f}" for e in shown) for init in relative}
        summary.append(
            f"- **{dataset}**, anytime (validation): the best validation Recall@20 within E = "
            f"{' / '.join(map(str, shown))} epochs relative to random's final level, mean over seeds and the "
            f"backbones above: {candidate} {values[candidate]}, random {values[RANDOM]}.")
    return (
        f"# {candidate} against random, per backbone, under each stopping rule\n\n"
        f"The runs were trained under `{recorded}`; their test Recall@20 is measured (best-validation checkpoint). "
        "Best validation Recall@20 and epochs to 95% of it under each rule are replayed on the runs' recorded "
        "validation curves (`studies/rules.py`: training does not depend on the rule, so the curve "
        "up to an earlier stop is the same). Test Recall@20 under another rule is measured where given "
        "(`--measured`): a run whose replay stops where it stopped is that rule's run; any other is the run "
        "trained under that rule, checked to stop where the replay says. "
        f"Mean over {found[0].seeds if found else 0} seeds; change of the candidate's mean over random's; ✗ below "
        "random's mean by more than random's seed-to-seed std, ✓ above random's mean. Epochs to 95% are of each "
        "run's own best under that rule.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(lines) + "\n\n" + "\n".join(summary) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studies.rules", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="runs.json files of the study")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    parser.add_argument("--candidate", default="item-sum", help="the init compared with random")
    parser.add_argument("--rules", nargs="+", default=["mmrec", "warmup50"], choices=sorted(RULES),
                        help="rules to replay (each must stop no later than the one the runs were trained with)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per init a backbone needs")
    parser.add_argument("--max_epochs", type=int, default=1000, help="the runs' epoch budget")
    parser.add_argument("--measured", nargs="+", default=[], metavar="RULE=RUNS.json",
                        help="runs trained under another rule, for that rule's measured test Recall@20")
    parser.add_argument("--trained_with", default="warmup50", choices=sorted(RULES),
                        help="the rule of runs whose record and options name none (records written before the runner "
                             "recorded it): train.py's default when they ran (mmrec before 2026-11-29, warmup50 "
                             "until 2026-11-30, warmup50_patience50 since)")
    args = parser.parse_args(argv)
    records = []
    for path in args.runs:
        if not path.is_file():
            parser.error(f"{path}: no such runs.json")
        records += read_runs(path)
    compared = [r for r in records if r.get("status") == "done" and r["variant"] in (RANDOM, args.candidate)]
    try:
        used = {recorded_rule(r, args.trained_with) for r in compared}
    except ValueError as error:
        parser.error(str(error))
    if len(used) != 1:
        parser.error(f"the runs were trained under {sorted(used) or 'no'} rules; one rule per report")
    try:
        measured: dict[str, list[dict[str, Any]]] = {}
        for item in args.measured:
            rule, _, path = item.partition("=")
            if rule not in RULES or not Path(path).is_file():
                raise ValueError(f"--measured {item}: expected RULE=RUNS.json with RULE in {sorted(RULES)} and an "
                                 "existing file")
            measured.setdefault(rule, []).extend(read_runs(Path(path)))
        found = verdicts(records, args.candidate, tuple(args.rules), args.seeds, args.max_epochs, args.trained_with,
                         measured)
    except ValueError as error:
        parser.error(str(error))
    if not found:
        parser.error(f"no backbone with {args.seeds} finished runs of both random and {args.candidate}")
    shown = "python -m studies.rules " + " ".join(
        ["--runs", *map(str, args.runs), "--out", str(args.out), "--candidate", args.candidate, "--rules", *args.rules,
         *(["--measured", *args.measured] if args.measured else []),
         "--trained_with", args.trained_with])
    paired = [r for cell in compared_runs(records, args.candidate, args.seeds).values()
              for members in cell.values() for r in members]
    text = verdict_markdown(found, args.candidate, tuple(args.rules), used.pop(), shown, anytime_relative(paired))
    args.out.write_text(text)
    print(f"{args.out}: {len(found)} backbones")


if __name__ == "__main__":
    main()
