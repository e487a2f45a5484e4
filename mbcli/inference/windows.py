"""Plan overlapping windows over a sequence and blend per-window predictions back into one (pure numpy).

A sequence of T frames is covered by windows of length L (<= the model's maxlen) starting every S frames; the last
window is aligned to the end, so every frame is covered and no window is padded. Predictions are blended with
weights that ramp up (raised cosine) over the overlap at interior window edges and stay at 1 at the sequence's
ends; the blend is a weighted mean, so where windows overlap the output cross-fades from one to the next without a
step: a window's first and last frames, whose temporal context is one-sided, enter with almost no weight.
(MotionBERT's own demo cuts the video into non-overlapping chunks, which jumps at every boundary.)

A sequence shorter than L is one window of its own length, which the network runs at that length
(predictors.py measured it as accurate as stretching the clip to L frames, which MotionBERT does, and cheaper; clips
of one or two frames are still stretched with ``resample_time``, linear interpolation in time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    start: int
    stop: int  # exclusive

    @property
    def length(self) -> int:
        return self.stop - self.start


def plan_windows(num_frames: int, length: int, stride: int) -> list[Window]:
    """Windows covering [0, num_frames); when num_frames <= length a single window [0, num_frames)."""
    if num_frames <= 0:
        raise ValueError("cannot plan windows over an empty sequence")
    if not 0 < stride <= length:
        raise ValueError(f"stride must be in 1..{length}, got {stride}")
    if num_frames <= length:
        return [Window(0, num_frames)]
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] != num_frames - length:
        starts.append(num_frames - length)
    return [Window(s, s + length) for s in starts]


def _ramp(n: int, overlap: int) -> np.ndarray:
    """Raised-cosine ramp over the first ``overlap`` of n frames, 1 after: a new window enters with (almost) zero
    weight and zero slope, so its edge frames, the least reliable ones, cannot make a step."""
    t = np.arange(n, dtype=np.float64)
    r = np.ones(n)
    m = t < overlap
    r[m] = 0.5 - 0.5 * np.cos(np.pi * (t[m] + 0.5) / overlap)
    return r


def window_weight(windows: list[Window], i: int) -> np.ndarray:
    """Window i's weights (length,): a smooth ramp over each overlap with a neighbour, 1 elsewhere."""
    w = windows[i]
    wt = np.ones(w.length)
    if i > 0:
        overlap = windows[i - 1].stop - w.start
        if overlap > 0:
            wt = np.minimum(wt, _ramp(w.length, overlap))
    if i < len(windows) - 1:
        overlap = w.stop - windows[i + 1].start
        if overlap > 0:
            wt = np.minimum(wt, _ramp(w.length, overlap)[::-1])
    return wt


class Blender:
    """``blend`` one window at a time, in window order: ``add(i, pred)`` for each window i, then ``result()``.
    Only the frames that windows still overlap are summed in float64 (one window's length, a buffer made once);
    finished frames go straight into the float32 output (num_frames, ...), so a long sequence costs its output and
    no more. Gives exactly what ``blend`` gives (the same sums in the same order)."""

    def __init__(self, windows: list[Window], num_frames: int) -> None:
        self.windows, self.num_frames = windows, num_frames
        self.out: np.ndarray | None = None  # (num_frames, ...) float32, made at the first window
        self.acc = np.zeros(0)  # (longest window, ...) float64 sums of the open frames [lo, lo + span)
        self.wsum = np.zeros(max((w.length for w in windows), default=0))
        self.lo = self.span = self.added = 0

    def add(self, i: int, pred: np.ndarray) -> None:
        if i != self.added:
            raise ValueError(f"windows must be added in order: expected {self.added}, got {i}")
        w = self.windows[i]
        if pred.shape[0] != w.length:
            raise ValueError(f"prediction has {pred.shape[0]} frames, window has {w.length}")
        if self.out is None:
            self.out = np.empty((self.num_frames,) + pred.shape[1:], dtype=np.float32)
            self.acc = np.zeros((len(self.wsum),) + pred.shape[1:])
        a, b = w.start - self.lo, w.stop - self.lo
        if b > self.span:  # the open span grows to this window's end
            self.acc[self.span:b] = 0.0
            self.wsum[self.span:b] = 0.0
            self.span = b
        wt = window_weight(self.windows, i)
        self.acc[a:b] += wt.reshape((-1,) + (1,) * (pred.ndim - 1)) * pred
        self.wsum[a:b] += wt
        self.added += 1
        # frames before the next window's start take no more sums: finish them
        nxt = self.windows[i + 1].start if i + 1 < len(self.windows) else self.num_frames
        if nxt > self.lo:
            self._finish(nxt - self.lo)

    def _finish(self, n: int) -> None:
        assert self.out is not None
        if n > self.span or np.any(self.wsum[:n] <= 0):
            raise ValueError("windows do not cover every frame")
        acc = self.acc[:n]
        self.out[self.lo:self.lo + n] = acc / self.wsum[:n].reshape((-1,) + (1,) * (acc.ndim - 1))
        keep = self.span - n
        self.acc[:keep] = self.acc[n:self.span]  # numpy copies overlapping slices safely
        self.wsum[:keep] = self.wsum[n:self.span]
        self.lo, self.span = self.lo + n, keep

    def result(self) -> np.ndarray:
        """The blended (num_frames, ...) float32 sequence, once every window was added."""
        if self.out is None or self.added != len(self.windows) or self.lo != self.num_frames:
            raise ValueError("windows do not cover every frame")
        return self.out


def blend(windows: list[Window], preds: list[np.ndarray], num_frames: int) -> np.ndarray:
    """Weighted mean of per-window predictions (length, ...) into (num_frames, ...) float32."""
    if len(windows) != len(preds):
        raise ValueError("one prediction per window is needed")
    b = Blender(windows, num_frames)
    for i, p in enumerate(preds):
        b.add(i, p)
    return b.result()


def resample_time(x: np.ndarray, new_len: int) -> np.ndarray:
    """Linear interpolation of (T, ...) onto new_len evenly spaced points spanning the same time range."""
    T = x.shape[0]
    if T == new_len:
        return x.copy()
    if T == 1:
        return np.repeat(x, new_len, axis=0)
    pos = np.linspace(0, T - 1, new_len)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    frac = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (x[lo] * (1 - frac) + x[hi] * frac).astype(x.dtype)
