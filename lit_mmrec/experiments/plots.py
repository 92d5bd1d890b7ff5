"""PNG plots (matplotlib, an optional extra: ``pip install -e '.[experiments]'``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MISSING = "matplotlib is not installed: no PNG plots (pip install -e '.[experiments]' or pip install matplotlib)"


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the non-interactive Agg backend; ImportError with :data:`MISSING` if absent."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(MISSING) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: dict[str, list[float]], title: str, path: Path) -> Path:
    """Validation Recall@20 per epoch, one line per initialisation."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        axes.plot(range(1, len(values) + 1), values, label=label, linewidth=1.5)
    axes.set(xlabel="epoch", ylabel="validation Recall@20", title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_panels(panels: dict[str, dict[str, list[float]]], title: str, path: Path) -> Path:
    """One small panel per quantity (x: epoch, index 0 = start of training), one line per initialisation."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (name, lines) in zip(axes[0], panels.items(), strict=True):
        for label, values in lines.items():
            ax.plot(range(len(values)), values, label=label, linewidth=1.2)
        ax.set(xlabel="epoch", title=name)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_anytime(budgets: list[int], lines: dict[str, list[float]], title: str, path: Path) -> Path:
    """Best validation Recall@20 within E epochs relative to random's final best, one line per init (log x)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for label, values in lines.items():
        axes.plot(budgets, values, marker="o", markersize=3, label=label, linewidth=1.5)
    axes.axhline(1.0, linestyle="--", color="grey", alpha=0.7)
    axes.set_xscale("log")
    axes.set(xlabel="epoch budget E", ylabel="best val Recall@20 within E / random's final", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_sweep(
    param: str, values: list[str], series: dict[str, tuple[list[float], list[float]]], baseline: dict[str, float],
    title: str, path: Path,
) -> Path:
    """Test metrics (mean with std error bars) against a swept option; random as dashed lines."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    positions = list(range(len(values)))
    for label, (means, stds) in series.items():
        line = axes.errorbar(positions, means, yerr=stds, marker="o", capsize=3, label=label)
        if label in baseline:
            axes.axhline(baseline[label], linestyle="--", color=line[0].get_color(), alpha=0.7, label=f"{label}, random")
    axes.set_xticks(positions, values)
    axes.set(xlabel=param, ylabel="test metric", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
