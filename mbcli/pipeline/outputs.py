"""One all-or-nothing writer for the files of every command.

Each output is written to a hidden temporary name in its own destination folder (``.<stem>.<pid>.partial<suffix>``,
so the final rename never crosses a filesystem and writers that choose a format by suffix still see it), in order.
Only when every output succeeded are they renamed into place; on any failure the temporaries, and any folder this
call created, are removed, so a failed run leaves nothing behind and never a half-written file.

Before any work a flow calls ``check_destinations``: no output is one of the run's inputs, none is a folder, and each
one's folder is a writable folder (or can be made in one). A run that names a ``manifest`` owns its output set: the
manifest (JSON, beside the files) lists what the run wrote, and the files an earlier run listed in the same manifest
but this run did not write (a BVH of a person no longer found, a format not asked for this time) are removed once
the new files are in place, so a folder never mixes two runs. Only files the earlier manifest names, in its own
folder, are ever removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mbcli.errors import ConfigError, ExportError
from mbcli.fsutil import nearest_existing, writable

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


MANIFEST_FORMAT = "mbcli.manifest"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_destinations(dests: Sequence[Path], inputs: Sequence[Path | None] = ()) -> None:
    """Preflight for the files a run will write (module docstring); ConfigError naming the problem."""
    for dest in dests:
        for src in inputs:
            if src is not None and _same_file(dest, src):
                raise ConfigError(f"{dest}: the output would overwrite the input {src}; choose another output")
        if dest.is_dir():
            raise ConfigError(f"{dest}: is a folder, not a file that can be written")
        folder = nearest_existing(dest.parent)
        if not folder.is_dir():
            raise ConfigError(f"cannot write {dest}: {folder} is a file, not a folder")
        if not writable(folder):
            raise ConfigError(f"cannot write {dest}: {folder} is not writable")


def check_json_destination(path: Path, inputs: Sequence[Path | None] = ()) -> None:
    """``--json PATH`` of any command: a .json file in a place ``check_destinations`` accepts."""
    if path.suffix.lower() != ".json":
        raise ConfigError(f"--json must name a .json file, got {path}")
    check_destinations([path], inputs)


def _listed(manifest: Path) -> list[str]:
    """The file names an earlier run's manifest lists (nothing when there is none or it is not ours)."""
    try:
        doc = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    files = doc.get("files") if isinstance(doc, dict) and doc.get("format") == MANIFEST_FORMAT else None
    if not isinstance(files, list):
        return []
    return [f for f in files if isinstance(f, str) and f and Path(f).name == f and f not in (".", "..")]


def _write_manifest(path: Path, files: Sequence[Path], about: dict[str, object]) -> None:
    doc = {"format": MANIFEST_FORMAT, "version": 1, **about, "files": [f.name for f in files]}
    path.write_text(json.dumps(doc, indent=1) + "\n")


def write_outputs(outputs: Sequence[Output], on_progress: ProgressFn | None = None,
                  stage: str = "export", manifest: Path | None = None,
                  about: dict[str, object] | None = None) -> list[Path]:
    """Write every output, all or nothing (module docstring); returns the destinations, in order, the manifest last
    when one is named (``about``: what it records besides the files). (A failure while renaming, after every file
    was written, can leave the ones already renamed: the renames are not one act.)"""
    if manifest is not None:
        if any(o.dest.parent != manifest.parent for o in outputs):
            raise ExportError("a manifest lists the files of its own folder only")
        earlier = _listed(manifest)
        written = [o.dest for o in outputs]
        outputs = [*outputs, Output(manifest, lambda p: _write_manifest(p, [*written, manifest], about or {}))]
    files = _write_all(outputs, on_progress, stage)
    if manifest is not None:
        keep = {f.name for f in files}
        for name in earlier:
            if name not in keep:
                (manifest.parent / name).unlink(missing_ok=True)
    return files


def _write_all(outputs: Sequence[Output], on_progress: ProgressFn | None, stage: str) -> list[Path]:
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
