"""Pose-error metrics in numpy, one small function each (protocols of Human3.6M evaluation).

All take predictions and targets of shape (..., J, 3) in the same units and return per-sample errors (...,) in
those units; average them as the protocol requires (per action, then over actions).
"""

from __future__ import annotations

import numpy as np

from mbcli.geometry import procrustes_align


def mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Protocol 1: mean Euclidean distance per joint, after the caller made both root-relative."""
    return np.linalg.norm(np.asarray(pred, np.float64) - target, axis=-1).mean(axis=-1)


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Protocol 2: MPJPE after aligning each predicted pose to its target by scale, rotation and translation."""
    return mpjpe(procrustes_align(pred, target), target)


def n_mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MPJPE after the least-squares scale of the prediction to the target (Rhodin et al., 2018)."""
    pred = np.asarray(pred, np.float64)
    s = np.sum(pred * target, axis=(-1, -2), keepdims=True) / np.maximum(np.sum(pred * pred, axis=(-1, -2),
                                                                                keepdims=True), 1e-12)
    return mpjpe(s * pred, target)


def accel_error(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean joint acceleration error over a sequence (T, J, 3) -> (T-2,): second differences compared."""
    a_p = np.asarray(pred, np.float64)[2:] - 2 * pred[1:-1] + pred[:-2]
    a_t = np.asarray(target, np.float64)[2:] - 2 * target[1:-1] + target[:-2]
    return np.linalg.norm(a_p - a_t, axis=-1).mean(axis=-1)
