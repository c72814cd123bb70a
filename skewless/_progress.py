"""Progress bars on a terminal, silence elsewhere.

A long-running loop reports progress through :func:`progress`; when standard error is not a
terminal (a pipe, a log file, a test) nothing is drawn and the calls cost next to nothing.

Example:
    >>> with progress("materialize user_stats", unit="rows") as bar:
    ...     bar.advance(1000)
    ...     bar.completed
    1000
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Progress", "progress"]


class Progress:
    """A running count of work done, drawn as a bar when a terminal is attached."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar = bar
        self._task = task
        self.completed = 0

    def advance(self, amount: int) -> None:
        """Record ``amount`` more units of work done."""
        self.completed += amount
        if self._bar is not None:
            self._bar.update(self._task, advance=amount)

    def describe(self, description: str) -> None:
        """Change the text shown next to the bar."""
        if self._bar is not None:
            self._bar.update(self._task, description=description)


@contextmanager
def progress(
    description: str,
    *,
    total: int | None = None,
    unit: str = "rows",
    enabled: bool | None = None,
) -> Iterator[Progress]:
    """A progress bar for one piece of work.

    Args:
        description: what is being done, shown before the bar.
        total: the units expected, when known (a spinner and a count otherwise).
        unit: the name of a unit of work, shown after the count.
        enabled: draw the bar; by default only when standard error is a terminal.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield Progress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichProgress

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns.append(BarColumn())
    columns += [TextColumn(f"{{task.completed:,.0f}} {unit}"), TimeElapsedColumn()]
    with RichProgress(*columns, console=Console(file=sys.stderr), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield Progress(bar, task)
