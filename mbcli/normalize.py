"""The image <-> network coordinate codec for 2D keypoints.

The lifter sees 2D joints as (x, y, confidence) with x, y in a normalised square frame. ``encode`` returns the
normalised array *and* the parameters it used; ``decode_xy`` inverts it exactly. Two ways to choose parameters:

- ``crop_params`` (default for video): the square box around every joint with score > 0 in the given frames,
  centred on the box centre, half-side = max(box width, box height) / 2, so the person spans [-1, 1]
  (MotionBERT's in-the-wild "crop_scale" with scale 1).
- ``image_params``: MotionBERT's Human3.6M convention, x_n = x / w * 2 - 1, y_n = y / w * 2 - h / w, i.e. centre
  (w/2, h/2) and half-side w/2 (aspect ratio kept).

Missing joints (score 0) are encoded as (0, 0, 0), the value MotionBERT's masking uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NormParams:
    """xy_norm = (xy_px - center_xy) / scale_px."""

    center_xy: tuple[float, float]
    scale_px: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.scale_px) and self.scale_px > 0):
            raise ValueError(f"normalisation scale must be positive, got {self.scale_px}")


def crop_params(xy: np.ndarray, scores: np.ndarray, min_scale_px: float = 1.0) -> NormParams:
    """Square box around all joints with score > 0 in xy (..., J, 2). Raises ValueError when none is valid."""
    xy = np.asarray(xy, dtype=np.float64)
    valid = np.asarray(scores) > 0
    if not valid.any():
        raise ValueError("no valid joints to normalise")
    pts = xy[valid]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = (lo + hi) / 2
    scale = max(float((hi - lo).max()) / 2, min_scale_px)
    return NormParams((float(center[0]), float(center[1])), scale)


def image_params(width: int, height: int) -> NormParams:
    return NormParams((width / 2.0, height / 2.0), width / 2.0)


def encode(xy: np.ndarray, scores: np.ndarray, params: NormParams) -> np.ndarray:
    """(..., J, 2) px + (..., J) scores -> (..., J, 3) float32 network input; score-0 joints become (0, 0, 0)."""
    xy = np.asarray(xy, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float32)
    out = np.empty(xy.shape[:-1] + (3,), dtype=np.float32)
    out[..., :2] = (xy - np.asarray(params.center_xy)) / params.scale_px
    out[..., 2] = s
    out[s <= 0] = 0.0
    return out


def decode_xy(x_norm: np.ndarray, params: NormParams) -> np.ndarray:
    """Inverse of ``encode`` for the coordinates: (..., 2 or 3) normalised -> (..., 2) px."""
    x = np.asarray(x_norm, dtype=np.float64)[..., :2]
    return x * params.scale_px + np.asarray(params.center_xy)
