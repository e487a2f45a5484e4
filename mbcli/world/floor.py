"""The floor under a static camera, from the feet of everyone in the clip; gravity and the world frame follow.

Samples: the ankles of every person in every frame where the 2D detector saw that ankle (``joints_seen``: a score of
at least ``MIN_SCORE``, inside the image by ``EDGE_MARGIN``: a detector guesses feet below the frame's edge of a
close-up with low scores, and those say nothing about the floor) and the ankle moves slower than ``SLOW_MPS`` (a
planted or slowly moving foot), in the camera frame (root trajectory + lifted joints).
Prior: "up" is the median direction from the pelvis to the thorax over all frames (people mostly stand upright).

Fit (``estimate_floor``): the ankle plane u . X + d = 0 (u unit, pointing up) minimises
    sum_i (u . (a_i - m))^2 + lam (1 - (u . u0)^2),      lam = N (0.1 m)^2
over the inlier samples a_i (mean m), i.e. u is the eigenvector of the smallest eigenvalue of
C - lam u0 u0^T (C the samples' scatter matrix): the feet decide every direction in which they spread by more than
about 10 cm, the trunk prior u0 only the directions they do not span (one person walking a straight line leaves the
roll about that line to the prior). Three rounds: d puts the plane through the 20th percentile of the samples'
heights (raised feet are above the plane, none are below), inliers are the samples within ``INLIER_M``, refit.
The floor is ``ANKLE_HEIGHT`` below the ankle plane.

Fallback ("level-camera"): too few samples (nobody's feet seen on the ground: a swimmer, a close-up), too few
inliers, or a plane tilted more than ``MAX_TILT_DEG`` from the camera's own up: the camera is taken as level
(up = -y of the camera) and the floor is put under the lowest ankles (their 5th percentile), and ``note`` says why.

World frame (types.Floor.R_cam_to_world, to_world): Y up (= u), X the camera's right made horizontal, Z = X x Y
(towards the camera for a person facing it), metres, the floor at y = 0 and the camera at (0, height, 0). For a
level camera this is the BVH frame of mbcli/rig (x, -y, -z of the camera) lifted by the camera's height.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mbcli.skeletons import H36M17
from mbcli.types import Floor

ANKLE_HEIGHT = 0.08  # m: height of the ankle joint above the sole when standing
MIN_SCORE = 0.5  # 2D score for a foot to count as seen
EDGE_MARGIN = 0.02  # of the image size: a foot this close to the frame's edge may be cut by it
SLOW_MPS = 0.5
INLIER_M = 0.05
MIN_SAMPLES = 30
MIN_INLIERS = 20
MAX_TILT_DEG = 45.0
PRIOR_SPREAD_M = 0.1
STRAIGHT_KNEE_DEG = 20.0
MIN_STANDING = 10
_ANKLES = (H36M17.idx("left_ankle"), H36M17.idx("right_ankle"))
_CAMERA_UP = np.array([0.0, -1.0, 0.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def body_up(people: Sequence[np.ndarray]) -> np.ndarray:
    """(3,) the prior for "up" from the people (T,17,3): the median direction from the midpoint of the ankles to the
    thorax over the frames where someone stands with both knees straight (bent less than STRAIGHT_KNEE_DEG); with
    fewer than MIN_STANDING such frames the median pelvis -> thorax direction if it is within MAX_TILT_DEG of the
    camera's up, else the camera's up."""
    samples = [up_samples(p) for p in people if len(p)]
    return up_from_samples([s for s, _ in samples], [t for _, t in samples])


def up_samples(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``body_up``'s samples from frames p (n,17,3) of one person (frames are independent, so a person may come in
    blocks): (the unit ankles -> thorax directions of the frames where they stand straight (k,3), the unit
    pelvis -> thorax directions of every frame (n,3))."""
    J = H36M17.idx
    bends = []
    for hip, knee, ankle in (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle")):
        thigh = _unit_rows(p[:, J(knee)] - p[:, J(hip)])
        shin = _unit_rows(p[:, J(ankle)] - p[:, J(knee)])
        bends.append(np.degrees(np.arccos(np.clip((thigh * shin).sum(-1), -1.0, 1.0))))
    straight = (bends[0] < STRAIGHT_KNEE_DEG) & (bends[1] < STRAIGHT_KNEE_DEG)
    axis = p[:, J("thorax")] - 0.5 * (p[:, J("left_ankle")] + p[:, J("right_ankle")])
    return _unit_rows(axis[straight]), _unit_rows(p[:, J("thorax")] - p[:, J("pelvis")])


def up_from_samples(standing: Sequence[np.ndarray], trunk: Sequence[np.ndarray]) -> np.ndarray:
    """``body_up`` from the ``up_samples`` of every person (blocks of frames in time order)."""
    stand = np.concatenate(standing) if standing else np.zeros((0, 3))
    if len(stand) >= MIN_STANDING:
        return _unit(np.median(stand, axis=0))
    if trunk:
        t = _unit(np.median(np.concatenate(trunk), axis=0))
        if t @ _CAMERA_UP > np.cos(np.radians(MAX_TILT_DEG)):
            return t
    return _CAMERA_UP.copy()


def joints_seen(xy: np.ndarray, scores: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(T,J) bool: joints detected with a score of at least MIN_SCORE, inside the image by EDGE_MARGIN.
    xy (T,J,2) pixels, scores (T,J), image_size (W, H)."""
    size = np.asarray(image_size, dtype=np.float64)
    lo, hi = EDGE_MARGIN * size, (1.0 - EDGE_MARGIN) * size
    inside = ((xy >= lo) & (xy <= hi)).all(axis=-1)
    return (scores >= MIN_SCORE) & inside & np.isfinite(xy).all(axis=-1)


def ankle_samples(ankles: Sequence[np.ndarray], seen: Sequence[np.ndarray], fps: float) -> np.ndarray:
    """(N,3) ankles that the detector saw and that move slower than SLOW_MPS, camera frame, from each person's left
    and right ankle (T,2,3) and whether the detector saw them (T,2) bool."""
    out = []
    for xyz, ok in zip(ankles, seen):
        if len(xyz) < 2:
            continue
        for j in range(2):
            a = xyz[:, j]
            speed = np.linalg.norm(np.gradient(a, axis=0), axis=-1) * fps
            keep = ok[:, j] & (speed < SLOW_MPS) & np.isfinite(a).all(axis=-1)
            out.append(a[keep])
    return np.concatenate(out) if out else np.zeros((0, 3))


def _fit(a: np.ndarray, u0: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Three rounds of the prior-regularised plane fit (module docstring): (up, d, inlier mask)."""
    u = u0.copy()
    inl = np.ones(len(a), bool)
    d = 0.0
    for _ in range(3):
        d = -float(np.percentile(a[inl] @ u, 20))
        inl = np.abs(a @ u + d) < INLIER_M
        if inl.sum() < 3:
            break
        pts = a[inl]
        m = pts.mean(axis=0)
        C = (pts - m).T @ (pts - m)
        lam = len(pts) * PRIOR_SPREAD_M**2
        vals, vecs = np.linalg.eigh(C - lam * np.outer(u0, u0))
        u = vecs[:, 0]
        u = u if u @ u0 >= 0 else -u
        d = -float(m @ u)
        inl = np.abs(a @ u + d) < INLIER_M
    return u, d, inl


def level_floor(ankles: Sequence[np.ndarray], note: str, samples: int = 0) -> Floor:
    """The level-camera fallback: up = the camera's -y, the floor ANKLE_HEIGHT under the lowest of the ankles
    (each person's (T,2,3))."""
    ank = [a.reshape(-1, 3) for a in ankles if len(a)]
    heights = np.concatenate(ank) @ _CAMERA_UP if ank else np.zeros(0)
    heights = heights[np.isfinite(heights)]
    d = -float(np.percentile(heights, 5)) if len(heights) else 1.5
    return Floor(_CAMERA_UP.copy(), d + ANKLE_HEIGHT, "level-camera", samples, 0, note)


def estimate_floor(people: Sequence[np.ndarray], seen: Sequence[np.ndarray], fps: float) -> Floor:
    """The floor of a clip from its people: joints (T,17,3) absolute, camera frame, metres, and seen (T,17) bool,
    the joints the 2D detector found (module docstring)."""
    return floor_from_ankles([p[:, list(_ANKLES)] for p in people], [ok[:, list(_ANKLES)] for ok in seen],
                             body_up(people), fps)


def floor_from_ankles(ankles: Sequence[np.ndarray], seen: Sequence[np.ndarray], up: np.ndarray, fps: float) -> Floor:
    """``estimate_floor`` from what it uses of each person: their left and right ankle (T,2,3), whether the detector
    saw them (T,2) bool, and the prior for up of everyone together (``body_up``, or ``up_from_samples``)."""
    a = ankle_samples(ankles, seen, fps)
    if len(a) < MIN_SAMPLES:
        return level_floor(ankles, f"too few planted, visible feet to find the floor ({len(a)} samples): the "
                                    f"camera is assumed level", len(a))
    u, d, inl = _fit(a, up)
    tilt = float(np.degrees(np.arccos(np.clip(u @ _CAMERA_UP, -1.0, 1.0))))
    if inl.sum() < MIN_INLIERS:
        return level_floor(ankles, f"the feet do not agree on a floor ({int(inl.sum())} of {len(a)} samples): the "
                                    f"camera is assumed level", len(a))
    if tilt > MAX_TILT_DEG:
        return level_floor(ankles, f"the feet give a floor tilted {tilt:.0f} degrees from the camera: implausible, "
                                    f"the camera is assumed level", len(a))
    return Floor(u, d + ANKLE_HEIGHT, "feet", len(a), int(inl.sum()))
