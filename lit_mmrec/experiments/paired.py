"""Paired comparison of two initialisations (or backbones) over the same test users, overall and per activity group.

Each run with :class:`~lit_mmrec.callbacks.UserGroupMetrics` (``per_user``) writes every test user's metrics to a
compressed ``.npz``. For a candidate and its baseline on the same data set, the runs of one seed are paired user by
user; the per-user differences of all seeds are pooled (a user appears once per seed). Over that pool:

- the mean difference, with a bootstrap confidence interval (users resampled with replacement, seeded);
- a paired test that the mean difference is 0 (``t``: Student's t-test on the differences; ``wilcoxon``: the
  signed-rank test), as ``scipy.stats`` computes it;
- the verdict: ``better`` or ``worse`` when the interval excludes 0, else ``no difference``.

Per activity group, the same over the users of each group (groups by training interactions, lowest first: quantile
groups computed from the pooled users, so every seed's users fall in the same groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from lit_mmrec.callbacks.user_groups import activity_groups
from lit_mmrec.experiments.runner import PER_USER

TESTS = ("t", "wilcoxon")


@dataclass(frozen=True)
class Paired:
    """The paired comparison of one metric over one set of users."""

    users: int
    baseline: float
    candidate: float
    mean_difference: float
    low: float
    high: float
    p_value: float

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no difference"


def load_per_user(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of one run's per-user ``.npz``."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def pair(baseline: dict[str, np.ndarray], candidate: dict[str, np.ndarray], metric: str
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(baseline values, candidate values, training interactions)`` of the users both runs evaluated."""
    common, b, c = np.intersect1d(baseline["users"], candidate["users"], return_indices=True)
    if len(common) == 0:
        raise ValueError("the two runs share no test user: not the same data set")
    return baseline[metric][b].astype(np.float64), candidate[metric][c].astype(np.float64), \
        baseline["train_interactions"][b]


def compare(baseline: np.ndarray, candidate: np.ndarray, test: str = "t", resamples: int = 2000,
            confidence: float = 0.95, seed: int = 0) -> Paired:
    """Paired comparison of per-user values (one entry per user and seed, in the same order on both sides)."""
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    differences = candidate - baseline
    n = len(differences)
    if n == 0:
        raise ValueError("no users to compare")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 256):  # bounded memory: 256 resamples of n users at a time
        count = min(256, resamples - start)
        means[start:start + count] = differences[rng.integers(0, n, size=(count, n))].mean(1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    if not differences.any():
        p_value = 1.0
    elif test == "t":
        p_value = float(stats.ttest_rel(candidate, baseline).pvalue)
    else:
        p_value = float(stats.wilcoxon(differences).pvalue)
    return Paired(n, float(baseline.mean()), float(candidate.mean()), float(differences.mean()), float(low),
                  float(high), p_value)


def compare_runs(baseline_files: Sequence[Path], candidate_files: Sequence[Path], metric: str = "recall@20",
                 groups: int = 5, test: str = "t", seed: int = 0) -> dict[str, Paired]:
    """Overall and per-group paired comparisons of the runs of two inits, paired seed by seed (the two lists in
    the same seed order): ``{"all": ..., "users_<lo>-<hi>": ...}``."""
    if len(baseline_files) != len(candidate_files) or not baseline_files:
        raise ValueError("compare_runs needs one candidate run per baseline run (the same seeds)")
    pooled = [pair(load_per_user(b), load_per_user(c), metric) for b, c in zip(baseline_files, candidate_files,
                                                                                  strict=True)]
    base = np.concatenate([p[0] for p in pooled])
    cand = np.concatenate([p[1] for p in pooled])
    degrees = np.concatenate([p[2] for p in pooled])
    result = {"all": compare(base, cand, test, seed=seed)}
    bounds = activity_groups(torch.from_numpy(degrees), groups).numpy()  # the callback's groups
    lows = [int(degrees.min())] + [int(b) + 1 for b in bounds[:-1]]
    which = np.searchsorted(bounds, degrees)
    for g, (lo, hi) in enumerate(zip(lows, bounds, strict=True)):
        members = which == g
        if members.any():
            result[f"users_{lo}-{int(hi)}"] = compare(base[members], cand[members], test, seed=seed)
    return result


def study_comparisons(records: Sequence[dict], runs_dir: Path, metric: str = "recall@20", test: str = "t",
                      baseline: str = "random") -> list[tuple[str, str, str, dict[str, Paired]]]:
    """Every (data set, backbone, init) of a study against ``baseline``, paired over the seeds both have a
    ``runs_dir/<run>/per_user.npz`` for; cells without such a pair are left out."""
    files: dict[tuple[str, str, str], dict[int, Path]] = {}
    for record in records:
        path = runs_dir / record["name"] / PER_USER
        if record.get("status") == "done" and path.is_file():
            files.setdefault((record["dataset"], record["model"], record["variant"]), {})[record["seed"]] = path
    rows = []
    for (dataset, model, variant), by_seed in files.items():
        base = files.get((dataset, model, baseline), {})
        seeds = sorted(set(by_seed) & set(base))
        if variant != baseline and seeds:
            result = compare_runs([base[s] for s in seeds], [by_seed[s] for s in seeds], metric, test=test)
            rows.append((dataset, model, variant, result))
    return rows


def paired_markdown(rows: Sequence[tuple[str, str, str, dict[str, Paired]]], metric: str, test: str) -> str:
    """One table: per (data set, backbone, candidate) and user group, the means, the mean difference with its
    interval, the p-value and the verdict."""
    lines = [
        f"# Paired comparison with random over the same test users ({metric}; {test} test; 95% bootstrap interval)",
        "",
        "| data set | backbone | init | users | n | random | init | difference [95% CI] | p | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, model, variant, result in rows:
        for group, p in result.items():
            lines.append(
                f"| {dataset} | {model} | {variant} | {group} | {p.users} | {p.baseline:.4f} | {p.candidate:.4f} | "
                f"{p.mean_difference:+.4f} [{p.low:+.4f}, {p.high:+.4f}] | {p.p_value:.3g} | {p.verdict} |"
            )
    return "\n".join(lines) + "\n"


def paired_summary(rows: Sequence[tuple[str, str, str, dict[str, Paired]]]) -> str:
    """The section ``table.md`` ends with: per (data set, backbone, init), the paired verdict over all test users
    and the groups where the interval excludes 0 (details: ``paired.md``)."""
    lines = ["", "## Paired over users (test Recall@20, all seeds pooled; details and every group: paired.md)", "",
             "| data set | backbone | init | difference [95% CI] | p | verdict | groups better / worse |",
             "|---|---|---|---|---|---|---|"]
    for dataset, model, variant, result in rows:
        overall = result["all"]
        groups = {g: p.verdict for g, p in result.items() if g != "all"}
        better = ", ".join(g for g, v in groups.items() if v == "better") or "-"
        worse = ", ".join(g for g, v in groups.items() if v == "worse") or "-"
        lines.append(f"| {dataset} | {model} | {variant} | {overall.mean_difference:+.4f} [{overall.low:+.4f}, "
                     f"{overall.high:+.4f}] | {overall.p_value:.3g} | {overall.verdict} | {better} / {worse} |")
    return "\n".join(lines) + "\n"

