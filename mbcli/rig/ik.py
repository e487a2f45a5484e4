"""Inverse kinematics of the h36m17 rig: per-frame local rotations that carry the rest skeleton onto target joints.

Per frame, vectorised over frames, joints in parent-before-child order. Each joint's global rotation G is solved so
that its children land on the target joints; the child positions are aimed at from the joint's FK position (not
its target position), so errors do not accumulate down a chain. The local rotation is G_parent^T @ G.
- Joints with one child: G maps the rest bone direction onto the direction to the child (the swing) and the rest
  hinge axis onto a reference axis perpendicular to it (the twist):
  - thigh (RightUpLeg/LeftUpLeg) and upper arm (LeftArm/RightArm): the normal of the limb plane (hip-knee-ankle,
    shoulder-elbow-wrist), signed to agree with the parent's untwisted hinge axis, so knees and elbows bend about
    a fixed local axis (knees about +X, left elbow about -Y, right elbow about +Y in the rest frame); near a
    straight limb (bend under 20 degrees) it blends into the untwisted axis, where the plane is undefined;
  - shin and forearm: the thigh's / upper arm's hinge axis, so the knee and elbow are pure hinges;
  - Spine: the mean of the pelvis' left axis and the shoulder line, which shares the torso twist between Spine
    and Spine1;
  - Neck: no twist relative to Spine1 (the smallest rotation from the parent's frame).
- Joints with several children, Hips (hips + spine) and Spine1 (neck + shoulders): the rotation that best maps
  the rest child directions onto the child directions (Kabsch/SVD, equal weights; mbcli.geometry.kabsch). The
  children land exactly when the angles between them equal the rest pose's; otherwise the error is shared.
- Leaves (feet, hands, head): zero local rotation; their twist is not observable from 17 joints.
The root's position is its target.

Accuracy. With constant bone lengths and a rigid pelvis and thorax (constant angles between the bones leaving
each), FK of the solution reproduces the targets to float precision (about 1e-7 m). Real motion is not that rigid:
on Human3.6M motion capture (S9, S11; constant bone lengths) the FK joints miss by 6.5 mm on average (legs 1-2 mm,
shoulders 22 mm, 95th percentile 28 mm). Network output also changes bone lengths from frame to frame while the rig's
offsets are fixed, which adds about the length difference (RigMotion.ik_errors gives the per-joint distances).
"""

from __future__ import annotations

import numpy as np

from mbcli.geometry import kabsch, rotation_between
from mbcli.skeletons import H36M17

_X, _Y, _Z = np.eye(3)
# Single-child joints: (twist rule, rest hinge axis of the bone leaving the joint, perpendicular to that bone).
# The hinge is the axis the next joint bends about: knees flex the shin backwards (-Z) about +X; elbows flex the
# forearm forwards (+Z), which is about -Y for the left arm (+X bone) and +Y for the right arm (-X bone).
_TWIST: dict[str, tuple[str, np.ndarray]] = {
    "right_hip": ("plane", _X), "right_knee": ("hinge", _X),
    "left_hip": ("plane", _X), "left_knee": ("hinge", _X),
    "spine": ("spine", _X), "neck_nose": ("follow", _X),
    "left_shoulder": ("plane", -_Y), "left_elbow": ("hinge", -_Y),
    "right_shoulder": ("plane", _Y), "right_elbow": ("hinge", _Y),
}  # fmt: skip
_PLANE_BLEND_SIN = np.sin(np.radians(20.0))


def solve_ik(targets: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets (T,J,3) h36m17 joints in the BVH frame, rest offsets (J,3) -> root position (T,3) and local
    rotations (T,J,3,3) by the rules of the module docstring."""
    T, J, _ = targets.shape
    parents = H36M17.parents
    children = [[c for c in range(J) if parents[c] == j] for j in range(J)]
    G = np.empty((T, J, 3, 3))
    X = np.empty((T, J, 3))
    local = np.empty((T, J, 3, 3))
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    for j, p in enumerate(parents):
        G_p = eye if p < 0 else G[:, p]
        X[:, j] = targets[:, j] if p < 0 else X[:, p] + G_p @ offsets[j]
        kids = children[j]
        if not kids:
            G[:, j] = G_p
        elif len(kids) > 1:
            rest = unit(offsets[kids])
            aim = _unit_or(targets[:, kids] - X[:, j, None], np.einsum("tab,cb->tca", G_p, rest))
            G[:, j] = kabsch(rest, aim)
        else:
            G[:, j] = _single_child_rotation(j, kids[0], G_p, X, targets, offsets)
        local[:, j] = np.swapaxes(G_p, -1, -2) @ G[:, j]
    return targets[:, 0].copy(), local


def _single_child_rotation(j, c, G_p, X, targets, offsets) -> np.ndarray:
    """Global rotation (T,3,3) of joint j whose only child is c: swing onto the child, twist by _TWIST."""
    name = H36M17.joints[j]
    rule, hinge = _TWIST[name]
    d = unit(offsets[c])
    a = _unit_or(targets[:, c] - X[:, j], G_p @ d)
    untwisted = _rot(rotation_between(G_p @ d, a), G_p @ hinge)  # hinge carried by the smallest swing
    if rule == "plane":
        g = [k for k, p in enumerate(H36M17.parents) if p == c][0]
        n = np.cross(a, unit(targets[:, g] - targets[:, c]))
        s = np.linalg.norm(n, axis=-1, keepdims=True)
        sign = np.where(np.sum(n * untwisted, axis=-1, keepdims=True) < 0, -1.0, 1.0)
        w = np.clip(s / _PLANE_BLEND_SIN, 0.0, 1.0)
        ref = w * sign * n / np.maximum(s, 1e-12) + (1 - w) * untwisted
    elif rule == "hinge":
        ref = G_p @ hinge
    elif rule == "spine":
        ls, rs = H36M17.idx("left_shoulder"), H36M17.idx("right_shoulder")
        ref = G_p @ hinge + unit(targets[:, ls] - targets[:, rs])
    else:  # follow
        ref = untwisted
    x = perpendicular(ref, a, untwisted)
    return _frame(a, x) @ _frame(np.broadcast_to(d, a.shape), np.broadcast_to(hinge, a.shape)).swapaxes(-1, -2)


def unit(v: np.ndarray) -> np.ndarray:
    """v (...,3) scaled to unit length (zero vectors stay zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def perpendicular(x: np.ndarray, a: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The unit component of x perpendicular to unit a; ``fallback`` (already perpendicular) where x is parallel."""
    x = x - np.sum(x * a, axis=-1, keepdims=True) * a
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(n > 1e-6, x / np.maximum(n, 1e-12), fallback)


def _unit_or(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), unit(fallback))


def _rot(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (...,3) by matrices R (...,3,3)."""
    return np.einsum("...ab,...b->...a", R, v)


def _frame(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(...,3,3) with columns a, x, a x x (a, x unit and perpendicular)."""
    return np.stack([a, x, np.cross(a, x)], axis=-1)
