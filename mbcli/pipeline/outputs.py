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


def _make_folders(outputs: Sequence[Output], created: list[Path]) -> None:
    """Create the missing destination folders, appending each one created to ``created`` (for cleanup)."""
    for folder in dict.fromkeys(o.dest.parent for o in outputs):
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"cannot create the folder {folder}: a file of that name is in the way")
        for missing in reversed([p for p in [folder, *folder.parents] if not p.exists()]):
            try:
                missing.mkdir()
            except OSError as e:
                raise ExportError(f"cannot create the folder {missing}: {e.strerror or e}") from None
            created.append(missing)


def write_outputs(outputs: Sequence[Output], on_progress: ProgressFn | None = None,
                  stage: str = "export") -> list[Path]:
    """Write every output, all or nothing (module docstring); returns the destinations, in order. (A failure while
    renaming, after every file was written, can leave the ones already renamed: the renames are not one act.)"""
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    done = False
    try:
        _make_folders(outputs, created)
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
            for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):  # deepest first
                try:
                    folder.rmdir()
                except OSError:
                    pass
