"""Handing memory that a stage freed back to the system, so the next stage of a long run starts from what is live.

glibc's malloc keeps freed blocks below its mmap threshold (128 KB at first, raised up to 32 MB each time a bigger
mmap'd block is freed) in the process's heap for reuse, and returns heap pages to the system only from the top of
the heap. After a stage that makes and drops many such blocks (parsing an hour-long keypoint file, tracking an
hour of detections, the network's temporaries) the resident size stays near that stage's high-water mark although
most of it is free; the next stage's arrays then come on top of it. ``release_free_memory`` asks glibc to return
every free page (``malloc_trim(0)``: milliseconds). Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; whether the C library could (module docstring)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
