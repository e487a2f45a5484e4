"""Rich console helpers for the CLI: one progress bar per stage, summary tables, one-line errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

STAGE_LABELS = {"detect": "detect + track", "lift": "lift (windows)", "export": "export", "render": "render video",
                "eval": "sequences"}


@contextlib.contextmanager
def stage_progress(enabled: bool = True) -> Iterator:
    """Yields an ``on_progress(stage, done, total)`` callback that drives one bar per stage."""
    if not enabled:
        yield None
        return
    progress = Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    tasks: dict[str, int] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(STAGE_LABELS.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        yield on_progress


def error(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)


def warn(message: str) -> None:
    console.print(f"[bold yellow]warning:[/] {message}", soft_wrap=True)


def is_tty() -> bool:
    return sys.stderr.isatty()
