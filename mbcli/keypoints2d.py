"""Plausibility checks on one person's 2D keypoint sequence: outlier joints get score 0, their xy stays as it was.

A detector sometimes puts a joint on something else for a few frames (the head on a towel, a hidden leg on another
person). ``reject_outliers`` finds such joints so that the lifter, which treats score-0 joints as missing, fills
them. Lengths are in units of the person's size ``s``: the median over frames of the torso length (shoulder midpoint
to hip midpoint, joints found by name), or a third of the median keypoint-box height when the skeleton has no torso.

Rules. Defaults were chosen on samples/pose2sim_single_360.mp4, samples/sports2d_640.mp4 and pose2sim_multi_cam01
through the default detector, remapped to h36m17: about 1 % of the joints go, mostly single-frame wrist/ankle
flickers and the athlete's head in frames 34, 54, 60, 64 of pose2sim_single; one false loss seen (sports2d's jumping
jacks, both wrists in frame 48); rule 2 never fired there.
1. Temporal: each joint is taken relative to the hip midpoint (all joints' median when the hips are unseen or the
   skeleton has none). Its reference is the median of that relative position over a centred window of
   ``2 * max_run + 1`` frames (``max_run`` = ``max_run_s`` seconds, at least 3 frames), so a run of up to ``max_run``
   wrong frames cannot move the reference; its residual is the distance to that reference. A joint is rejected where
   its residual exceeds all three of: ``jump`` (in s), ``body_ratio`` times the median residual of the frame's joints
   (the rest of the body agrees with its own reference, so a fast move or a flip that moves every joint costs
   nothing), and ``joint_ratio`` times that joint's median residual over the sequence (a wrist that always swings is
   allowed to swing; a head that never moves is not allowed to leave).
2. Bones: a bone (the skeleton's parent links) longer than ``bone_ratio`` times its median length over the sequence,
   and longer than ``bone_min`` s, rejects the end of it that has the larger rule-1 residual (2D projection only
   shortens bones, so a long one means a misplaced end).
3. Occlusion (``reject_on_others``, given the other tracked people): a joint lying well inside another person's box
   whose rule-1 residual exceeds lower thresholds (0.2 s, 3x the joint's median residual).
Joints already at score 0 take no part in the medians and are never reported as rejected. A camera cut or a tracker
hop moves every joint together and is not rejected (the body-relative positions do not change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mbcli.types import Keypoints2D

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """np.nanmedian that returns nan for all-nan slices without a warning."""
    ok = np.isfinite(x).any(axis=axis)
    out = np.full(ok.shape, np.nan)
    if ok.any():
        out[ok] = np.nanmedian(np.moveaxis(x, axis, -1)[ok], axis=-1)
    return out


def _torso_index(kp: Keypoints2D) -> list[int] | None:
    names = kp.skeleton.index
    return [names[n] for n in _TORSO] if all(n in names for n in _TORSO) else None


def person_size(kp: Keypoints2D) -> float:
    """The person's size s (px, module docstring); 1.0 when nothing is seen."""
    seen = kp.scores > 0
    xy = np.where(seen[..., None], kp.xy, np.nan)  # (T,J,2)
    torso = _torso_index(kp)
    if torso is not None:
        sh = xy[:, torso[:2]].mean(1)
        hp = xy[:, torso[2:]].mean(1)
        lengths = np.linalg.norm(sh - hp, axis=-1)
    else:
        with np.errstate(invalid="ignore"):
            lengths = (np.nanmax(xy[..., 1], axis=1) - np.nanmin(xy[..., 1], axis=1)) / 3.0
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    return float(np.median(lengths)) if len(lengths) else 1.0


def _relative(kp: Keypoints2D) -> np.ndarray:
    """(T,J,2) positions relative to the body centre; nan where unseen or the centre is unknown."""
    seen = kp.scores > 0
    xy = np.where(seen[..., None], kp.xy.astype(np.float64), np.nan)
    torso = _torso_index(kp)
    if torso is not None:
        centre = xy[:, torso[2:]].mean(1)  # (T,2) hip midpoint, nan unless both hips are seen
        fallback = _nanmedian(xy, axis=1)
        centre = np.where(np.isfinite(centre), centre, fallback)
    else:
        centre = _nanmedian(xy, axis=1)
    return xy - centre[:, None, :]


def temporal_residual(kp: Keypoints2D, max_run: int) -> np.ndarray:
    """(T,J) distance (px) of each joint's body-relative position from its median over 2*max_run+1 frames.

    Beyond the ends the track is continued by point reflection about its first and last frames, so that steady
    motion near an end keeps its reference on itself.
    """
    rel = _relative(kp)  # (T,J,2)
    T = rel.shape[0]
    pad = np.pad(rel, ((max_run, max_run), (0, 0), (0, 0)), mode="reflect", reflect_type="odd")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * max_run + 1, axis=0)[:T]  # (T,J,2,W)
    ref = _nanmedian(win, axis=-1)
    return np.linalg.norm(rel - ref, axis=-1)


def reject_outliers(
    kp: Keypoints2D,
    *,
    max_run_s: float = 0.25,
    jump: float = 0.3,
    body_ratio: float = 3.0,
    joint_ratio: float = 6.0,
    bone_ratio: float = 1.8,
    bone_min: float = 0.4,
) -> tuple[Keypoints2D, np.ndarray]:
    """The sequence with implausible joints at score 0 (xy untouched), and the (T,J) bool mask of those rejected.

    Rules and thresholds: module docstring. ``jump`` and ``bone_min`` are in units of the person's size.
    """
    s = person_size(kp)
    res = _scaled_residual(kp, max_run_s, s)
    with np.errstate(invalid="ignore"):
        body = _nanmedian(res, axis=1)[:, None]  # (T,1)
        usual = _nanmedian(res, axis=0)[None, :]  # (1,J)
        bad = (res > jump) & (res > body_ratio * body) & (res > joint_ratio * usual)
        bad |= _long_bones(kp, res, s, bone_ratio, bone_min)
    return _drop(kp, bad)


def reject_on_others(
    kp: Keypoints2D,
    others: Sequence[Keypoints2D],
    *,
    max_run_s: float = 0.25,
    jump: float = 0.2,
    joint_ratio: float = 3.0,
    core: float = 0.8,
) -> tuple[Keypoints2D, np.ndarray]:
    """Occlusion rule (rule 3): a joint of ``kp`` that lies on another person and left its own temporal reference.

    A joint is rejected in a frame where it lies inside the central ``core`` fraction (per axis) of the box around
    another person's seen joints of the same frame (matched by frame index) and its rule-1 residual exceeds ``jump``
    (in s) and ``joint_ratio`` times the joint's median residual: both lower than rule 1's, the other body being
    evidence of its own. Returns what ``reject_outliers`` returns.
    """
    res = _scaled_residual(kp, max_run_s, person_size(kp))
    row = {int(f): t for t, f in enumerate(kp.frame_indices)}
    inside = np.zeros(kp.scores.shape, dtype=bool)
    for other in others:
        for f, oxy, osc in zip(other.frame_indices.tolist(), other.xy, other.scores):
            t = row.get(f)
            if t is None or (osc > 0).sum() < 3:
                continue
            lo, hi = oxy[osc > 0].min(0), oxy[osc > 0].max(0)
            margin = (1.0 - core) / 2 * (hi - lo)
            inside[t] |= np.all((kp.xy[t] >= lo + margin) & (kp.xy[t] <= hi - margin), axis=-1)
    with np.errstate(invalid="ignore"):
        usual = _nanmedian(res, axis=0)[None, :]  # (1,J)
        return _drop(kp, inside & (res > jump) & (res > joint_ratio * usual))


def _scaled_residual(kp: Keypoints2D, max_run_s: float, s: float) -> np.ndarray:
    """(T,J) rule-1 residual in units of s; nan where unseen."""
    return temporal_residual(kp, max(3, round(max_run_s * kp.fps))) / s


def _drop(kp: Keypoints2D, bad: np.ndarray) -> tuple[Keypoints2D, np.ndarray]:
    """kp with the seen joints of ``bad`` (T,J) at score 0, and that mask."""
    bad = bad & (kp.scores > 0)
    return replace(kp, scores=np.where(bad, 0.0, kp.scores).astype(np.float32)), bad


def _long_bones(kp: Keypoints2D, res: np.ndarray, s: float, ratio: float, min_len: float) -> np.ndarray:
    """(T,J) joints at the misplaced end of a bone far longer than its median (rule 2)."""
    seen = kp.scores > 0
    bad = np.zeros(seen.shape, dtype=bool)
    res = np.nan_to_num(res, nan=0.0)
    for a, b in kp.skeleton.bones:
        both = seen[:, a] & seen[:, b]
        if both.sum() < 3:
            continue
        length = np.linalg.norm(kp.xy[:, a] - kp.xy[:, b], axis=-1)
        typical = float(np.median(length[both]))
        long = both & (length > ratio * typical) & (length > min_len * s)
        a_worse = res[:, a] >= res[:, b]
        bad[long & a_worse, a] = True
        bad[long & ~a_worse, b] = True
    return bad
