"""Item cold start in experiments: ``cold_start.md`` from the runs' :class:`~lit_mmrec.callbacks.ColdStartEvaluation`
results."""

from __future__ import annotations

from typing import Any

from lit_mmrec.callbacks.cold_start_evaluation import cold_start_key
from lit_mmrec.experiments.aggregate import HEADERS, markdown_table, summarise_columns


def _cold_value(record: dict[str, Any], key: str, metric: str) -> float | None:
    """``metric`` under cold-start entry ``key`` (``"<N>"`` or ``"cold/<N>"``); None (not counted) when the
    data set has no user with such an item, where the metric would read 0 without meaning it."""
    entry = record.get("cold_start", {}).get(key, {})
    return entry.get(metric) if entry.get("users") else None


def cold_start_markdown(records: list[dict[str, Any]], command: str) -> str:
    """``cold_start.md``: per threshold N, the table of test metrics on cold items, random vs SG-URInit,
    ranking over all items; then, for runs that measured it, ranking within the cold items only."""
    keys = {k for r in records for k in r.get("cold_start", {})}
    sections = [_section(records, str(n), n, within=False) for n in sorted(int(k) for k in keys if k.isdigit())]
    within = sorted(int(k.split("/")[1]) for k in keys if k.startswith("cold/"))
    if within:
        sections.append(
            "## Ranking within the cold items only\n\nThe item cold-start protocol (e.g. CLCRec's): the "
            "candidates are the items with at most N training interactions, not every item.\n"
        )
        sections += [_section(records, cold_start_key("cold", n), n, within=True) for n in within]
    return (
        "# Item cold start\n\n"
        "Test metrics of the best-validation checkpoint with the ground truth restricted to test items with at "
        "most N training interactions (ranking over all items, training items excluded; users without such "
        "an item not counted). Mean ± sample std over seeds.\n\n"
        f"Produced by:\n\n```bash\n{command}\n```\n\n" + "\n".join(sections)
    )


def _section(records: list[dict[str, Any]], key: str, n: int, within: bool) -> str:
    """One threshold's table: sizes per data set, then metrics per (data set, backbone, init)."""
    summary = summarise_columns(records, HEADERS, lambda r, metric: _cold_value(r, key, metric))
    sizes = sorted({(r["dataset"], r["cold_start"][key]["cold_items"], r["cold_start"][key]["users"],
                     r["cold_start"][key].get("candidates"))
                    for r in records if key in r.get("cold_start", {})}, key=lambda size: (*size[:3], size[3] or 0))
    described = "; ".join(
        f"{d}: {items} cold test items, {users} users"
        + (f", {candidates} candidates (a random order: Recall@20 about {min(1.0, 20 / candidates):.3f})"
           if candidates else "")
        + ("" if users else " (not in the table: nothing to measure)")
        for d, items, users, candidates in sizes
    )
    title = "never seen in training" if n == 0 else f"with at most {n} training interaction{'' if n == 1 else 's'}"
    scope = ", ranked among the cold items only" if within else ""
    return f"## Test items {title}{scope} (N = {n})\n\n{described}\n\n" + markdown_table(summary, HEADERS)
