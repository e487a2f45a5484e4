"""Exporters: one module per output format (bvh, json_motion, npz, ...), each taking the stage objects of
mbcli.types and an output path.

This package file holds only what every exporter shares: ``write_atomic``, which writes a file through a temporary
file in the same folder and ``os.replace``, so an output is either complete or absent, never half-written, and
``write_atomic_chunks``, the same for a file written piece by piece (long JSON and BVH files are streamed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mbcli.errors import ExportError
from mbcli.fsutil import atomic_path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (str is UTF-8 encoded) to ``path`` atomically; create missing parent folders.

    Raises ExportError (one line) when the folder or file cannot be written. Returns the Path written.
    """
    return write_atomic_chunks(path, [data])


def write_atomic_chunks(path: str | os.PathLike, chunks: Iterable[bytes | str]) -> Path:
    """``write_atomic`` for a file made in pieces (str pieces are UTF-8 encoded): each is written as it comes, so
    a long output never has to be one string in memory. An exception while making the pieces leaves nothing."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            for piece in chunks:
                f.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from e
    return path
