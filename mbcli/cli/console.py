"""Rich console helpers for the CLI: one progress bar per stage, summary tables, one-line errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

STAGE_LABELS = {"detect": "detect + track", "lift": "lift (windows)", "export": "export", "render": "render video",
                "eval": "sequences", "anny cache": "anny cache (first run: building it, about a minute)"}


@contextlib.contextmanager
def stage_progress(enabled: bool = True) -> Iterator:
    """Yields an ``on_progress(stage, done, total)`` callback that drives one bar per stage."""
    if not enabled:
        yield None
        return
    progress = Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    tasks: dict[str, TaskID] = {}

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


def add_run_rows(table: Table, timings: dict[str, float], files: list[Path], notes: list[str]) -> None:
    """The rows every command's summary ends with: seconds per stage, the files written, notes."""
    table.add_row("time", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    table.add_row("files written", "\n".join(str(p) for p in files))
    for n in notes:
        table.add_row("note", n)
