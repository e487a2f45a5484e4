"""Each person's root position in the camera frame, from their metric root-relative 3D and their 2D keypoints.

Per frame, the translation t (3,) that places the lifted joints X_j (root-relative, metres, camera frame) so they
project onto the detected pixels x_j = (u_j, v_j) solves, for every joint, the two pinhole equations
    fx (X_j + t_x) = (u_j - cx) (Z_j + t_z),   fy (Y_j + t_y) = (v_j - cy) (Z_j + t_z),
which are linear in t: a weighted linear least-squares problem (weights = detection scores). Reweighting passes then
down-weight joints whose reprojection misses by more than ``ROBUST_FRACTION`` of the person's pixel height (one
Huber pass, then Cauchy weights 1 / (1 + (r/k)^2), which give a joint 250 px off almost no say), so one wrong
keypoint cannot drag the body. Frames with fewer than ``MIN_JOINTS`` detected joints,
or whose solution is behind or too close to the camera, get their position interpolated from the nearest good frames
(held at the ends). The trajectory is then smoothed over time with a Gaussian of ``SMOOTH_S`` seconds (zero-phase),
which removes the frame-to-frame depth jitter of the per-frame solve.

Flags (bit mask per frame, never NaN): FEW_JOINTS (position interpolated), AT_EDGE (the person's detected keypoints
come within ``EDGE_FRACTION`` of the image border and some joints are undetected, or they touch it (within
``TOUCH_FRACTION``): a person cut by the frame has a less reliable position), FAR (the
person is smaller than ``FAR_FRACTION`` of the image height: depth comes from few pixels).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mbcli.skeletons import H36M17, H36M_BONE_LENGTHS_M
from mbcli.types import Intrinsics

FEW_JOINTS, AT_EDGE, FAR = 1, 2, 4
MIN_JOINTS = 4
MIN_DEPTH_M = 0.3
ROBUST_FRACTION = 0.03
ROBUST_ROUNDS = 5
EDGE_FRACTION = 0.05
TOUCH_FRACTION = 0.01
FAR_FRACTION = 0.08
SMOOTH_S = 0.1


ADULT_BONES_M = sum(H36M_BONE_LENGTHS_M.values())  # 4.15 m: the 16 h36m17 bones of the mean Human3.6M subject


def bone_lengths(rel: np.ndarray) -> np.ndarray:
    """(T,16) the length of each h36m17 bone (in the order of H36M17.parents) in each frame of rel (T,17,3)."""
    return np.stack([np.linalg.norm(rel[:, j] - rel[:, p], axis=-1) for j, p in enumerate(H36M17.parents)
                     if p >= 0], axis=-1)


def adult_scale(rel: np.ndarray) -> float:
    """The factor that gives the person (T,17,3) the total bone length of the mean adult (ADULT_BONES_M)."""
    return scale_from_lengths(bone_lengths(rel))


def scale_from_lengths(lengths: np.ndarray) -> float:
    """``adult_scale`` from the person's bone lengths (T,16) (``bone_lengths``): their medians over time sum to
    ADULT_BONES_M."""
    total = float(np.sum([np.median(lengths[:, b]) for b in range(lengths.shape[1])]))
    return ADULT_BONES_M / total if total > 1e-6 else 1.0


@dataclass(frozen=True)
class RootTrajectory:
    """root_cam (T,3) the root joint in the camera frame, metres; flags (T,) uint8 bit mask (module docstring);
    reprojection_px (T,) mean reprojection distance of the detected joints at the solved position."""

    root_cam: np.ndarray
    flags: np.ndarray
    reprojection_px: np.ndarray


def solve_translation(rel: np.ndarray, xy: np.ndarray, w: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Per-frame translation t (T,3) placing rel (T,J,3) onto xy (T,J,2) px with weights w (T,J) (module docstring);
    NaN rows where fewer than 2 joints have weight."""
    u = (xy[..., 0] - K.cx) / K.fx  # normalised image coordinates
    v = (xy[..., 1] - K.cy) / K.fy
    X, Y, Z = rel[..., 0], rel[..., 1], rel[..., 2]
    sw = np.sqrt(np.clip(w, 0, None))
    zeros, ones = np.zeros_like(u), np.ones_like(u)
    # rows: [1, 0, -u] t = u Z - X ;  [0, 1, -v] t = v Z - Y
    A = np.concatenate([np.stack([ones, zeros, -u], -1), np.stack([zeros, ones, -v], -1)], axis=1)  # (T,2J,3)
    b = np.concatenate([u * Z - X, v * Z - Y], axis=1)  # (T,2J)
    sw2 = np.concatenate([sw, sw], axis=1)
    A = A * sw2[..., None]
    b = b * sw2
    t = np.full((len(rel), 3), np.nan)
    ok = (w > 0).sum(axis=1) >= 2
    if ok.any():
        AtA = np.einsum("tki,tkj->tij", A[ok], A[ok]) + 1e-9 * np.eye(3)
        Atb = np.einsum("tki,tk->ti", A[ok], b[ok])
        t[ok] = np.linalg.solve(AtA, Atb[..., None])[..., 0]
    return t


def _project(P: np.ndarray, K: Intrinsics) -> np.ndarray:
    z = np.clip(P[..., 2:3], 1e-6, None)
    return P[..., :2] / z * np.array([K.fx, K.fy]) + np.array([K.cx, K.cy])


def fill_rows(t: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Rows of t (T,3) marked bad replaced by linear interpolation between good rows (held at the ends)."""
    if bad.all():
        return np.tile([0.0, 0.0, 4.0], (len(t), 1))
    idx = np.arange(len(t))
    out = t.copy()
    for c in range(3):
        out[bad, c] = np.interp(idx[bad], idx[~bad], t[~bad, c])
    return out


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing of x (T,C) over time (sigma in frames). The ends are padded by point
    reflection (2 x_0 - x_k), so a steady walk keeps its speed up to the last frame instead of bending towards a
    held value."""
    if sigma <= 0 or len(x) < 2:
        return x
    n = min(len(x) - 1, int(math.ceil(4 * sigma)))
    head = 2 * x[:1] - x[n:0:-1]
    tail = 2 * x[-1:] - x[-2:-n - 2:-1]
    padded = np.concatenate([head, x, tail])
    return gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[n:n + len(x)]


def _flags_block(valid: np.ndarray, xy: np.ndarray, image_size: tuple[int, int],
                 joints: int) -> tuple[np.ndarray, np.ndarray]:
    """(flags (n,) uint8 without the solve's FEW_JOINTS, height_px (n,)) of a block of frames: valid (n,J) detected,
    xy (n,J,2) px (module docstring)."""
    count = valid.sum(axis=1)
    flags = np.zeros(len(valid), np.uint8)
    flags[count < MIN_JOINTS] |= FEW_JOINTS
    W, H = image_size
    has = count > 0
    lo = np.where(valid[..., None], xy, np.inf).min(axis=1)  # (n,2) the detected joints' box
    hi = np.where(valid[..., None], xy, -np.inf).max(axis=1)

    def near(frac: float) -> np.ndarray:
        mx, my = frac * W, frac * H
        return has & ((lo[:, 0] <= mx) | (lo[:, 1] <= my) | (hi[:, 0] >= W - 1 - mx) | (hi[:, 1] >= H - 1 - my))

    edge = near(EDGE_FRACTION) & ((count < joints) | near(TOUCH_FRACTION))
    flags[edge] |= AT_EDGE
    height_px = np.where(has, hi[:, 1] - lo[:, 1], 0.0)
    flags[has & (height_px < FAR_FRACTION * H)] |= FAR
    return flags, height_px


def _solve_block(rel: np.ndarray, xy: np.ndarray, w0: np.ndarray, K: Intrinsics,
                 image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The robust per-frame solve of a block of frames (module docstring): (t (n,3), NaN where unsolved; flags (n,);
    use (n,) bool, enough joints). rel (n,J,3) m, xy (n,J,2) px, w0 (n,J) scores, 0 = not detected."""
    valid = w0 > 0
    flags, height_px = _flags_block(valid, xy, image_size, rel.shape[1])
    use = valid.sum(axis=1) >= MIN_JOINTS
    w = np.where(use[:, None], w0, 0.0)
    t = solve_translation(rel, xy, w, K)
    k = np.maximum(3.0, ROBUST_FRACTION * height_px)[:, None]
    for i in range(ROBUST_ROUNDS):  # reweighting on the reprojection error in pixels: Huber, then Cauchy
        P = rel + np.nan_to_num(t)[:, None, :]
        r = np.linalg.norm(_project(P, K) - xy, axis=-1) / k  # (n,J)
        robust = np.minimum(1.0, 1.0 / np.maximum(r, 1e-9)) if i == 0 else 1.0 / (1.0 + r**2)
        t_new = solve_translation(rel, xy, w * robust, K)
        t = np.where(np.isfinite(t_new), t_new, t)
    return t, flags, use


BLOCK = 4096  # frames solved at once: the per-frame work's temporaries stay a few MB whatever the clip's length


def blocks(T: int) -> list[slice]:
    """The blocks of BLOCK frames of a person of T frames (one empty block when T = 0)."""
    return [slice(s, min(s + BLOCK, T)) for s in range(0, max(T, 1), BLOCK)]

# frames -> (rel (n,J,3) root-relative metres, camera frame; xy (n,J,2) px, finite; scores (n,J), 0 = not detected),
# float64: one person's input to the solve, a block of frames at a time
Frames = Callable[[slice], tuple[np.ndarray, np.ndarray, np.ndarray]]


def root_trajectory(rel: np.ndarray, xy: np.ndarray, scores: np.ndarray, K: Intrinsics,
                    image_size: tuple[int, int], fps: float, smooth_s: float = SMOOTH_S) -> RootTrajectory:
    """The root trajectory of one person: rel (T,J,3) root-relative metres, camera frame; xy (T,J,2) px; scores
    (T,J), 0 = not detected; K the camera; image_size (W, H) px; fps the frame rate (for the smoothing)."""
    def frames(sl: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.asarray(rel[sl], dtype=np.float64), np.nan_to_num(np.asarray(xy[sl], dtype=np.float64)),
                np.asarray(scores[sl]))

    return root_trajectory_blocks(frames, len(rel), K, image_size, fps, smooth_s)


def root_trajectory_blocks(frames: Frames, T: int, K: Intrinsics, image_size: tuple[int, int], fps: float,
                           smooth_s: float = SMOOTH_S) -> RootTrajectory:
    """``root_trajectory`` of a person of T frames read ``BLOCK`` frames at a time from ``frames`` (each frame's
    solve is its own; only the filling and smoothing see the whole (T,3) trajectory)."""
    t = np.zeros((T, 3))
    flags = np.zeros(T, np.uint8)
    use = np.zeros(T, bool)
    for sl in blocks(T):
        rel, xy, scores = frames(sl)
        w0 = np.where(scores > 0, np.asarray(scores, dtype=np.float64), 0.0)
        t[sl], flags[sl], use[sl] = _solve_block(rel, xy, w0, K, image_size)
    bad = ~np.isfinite(t).all(axis=1) | (np.nan_to_num(t[:, 2]) < MIN_DEPTH_M) | ~use
    flags[bad] |= FEW_JOINTS
    t = fill_rows(np.nan_to_num(t), bad)
    t = smooth(t, smooth_s * fps)
    rep = np.zeros(T)
    for sl in blocks(T):
        rel, xy, scores = frames(sl)
        valid = scores > 0
        count = valid.sum(axis=1)
        err = np.linalg.norm(_project(rel + t[sl][:, None, :], K) - xy, axis=-1)
        rep[sl] = np.where(count > 0, (err * valid).sum(axis=1) / np.maximum(count, 1), 0.0)
    return RootTrajectory(t, flags, rep)
