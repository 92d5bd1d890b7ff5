"""How often the done-when's one-standard-deviation test flags a second draw of random itself (a null
calibration).

The done-when compares a candidate's mean test Recall@20 over 3 seeds with random's mean over 3 seeds and calls a
backbone "worse" when the gap is larger than random's seed-to-seed standard deviation (itself a 3-seed estimate).
Given random runs on 6 seeds per backbone (the study's 3 plus 3 more, trained by the same command), this module
measures what that test says when the "candidate" is random:

- the draw: random on the new seeds against random on the study's seeds, by exactly the done-when's tests
  (worse beyond one std, higher mean, fewer epochs to 95% of the best validation Recall@20);
- the split rates: over all 20 ordered ways of splitting the 6 random runs into a reference of 3 and a draw of 3,
  the fraction the test calls worse / higher / sooner, per backbone; assuming backbones independent, the
  distribution of how many of a data set's backbones a no-op candidate gets called worse, higher or sooner on
  (:func:`count_distribution`);
- the candidate (``--candidate``, item-sum by default) against the 6 random runs pooled: its gap in units of the
  6-seed standard deviation;
- given the candidate's runs on the draw's seeds too (``--candidate_draw``): the candidate over 6 seeds against
  random over 6, by the done-when's tests and by the gap in standard errors of the difference of the two means
  (Welch's, ``sqrt(s_c^2 / n_c + s_r^2 / n_r)``).

``python -m studies.null --reference docs/results/selection_synthetic/runs.json
--draw docs/results/null_synthetic/runs.json --out docs/results/null_synthetic/null.md``
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lit_mmrec.experiments.aggregate import mean_std
from lit_mmrec.experiments.runs_json import read_runs
from lit_mmrec.experiments.variants import RANDOM
from studies.rules import first_runs

METRIC = "recall@20"


@dataclass(frozen=True)
class Outcome:
    """The done-when's three tests of a draw against a reference (each a list of runs of one backbone)."""

    worse: bool  # draw's mean test Recall@20 below the reference's mean by more than the reference's std
    higher: bool  # draw's mean test Recall@20 above the reference's mean
    sooner: bool  # draw's mean epochs to 95% below the reference's


def outcome(draw: list[dict[str, Any]], reference: list[dict[str, Any]]) -> Outcome:
    """:class:`Outcome` of ``draw`` against ``reference`` (runs with ``test`` and ``epochs_to_95``)."""
    mean, std = mean_std([r["test"][METRIC] for r in reference])
    drawn = statistics.mean(r["test"][METRIC] for r in draw)
    sooner = statistics.mean(r["epochs_to_95"] for r in draw) < statistics.mean(r["epochs_to_95"] for r in reference)
    return Outcome(worse=drawn < mean - std, higher=drawn > mean, sooner=sooner)


def split_rates(runs: list[dict[str, Any]], size: int) -> dict[str, float]:
    """Over every ordered split of ``runs`` into a draw of ``size`` and a reference of the rest (``2 * size``
    runs: C(2k, k) splits, each partition in both roles), the fraction of splits the test calls worse, higher
    and sooner."""
    if len(runs) != 2 * size or size < 2:
        raise ValueError(f"split_rates needs 2 x size runs with size >= 2, got {len(runs)} runs and size {size}")
    found = [outcome([runs[i] for i in chosen], [r for i, r in enumerate(runs) if i not in chosen])
             for chosen in itertools.combinations(range(len(runs)), size)]
    return {name: sum(getattr(o, name) for o in found) / len(found) for name in ("worse", "higher", "sooner")}


def count_distribution(rates: list[float]) -> list[float]:
    """P(exactly j of the events happen), j = 0..len(rates), for independent events of the given probabilities
    (the Poisson-binomial distribution, by the usual convolution)."""
    dist = [1.0]
    for p in rates:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a probability must lie in [0, 1], got {p}")
        dist = [(dist[j] if j < len(dist) else 0.0) * (1 - p) + (dist[j - 1] * p if j else 0.0)
                for j in range(len(dist) + 1)]
    return dist


@dataclass(frozen=True)
class Backbone:
    """One (data set, backbone): the study's random runs, the draw's, the candidate's."""

    dataset: str
    model: str
    reference: list[dict[str, Any]]
    draw: list[dict[str, Any]]
    candidate: list[dict[str, Any]]
    candidate_draw: list[dict[str, Any]] = field(default_factory=list)  # the candidate on new seeds, if any


def backbones(reference: list[dict[str, Any]], draw: list[dict[str, Any]], candidate: str,
              seeds: int = 3, candidate_draw: list[dict[str, Any]] | None = None) -> list[Backbone]:
    """Per (data set, backbone) with ``seeds`` finished runs of random and ``candidate`` in ``reference`` and of
    random in ``draw``, on seeds the reference does not use (:func:`~studies.rules.first_runs`). ValueError
    when the draw repeats one of the reference's seeds: it would be the same run, not a second draw. With
    ``candidate_draw``, each backbone also gets the candidate's first ``seeds`` runs there (none where it has fewer),
    on seeds the reference's candidate runs do not use."""
    studied, drawn = first_runs(reference, (RANDOM, candidate)), first_runs(draw, (RANDOM,))
    extra = first_runs(candidate_draw or [], (candidate,))
    result = []
    for key in sorted(set(studied) & set(drawn)):
        ref, cand, new = studied[key][RANDOM][:seeds], studied[key][candidate][:seeds], drawn[key][RANDOM][:seeds]
        if min(len(ref), len(cand), len(new)) < seeds:
            continue
        shared = {r["seed"] for r in ref} & {r["seed"] for r in new}
        if shared:
            raise ValueError(f"{key[0]}/{key[1]}: the draw repeats the reference's seeds {sorted(shared)}")
        more = extra.get(key, {}).get(candidate, [])[:seeds]
        more = more if len(more) == seeds else []
        shared = {r["seed"] for r in cand} & {r["seed"] for r in more}
        if shared:
            raise ValueError(f"{key[0]}/{key[1]}: the candidate's draw repeats its reference seeds {sorted(shared)}")
        result.append(Backbone(*key, ref, new, cand, more))
    return result


def _pct(value: float, base: float) -> str:
    return f"{value / base - 1:+.1%}" if base else "n/a"


@dataclass(frozen=True)
class AllSeeds:
    """The candidate over all its seeds against random over all its seeds."""

    change: float  # candidate's mean over random's, minus 1
    in_std: float  # gap of the means in random's std
    in_se: float  # gap of the means in standard errors of the difference (Welch's)
    tests: Outcome  # the done-when's tests over all seeds

    def cell(self) -> str:
        return f"{self.change:+.1%} ({self.in_std:+.1f} std; {self.in_se:+.1f} SE)" + (" ✗" if self.tests.worse else "")


def all_seeds(b: Backbone) -> AllSeeds | None:
    """:class:`AllSeeds` of a backbone whose candidate has a draw too (else None)."""
    if not b.candidate_draw:
        return None
    randoms = [r["test"][METRIC] for r in b.reference + b.draw]
    cands = [r["test"][METRIC] for r in b.candidate + b.candidate_draw]
    (r_mean, r_std), (c_mean, c_std) = mean_std(randoms), mean_std(cands)
    se = math.sqrt(c_std ** 2 / len(cands) + r_std ** 2 / len(randoms))
    return AllSeeds(change=c_mean / r_mean - 1.0 if r_mean else float("nan"),
                    in_std=(c_mean - r_mean) / r_std if r_std else float("nan"),
                    in_se=(c_mean - r_mean) / se if se else float("nan"),
                    tests=outcome(b.candidate + b.candidate_draw, b.reference + b.draw))


def null_markdown(found: list[Backbone], candidate: str, command: str) -> str:
    """The report: a row per backbone, then per data set the draw's counts, the candidate's counts, and the null
    distribution of those counts from the split rates (and, with the candidate's own draw, its all-seeds verdict)."""
    six = any(b.candidate_draw for b in found)
    head = ["data set", "backbone", "test R@20 random, study's seeds", "random, new seeds", "new - study (in std)",
            "epochs to 95%: study -> new", "splits called worse / higher / sooner",
            f"{candidate} vs 6 random seeds (in 6-seed std)"]
    head += [f"{candidate}, all seeds, vs random, all seeds (in random's std; in SE of the difference)"] if six else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_data: dict[str, list[tuple[Outcome, Outcome, dict[str, float]]]] = {}
    pooled: dict[str, list[AllSeeds]] = {}
    for b in found:
        (ref_mean, ref_std), (new_mean, new_std) = (mean_std([r["test"][METRIC] for r in runs])
                                                    for runs in (b.reference, b.draw))
        pooled_mean, pooled_std = mean_std([r["test"][METRIC] for r in b.reference + b.draw])
        cand_mean = statistics.mean(r["test"][METRIC] for r in b.candidate)
        rates = split_rates(b.reference + b.draw, len(b.draw))
        drawn, cand = outcome(b.draw, b.reference), outcome(b.candidate, b.reference)
        per_data.setdefault(b.dataset, []).append((drawn, cand, rates))
        units = (new_mean - ref_mean) / ref_std if ref_std else float("nan")
        cand_units = (cand_mean - pooled_mean) / pooled_std if pooled_std else float("nan")
        e95 = [statistics.mean(r["epochs_to_95"] for r in runs) for runs in (b.reference, b.draw)]
        both = all_seeds(b)
        lines.append("| " + " | ".join([
            b.dataset, b.model, f"{ref_mean:.4f} ± {ref_std:.4f}", f"{new_mean:.4f} ± {new_std:.4f}",
            f"{_pct(new_mean, ref_mean)} ({units:+.1f})" + (" ✗" if drawn.worse else ""),
            f"{e95[0]:.0f} -> {e95[1]:.0f}",
            f"{rates['worse']:.2f} / {rates['higher']:.2f} / {rates['sooner']:.2f}",
            f"{_pct(cand_mean, pooled_mean)} ({cand_units:+.1f})",
        ] + ([both.cell() if both else "n/a (runs missing)"] if six else [])) + " |")
        if both:
            pooled.setdefault(b.dataset, []).append(both)
    summary = []
    for dataset, rows in per_data.items():
        n = len(rows)
        half, most = (n + 1) // 2, -(-2 * n // 3)  # at least half; at least two thirds (8 of 12)
        worse_d, higher_d, sooner_d = (count_distribution([r[2][k] for r in rows]) for k in ("worse", "higher", "sooner"))
        expected = sum(r[2]["worse"] for r in rows)
        summary.append(
            f"- **{dataset}** ({n} backbones): random on the new seeds is called worse than random beyond one std on "
            f"{sum(r[0].worse for r in rows)}, higher on {sum(r[0].higher for r in rows)}, sooner to 95% on "
            f"{sum(r[0].sooner for r in rows)}; {candidate} (against the study's random, the grid's verdict): worse "
            f"on {sum(r[1].worse for r in rows)}, higher on {sum(r[1].higher for r in rows)}, sooner on "
            f"{sum(r[1].sooner for r in rows)}. From the split rates, a candidate that is random itself is called "
            f"worse on {expected:.1f} backbones on average; P(worse on none) = {worse_d[0]:.2f}; "
            f"P(higher on at least {half}) = {sum(higher_d[half:]):.2f}; P(sooner on at least {most}) = "
            f"{sum(sooner_d[most:]):.2f}; P(all three) = {worse_d[0] * sum(higher_d[half:]) * sum(sooner_d[most:]):.2f} "
            "if they were independent.")
        if b_all := pooled.get(dataset):
            summary.append(
                f"- **{dataset}**, {candidate} against random over all seeds ({len(b_all)} backbones with the "
                f"candidate's draw): worse beyond one std on {sum(a.tests.worse for a in b_all)}, higher on "
                f"{sum(a.tests.higher for a in b_all)}, sooner to 95% on {sum(a.tests.sooner for a in b_all)}; below "
                f"random by more than two standard errors of the difference on {sum(a.in_se < -2.0 for a in b_all)}.")
    return (
        "# Null calibration of the done-when's one-std test: random against random\n\n"
        "Random on new seeds (the draw) against random on the study's seeds, by exactly the done-when's tests "
        "(mean test Recall@20 over 3 seeds below the reference's mean by more than the reference's sample std: "
        "worse, ✗; above it: higher; mean epochs to 95% of the best validation Recall@20 below the reference's: "
        "sooner). Split rates: over the 20 ordered splits of the 6 random runs into a reference of 3 and a draw of "
        "3, the fraction called worse / higher / sooner (higher is 0.50 by symmetry: each partition is counted in "
        "both roles; sooner is below 0.50 where epochs to 95% tie). "
        f"The column '{candidate} vs 6 random seeds' puts the candidate against all 6 random "
        "runs: its gap over their mean, in units of their std. "
        + ("With the candidate's own draw, the all-seeds column puts the candidate over all its seeds against random "
           "over all its seeds: the change of the mean, in random's std and in standard errors of the difference "
           "(sqrt(s_c^2 / n_c + s_r^2 / n_r)), ✗ where the done-when's test calls it worse. " if six else "")
        + "Test is read here to calibrate the verdict; nothing "
        f"is chosen from it.\n\nProduced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(lines) + "\n\n"
        + "\n".join(summary) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studies.null", description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, nargs="+", required=True,
                        help="runs.json files of the study (random and the candidate)")
    parser.add_argument("--draw", type=Path, nargs="+", required=True, help="runs.json files of random on new seeds")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    parser.add_argument("--candidate", default="item-sum", help="the init the study compared with random")
    parser.add_argument("--candidate_draw", type=Path, nargs="+", default=[],
                        help="runs.json files of the candidate on new seeds (adds the all-seeds verdict)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per group a backbone needs")
    args = parser.parse_args(argv)
    loaded = {}
    for name in ("reference", "draw", "candidate_draw"):
        loaded[name] = []
        for path in getattr(args, name):
            if not path.is_file():
                parser.error(f"{path}: no such runs.json")
            loaded[name] += read_runs(path)
    try:
        found = backbones(loaded["reference"], loaded["draw"], args.candidate, args.seeds, loaded["candidate_draw"])
    except ValueError as error:
        parser.error(str(error))
    if not found:
        parser.error(f"no backbone with {args.seeds} finished runs of random and {args.candidate} in --reference "
                     f"and of random in --draw")
    shown = "python -m studies.null " + " ".join(
        ["--reference", *map(str, args.reference), "--draw", *map(str, args.draw)]
        + (["--candidate_draw", *map(str, args.candidate_draw)] if args.candidate_draw else [])
        + ["--out", str(args.out), "--candidate", args.candidate])
    args.out.write_text(null_markdown(found, args.candidate, shown))
    print(f"{args.out}: {len(found)} backbones")


if __name__ == "__main__":
    main()
