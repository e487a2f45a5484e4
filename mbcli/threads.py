"""How many CPU threads mbcli's compute uses, chosen once per process so that torch, ONNX Runtime and OpenCV do not
each start a thread per core and fight over a busy machine.

``choose_threads``: ``$MBCLI_THREADS`` when set (a whole number >= 1), else the CPUs this process may run on minus
the ones already busy (the 1-minute load average), at least 1. On a quiet 2-core laptop that is 2; next to another
CPU-bound job it is 1, which measured faster than 2 threads fighting (README, "Speed"). ``apply_threads`` sets the
choice in torch (intra-op threads), OpenCV, and for ONNX Runtime sessions made later (``current``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from mbcli.errors import ConfigError

ENV = "MBCLI_THREADS"
_chosen: int | None = None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cpus() -> float:
    """CPUs other work keeps busy: the 1-minute load average (0 where the OS does not report one)."""
    try:
        return max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def choose_threads(env: Mapping[str, str] | None = None, cpus: int | None = None, busy: float | None = None) -> int:
    """The thread count (module docstring); ConfigError for a malformed $MBCLI_THREADS."""
    env = os.environ if env is None else env
    text = env.get(ENV, "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            raise ConfigError(f"${ENV} must be a whole number of threads, got {text!r}") from None
        if n < 1:
            raise ConfigError(f"${ENV} must be at least 1, got {n}")
        return n
    cpus = available_cpus() if cpus is None else cpus
    busy = busy_cpus() if busy is None else busy
    return max(1, min(cpus, math.floor(cpus - busy + 0.5)))


def apply_threads(n: int) -> None:
    """Use ``n`` threads in torch and OpenCV from now on, and in ONNX Runtime sessions made after this call."""
    global _chosen
    import torch

    _chosen = int(n)
    torch.set_num_threads(_chosen)
    try:
        import cv2
    except ImportError:  # the training machines run without OpenCV
        return
    cv2.setNumThreads(_chosen)


def current() -> int:
    """The count ``apply_threads`` set (else what ``choose_threads`` gives now)."""
    return _chosen if _chosen is not None else choose_threads()
