"""Atomic output files: write to a temporary name in the destination folder, rename into place on success; and where a
path about to be written would land (``nearest_existing``, for checks before the work).

Every writer of mbcli (exports, video, checkpoints) goes through ``atomic_path`` so that an output is either
complete or absent. The temporary file is created with mode 0o666 & ~umask, like a plain ``open()``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def nearest_existing(path: Path) -> Path:
    """``path`` itself when it exists, else its nearest existing ancestor (the folder a write would be made in)."""
    return next((p for p in [path, *path.parents] if p.exists()), Path("."))


def writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` by this process."""
    return os.access(folder, os.W_OK | os.X_OK)


def temp_sibling(path: Path) -> Path:
    """Create (empty, exclusively) and return a hidden temporary file beside ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on normal exit it replaces ``path``, on an exception it is removed."""
    dest = Path(path)
    tmp = temp_sibling(dest)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
