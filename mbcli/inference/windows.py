"""Plan overlapping windows over a sequence and blend per-window predictions back into one (pure numpy).

A sequence of T frames is covered by windows of length L (<= the model's maxlen) starting every S frames; the last
window is aligned to the end, so every frame is covered and no window is padded. Predictions are blended with
weights that ramp up (raised cosine) over the overlap at interior window edges and stay at 1 at the sequence's
ends; the blend is a weighted mean, so where windows overlap the output cross-fades from one to the next without a
step: a window's first and last frames, whose temporal context is one-sided, enter with almost no weight.
(MotionBERT's own demo cuts the video into non-overlapping chunks, which jumps at every boundary.)

A sequence shorter than L is run as one window resampled to L frames by linear interpolation in time and
resampled back (MotionBERT stretches short clips to 243 frames the same way, by index).
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


def blend_weights(windows: list[Window], num_frames: int) -> list[np.ndarray]:
    """Per-window weights (length,) that ramp smoothly over each overlap with a neighbour and are 1 elsewhere."""
    weights = []
    for i, w in enumerate(windows):
        wt = np.ones(w.length)
        if i > 0:
            overlap = windows[i - 1].stop - w.start
            if overlap > 0:
                wt = np.minimum(wt, _ramp(w.length, overlap))
        if i < len(windows) - 1:
            overlap = w.stop - windows[i + 1].start
            if overlap > 0:
                wt = np.minimum(wt, _ramp(w.length, overlap)[::-1])
        weights.append(wt)
    return weights


def blend(windows: list[Window], preds: list[np.ndarray], num_frames: int) -> np.ndarray:
    """Weighted mean of per-window predictions (length, ...) into (num_frames, ...)."""
    if len(windows) != len(preds):
        raise ValueError("one prediction per window is needed")
    out = np.zeros((num_frames,) + preds[0].shape[1:], dtype=np.float64)
    wsum = np.zeros(num_frames, dtype=np.float64)
    for w, wt, p in zip(windows, blend_weights(windows, num_frames), preds):
        if p.shape[0] != w.length:
            raise ValueError(f"prediction has {p.shape[0]} frames, window has {w.length}")
        out[w.start : w.stop] += wt.reshape((-1,) + (1,) * (p.ndim - 1)) * p
        wsum[w.start : w.stop] += wt
    if np.any(wsum <= 0):
        raise ValueError("windows do not cover every frame")
    return (out / wsum.reshape((-1,) + (1,) * (out.ndim - 1))).astype(np.float32)


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
