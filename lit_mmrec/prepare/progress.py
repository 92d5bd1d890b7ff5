"""Progress bars for the long steps of data preparation (``rich``), silent unless stderr is a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    """Handle on one progress bar: :meth:`update` sets the amount done, :meth:`advance` adds to it."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def update(self, completed: float) -> None:
        """Set the amount done."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def advance(self, amount: float = 1) -> None:
        """Add ``amount`` to the amount done."""
        if self._progress is not None:
            self._progress.advance(self._task, amount)


@contextmanager
def progress_bar(description: str, total: float | None, unit: str = "items") -> Iterator[Bar]:
    """A transient progress bar on stderr for one step; ``unit="bytes"`` shows sizes.

    Nothing is drawn when stderr is not a terminal (logs, CI, tests), so output stays clean.
    """
    console = Console(stderr=True)
    if not console.is_terminal:
        yield Bar(None, None)
        return
    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        amount,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield Bar(progress, progress.add_task(description, total=total))
