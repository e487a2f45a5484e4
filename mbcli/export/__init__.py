"""Exporters: one module per output format (bvh, json_motion, npz, ...), each taking the stage objects of
mbcli.types and an output path.

This package file holds only what every exporter shares: ``write_atomic``, which writes a file through a temporary
file in the same folder and ``os.replace``, so an output is either complete or absent, never half-written.
"""

from __future__ import annotations

import os
from pathlib import Path

from mbcli.errors import ExportError
from mbcli.fsutil import atomic_path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (str is UTF-8 encoded) to ``path`` atomically; create missing parent folders.

    Raises ExportError (one line) when the folder or file cannot be written. Returns the Path written.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(payload)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from e
    return path
