"""One all-or-nothing writer for the files of every command.

Each output is written to a hidden temporary name in its own destination folder (``.<stem>.<pid>.partial<suffix>``,
so the final rename never crosses a filesystem and writers that choose a format by suffix still see it), in order.
Only when every output succeeded are they renamed into place; on any failure the temporaries, and any folder this
call created, are removed, so a failed run leaves nothing behind and never a half-written file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mbcli.errors import ExportError

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Output:
    """One file to write: ``write(path)`` writes it at the (temporary) ``path`` it is given; dest is where it ends."""

    dest: Path
    write: Callable[[Path], object]


def staged_path(dest: Path) -> Path:
    """The temporary name ``dest`` is written under, in dest's folder."""
    return dest.parent / f".{dest.stem}.{os.getpid()}.partial{dest.suffix}"


def _make_folders(outputs: Sequence[Output]) -> list[Path]:
    """Create the missing destination folders; returns those created (deepest first), for cleanup."""
    created: list[Path] = []
    for folder in dict.fromkeys(o.dest.parent for o in outputs):
        missing = [p for p in [folder, *folder.parents] if not p.exists()]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExportError(f"cannot create the folder {folder}: {e.strerror or e}") from None
        created += missing
    return created


def write_outputs(outputs: Sequence[Output], on_progress: ProgressFn | None = None,
                  stage: str = "export") -> list[Path]:
    """Write every output, all or nothing (module docstring); returns the destinations, in order."""
    created = _make_folders(outputs)
    staged: list[tuple[Path, Path]] = []
    done = False
    try:
        for i, o in enumerate(outputs):
            tmp = staged_path(o.dest)
            staged.append((tmp, o.dest))
            o.write(tmp)
            if on_progress:
                on_progress(stage, i + 1, len(outputs))
        for tmp, dest in staged:
            os.replace(tmp, dest)
        done = True
        return [dest for _, dest in staged]
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if not done:
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:
                    pass
