"""Foot locking: a leg IK pass that pins each planted foot where it stands, in the world frame (Y up, metres, the
floor at y = 0), and keeps every ankle at or above its standing height ANKLE_HEIGHT.

Per foot (its ankle joint; h36m17 has no toes), from its contact labels (contact.py):
- runs: the maximal runs of planted frames at least ``MIN_RUN`` frames long (a lone planted frame is noise);
- anchor: one point per run where the ankle is held. Horizontally the median of the run's ankle positions (default)
  or the landing position (the run's first frame, ``anchor="landing"``). The median is the point the foot is nearest
  to over the run, so the lock moves the leg least, and one noisy frame at either end of a run does not set it: on
  Human3.6M quick (mbcli/train/evaluate_world.py) the ankles move 16 mm on average with the median, 22-24 mm with
  the landing position, the knees 23-24 mm vs 24-26 mm, for the same remaining skate. Its height is
  max(ANKLE_HEIGHT, the run's median ankle height): on or above the floor, and still.
- blend: inside a run the ankle goal is the anchor; over the ``blend_s`` seconds before and after a run (at least one
  frame) the correction the run needed at its first / last frame (anchor - ankle there) fades out linearly, so the
  output's per-frame step differs from the input's by at most |correction| / (frames + 1). Where two runs' ramps
  overlap their corrections are averaged by weight. Everywhere, an ankle goal below ANKLE_HEIGHT is raised to it.
- IK (``two_bone_ik``): per frame, the hip stays; the thigh and shin keep that frame's lengths exactly (law of
  cosines); the knee stays in the plane of the hip, the knee and the goal, on the side it was bent to. A goal out of
  reach (further from the hip than thigh + shin, or nearer than |thigh - shin|) is replaced by the reachable point
  nearest to it on the line from the hip through it: the leg straightens (or folds) towards it and the pelvis does
  not move, so such a foot can still slide (and, for a hip below the floor, stay under it).
Only knees and ankles change, and only in frames whose ankle goal differs from the ankle. Pure numpy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mbcli.skeletons import H36M17
from mbcli.world.floor import ANKLE_HEIGHT

MIN_RUN = 2  # frames
BLEND_S = 0.08  # seconds of ramp on each side of a run (4 frames at 50 fps)
LEGS = tuple((H36M17.idx(f"{s}_hip"), H36M17.idx(f"{s}_knee"), H36M17.idx(f"{s}_ankle")) for s in ("left", "right"))
_DOWN = np.array([0.0, -1.0, 0.0])
_EPS = 1e-12


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1, keepdims=True)


def _direction(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of v (N,3) made unit length; ``fallback`` (unit) rows where v is (nearly) zero."""
    n = _norm(v)
    return np.where(n > 1e-9, v / np.maximum(n, _EPS), fallback)


def _perpendicular(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The part of rows v (N,3) perpendicular to the unit rows n."""
    return v - np.sum(v * n, axis=-1, keepdims=True) * n


def _any_perpendicular(n: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to each unit row of n (N,3)."""
    axis = np.eye(3)[np.argmin(np.abs(n), axis=-1)]
    return _direction(np.cross(n, axis), np.broadcast_to(np.array([1.0, 0.0, 0.0]), n.shape))


def contact_runs(planted: np.ndarray, min_run: int = MIN_RUN) -> list[tuple[int, int]]:
    """[start, stop) of the maximal runs of True in planted (T,) that are at least min_run frames long."""
    edges = np.diff(np.concatenate([[0], np.asarray(planted, dtype=np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, stops) if e - s >= min_run]


def run_anchor(ankle: np.ndarray, anchor: Literal["median", "landing"] = "median") -> np.ndarray:
    """(3,) where a run's ankle (n,3) is held: horizontally its median (or first) position, vertically
    max(ANKLE_HEIGHT, its median height)."""
    xz = np.median(ankle[:, [0, 2]], axis=0) if anchor == "median" else ankle[0, [0, 2]]
    return np.array([xz[0], max(ANKLE_HEIGHT, float(np.median(ankle[:, 1]))), xz[1]])


def ankle_goals(ankle: np.ndarray, planted: np.ndarray, blend: int, min_run: int = MIN_RUN,
                anchor: Literal["median", "landing"] = "median") -> np.ndarray:
    """(T,3) where one ankle (T,3) should be: its run's anchor inside a run, the run's edge correction fading over
    ``blend`` frames on either side, and never under ANKLE_HEIGHT (module docstring)."""
    T = len(ankle)
    num, den = np.zeros((T, 3)), np.zeros(T)
    offset = np.zeros((T, 3))
    inside = np.zeros(T, bool)
    k = np.arange(1, blend + 1)
    w = 1.0 - k / (blend + 1.0)  # (blend,) the ramp's weights, nearest frame first
    for s, e in contact_runs(planted, min_run):
        target = run_anchor(ankle[s:e], anchor)
        offset[s:e] = target - ankle[s:e]
        inside[s:e] = True
        for frames, edge in ((s - k, s), (e - 1 + k, e - 1)):
            ok = (frames >= 0) & (frames < T)
            np.add.at(num, frames[ok], w[ok, None] * (target - ankle[edge]))
            np.add.at(den, frames[ok], w[ok])
    offset = np.where(inside[:, None], offset, num / np.maximum(den, 1.0)[:, None])
    goal = ankle + offset
    goal[:, 1] = np.maximum(goal[:, 1], ANKLE_HEIGHT)
    return goal


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray,
                goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(knee, ankle) (N,3) that reach goal (N,3) from the fixed hip with each row's own thigh and shin lengths, the
    knee in the plane of hip, knee and goal and bent to the same side; an unreachable goal is replaced by the
    nearest reachable point on the line from the hip through it (module docstring)."""
    thigh, shin = _norm(knee - hip), _norm(ankle - knee)  # (N,1)
    leg = _direction(ankle - hip, _DOWN)
    n = _direction(goal - hip, leg)
    d = np.clip(_norm(goal - hip), np.abs(thigh - shin), thigh + shin)
    own = _perpendicular(_perpendicular(knee - hip, leg), n)  # the side of its own hip-ankle line the knee is on
    bend = _direction(_perpendicular(knee - hip, n), _direction(own, _any_perpendicular(n)))
    cos = np.clip((thigh**2 + d**2 - shin**2) / np.maximum(2.0 * thigh * d, _EPS), -1.0, 1.0)
    sin = np.sqrt(1.0 - cos**2)
    return hip + thigh * (cos * n + sin * bend), hip + d * n


def lock_feet(joints_world: np.ndarray, contacts: np.ndarray, fps: float, blend_s: float = BLEND_S,
              min_run: int = MIN_RUN, anchor: Literal["median", "landing"] = "median") -> np.ndarray:
    """(T,17,3) float64: h36m17 joints_world (T,17,3) (metres, Y up, floor y = 0) with planted feet pinned and no
    ankle under ANKLE_HEIGHT; contacts (T,2) bool, left and right foot planted (contact.foot_contacts); the ramps last
    blend_s seconds at fps frames per second (at least one frame). Only knees and ankles move (module docstring)."""
    out = np.array(joints_world, dtype=np.float64)
    if out.ndim != 3 or out.shape[1:] != (17, 3):
        raise ValueError(f"lock_feet needs joints (T,17,3) and contacts (T,2), got {out.shape} and "
                         f"{np.shape(contacts)}")
    lock_legs(out, contacts, fps, LEGS, blend_s, min_run, anchor)
    return out


def lock_legs(joints: np.ndarray, contacts: np.ndarray, fps: float,
              legs: tuple[tuple[int, int, int], ...] = LEGS, blend_s: float = BLEND_S, min_run: int = MIN_RUN,
              anchor: Literal["median", "landing"] = "median") -> None:
    """``lock_feet`` in place on joints (T,J,3) float64 whose left and right (hip, knee, ankle) are the columns
    ``legs`` (LEGS for h36m17; (0,1,2), (3,4,5) for an array of the legs alone)."""
    contacts = np.asarray(contacts, dtype=bool)
    if contacts.shape != (len(joints), 2):
        raise ValueError(f"lock_feet needs joints (T,17,3) and contacts (T,2), got {joints.shape} and "
                         f"{contacts.shape}")
    blend = max(1, int(round(blend_s * fps)))
    for side, (h, k, a) in enumerate(legs):
        goal = ankle_goals(joints[:, a], contacts[:, side], blend, min_run, anchor)
        move = np.any(goal != joints[:, a], axis=-1)
        if move.any():
            joints[move, k], joints[move, a] = two_bone_ik(joints[move, h], joints[move, k], joints[move, a],
                                                           goal[move])
