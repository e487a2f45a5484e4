"""BVH export of an h36m17 Pose3D: a fixed rest skeleton, per-frame inverse kinematics, and the BVH text.

Follows ../shared/design/FORMATS.md section 1 (what Blender's importer and the pure-Python readers expect).

Joints. The 17 H36M joints become BVH joints named (h36m17 order) Hips, RightUpLeg, RightLeg, RightFoot, LeftUpLeg,
LeftLeg, LeftFoot, Spine, Spine1 (thorax), Neck (the H36M neck/nose point), Head (head top), LeftArm, LeftForeArm,
LeftHand, RightArm, RightForeArm, RightHand. The file lists them depth-first in that same order.

Axes and units. BVH frame: Y up, metres, the character faces +Z with its left side on +X. An OpenCV camera-frame
point (x right, y down, z away from the camera) maps to (x, -y, -z): a person facing the camera faces -z_cam, and
the 180 degree turn about x makes them face +Z with their left side on +X. Blender's default import
(axis_forward='-Z', axis_up='Y') then maps BVH (x, y, z) to Blender (x, -z, y): the character stands on the floor
and faces the front view. ``units="cm"`` multiplies every length by 100 (for MotionBuilder/Maya users, who import
with scale 0.01); angles are degrees.

Channels. ROOT: ``Xposition Yposition Zposition`` then three rotations; every other joint: three rotations. The
rotation order is per joint (EULER_ORDERS; Blender, pybvh and bvhio all read it from each channel list): YZX for
Hips, Spine, Spine1, Neck, Head (the middle angle is the rarely large sideways bend), ZYX for the legs (knee and hip
flexion are the last angle, so sitting does not lock), YXZ for the arms (elbow flexion and arms hanging down are
never the middle angle). On Human3.6M S9/S11 this keeps the middle angle under 75 degrees in all frames but 0.6 %
of one shoulder's, where one ZXY order for all joints locks the knees in 18 % of frames. Channels listed as
``Yrotation Zrotation Xrotation`` mean R = Ry(a) @ Rz(b) @ Rx(c) (intrinsic, in the listed order, acting on column
vectors), the convention of mbcli.geometry.euler_to_matrix.

Root. Its OFFSET is 0, so the position channels are its world position. Input poses are root-relative, so the root
stays above the origin; its height is ``ANKLE_HEIGHT - lowest ankle height`` with the lowest ankle taken over the whole clip
(``floor="clip"``, default: the most extended frame stands on y = 0, crouches lift the feet) or per frame
(``floor="frame"``: the lower ankle is on the floor in every frame). Poses that are not root-relative keep their
camera-frame root trajectory (mapped as above) plus the same constant.

Rest pose (OFFSETs). Bone lengths are the per-clip median of the input bone lengths. Directions are a canonical
T-pose for the limbs and head: legs down -Y, arms out along -X (right) / +X (left), the Spine1 bone and the head up
+Y. The six bones that leave the two branching joints (hips and spine from Hips; neck and shoulders from Spine1)
keep the clip's own torso shape instead: their direction is the per-clip median of the bone direction in a torso
frame (left axis from the right to the left hip / shoulder, up axis from the pelvis to the spine / from the spine
to the thorax, made perpendicular), so the hips lie along -X/+X and the spine points up, but e.g. the H36M nose
point sits ahead of the thorax and the shoulders a little below it. (A pure T-pose torso there would misplace the
shoulders by 5 cm on average on Human3.6M, against 2 cm with the clip's shape.) End Sites: Head, LeftHand and
RightHand continue their own bone direction by ``END_SITE_FRACTION`` of its length; the feet point forward (+Z) by
``FOOT_FRACTION`` of the shin length, so that Blender's foot bones point along the foot (the ankle sits at 90
degrees to the shin, since feet carry no data).

Inverse kinematics (per frame, vectorised over frames; joints in parent-before-child order). Each joint's global
rotation G is solved so that its children land on the input joints; the child positions are aimed at from the
joint's FK position (not its input position), so errors do not accumulate down a chain. The local rotation written
is G_parent^T @ G.
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
  the rest child directions onto the child directions (Kabsch/SVD, equal weights). The children land exactly when
  the angles between them equal the rest pose's (the clip median); otherwise the error is shared between them.
- Leaves (feet, hands, head): zero local rotation; their twist is not observable from 17 joints.
Euler angles are made continuous over time (of the two equivalent triples, with 2 pi wraps, the one nearest the
previous frame), so curves do not jump at +-180 degrees.

Accuracy. With constant bone lengths and a rigid pelvis and thorax (constant angles between the bones leaving
each), the BVH reproduces the input joints to float precision (about 1e-7 m). Real motion is not that rigid: on
Human3.6M motion capture (S9, S11; constant bone lengths) the FK joints miss by 6.5 mm on average (legs 1-2 mm,
shoulders 22 mm, 95th percentile 28 mm). Network output also changes bone lengths from frame to frame while BVH
offsets are fixed, which adds about the length difference. ``BvhMotion.ik_errors()`` gives the per-joint distances.
Frames: frame_indices with gaps are filled by linear interpolation, so BVH frame k is video frame
frame_indices[0] + k; Frame Time is 1/fps written with 8 decimals.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbcli.errors import ExportError
from mbcli.export import write_atomic
from mbcli.geometry import kabsch, matrix_to_euler, rotation_between
from mbcli.skeletons import H36M17
from mbcli.types import MotionResult, Pose3D

BVH_NAMES: dict[str, str] = {
    "pelvis": "Hips",
    "right_hip": "RightUpLeg",
    "right_knee": "RightLeg",
    "right_ankle": "RightFoot",
    "left_hip": "LeftUpLeg",
    "left_knee": "LeftLeg",
    "left_ankle": "LeftFoot",
    "spine": "Spine",
    "thorax": "Spine1",
    "neck_nose": "Neck",
    "head_top": "Head",
    "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand",
    "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm",
    "right_wrist": "RightHand",
}
JOINT_NAMES: tuple[str, ...] = tuple(BVH_NAMES[n] for n in H36M17.joints)
# Euler order per joint (the order of its rotation channels), chosen so that a joint's common large rotation is
# never the middle angle, where Euler angles lock (middle angle +-90 degrees); see the module docstring.
EULER_ORDERS: dict[str, str] = {
    "Hips": "YZX", "Spine": "YZX", "Spine1": "YZX", "Neck": "YZX", "Head": "YZX",
    "RightUpLeg": "ZYX", "RightLeg": "ZYX", "RightFoot": "ZYX", "LeftUpLeg": "ZYX", "LeftLeg": "ZYX", "LeftFoot": "ZYX",
    "LeftArm": "YXZ", "LeftForeArm": "YXZ", "LeftHand": "YXZ", "RightArm": "YXZ", "RightForeArm": "YXZ",
    "RightHand": "YXZ",
}  # fmt: skip
ANKLE_HEIGHT = 0.08  # m: height of the ankle joint above the sole when standing
END_SITE_FRACTION = 0.25  # End Site length of Head/hands, as a fraction of the leaf's own bone
FOOT_FRACTION = 0.35  # foot End Site length (forward), as a fraction of the shin
UNIT_SCALE = {"m": 1.0, "cm": 100.0}
TO_METRES = {"m": 1.0, "cm": 0.01, "mm": 0.001}  # 3D input units -> metres

_X, _Y, _Z = np.eye(3)
# Rest direction of the bone from each joint's parent to the joint (T-pose, left on +X).
_REST_DIR: dict[str, np.ndarray] = {
    "right_hip": -_X, "right_knee": -_Y, "right_ankle": -_Y,
    "left_hip": _X, "left_knee": -_Y, "left_ankle": -_Y,
    "spine": _Y, "thorax": _Y, "neck_nose": _Y, "head_top": _Y,
    "left_shoulder": _X, "left_elbow": _X, "left_wrist": _X,
    "right_shoulder": -_X, "right_elbow": -_X, "right_wrist": -_X,
}  # fmt: skip
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
# Torso frames: (right joint, left joint) give the left axis, (lower joint, upper joint) the up axis.
_TORSO_FRAMES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "pelvis": (("right_hip", "left_hip"), ("pelvis", "spine")),
    "thorax": (("right_shoulder", "left_shoulder"), ("spine", "thorax")),
}
_PLANE_BLEND_SIN = np.sin(np.radians(20.0))


@dataclass(frozen=True)
class BvhMotion:
    """A solved BVH: the rest skeleton and its per-frame motion, in metres in the BVH frame (Y up, faces +Z).

    J joints, T frames. names (J,) BVH joint names; parents (J,), -1 for the root; offsets (J,3) rest offset of
    each joint from its parent (root: 0); end_sites: leaf joint index -> End Site offset (3,); root_position (T,3);
    rotations (T,J,3,3) local rotations (child-to-parent); targets (T,J,3) the input joints mapped to this frame,
    which forward kinematics should reproduce; fps.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    end_sites: dict[int, np.ndarray]
    root_position: np.ndarray
    rotations: np.ndarray
    targets: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.root_position.shape[0])

    def fk(self) -> np.ndarray:
        """World joint positions (T,J,3) of this motion."""
        return forward_kinematics(self.offsets, self.parents, self.root_position, self.rotations)

    def ik_errors(self) -> np.ndarray:
        """(T,J) distance in metres between the FK joints and the input joints."""
        return np.linalg.norm(self.fk() - self.targets, axis=-1)

    def euler_degrees(self) -> np.ndarray:
        """(T,J,3) local rotations as continuous intrinsic Euler angles, degrees, each joint in its
        EULER_ORDERS order (the order of its channels)."""
        angles = np.stack([matrix_to_euler(self.rotations[:, j], EULER_ORDERS[n]) for j, n in enumerate(self.names)],
                          axis=1)
        return np.degrees(_continuous_euler(angles))


# ----------------------------------------------------------------------------------------------- public API


def camera_to_bvh(xyz_camera: np.ndarray) -> np.ndarray:
    """(..., 3) OpenCV camera frame -> BVH frame (x, -y, -z); the map is its own inverse."""
    return np.asarray(xyz_camera, dtype=np.float64) * np.array([1.0, -1.0, -1.0])


def pose_to_bvh(pose: Pose3D, *, floor: str = "clip") -> BvhMotion:
    """Solve the rest skeleton and per-frame rotations for an h36m17 camera-frame Pose3D (see module docstring)."""
    targets = _targets(pose, floor)
    parents = H36M17.parents
    offsets, lengths = _rest_offsets(targets)
    root_position, rotations = solve_ik(targets, offsets)
    end_sites = {}
    for j, name in enumerate(H36M17.joints):
        if j not in parents:
            frac, direction = (FOOT_FRACTION, _Z) if name.endswith("ankle") else (END_SITE_FRACTION, _REST_DIR[name])
            end_sites[j] = direction * frac * lengths[j]
    return BvhMotion(JOINT_NAMES, parents, offsets, end_sites, root_position, rotations, targets, float(pose.fps))


def format_bvh(motion: BvhMotion, *, units: str = "m") -> str:
    """The BVH file text of ``motion``; lengths in ``units`` ("m" or "cm"), angles in degrees."""
    if units not in UNIT_SCALE:
        raise ExportError(f"unknown BVH units {units!r}; choose one of: {', '.join(UNIT_SCALE)}")
    s = UNIT_SCALE[units]
    lines = ["HIERARCHY"]
    _write_joint(lines, motion, 0, 0, s)
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    T = motion.num_frames
    data = np.concatenate([motion.root_position * s, motion.euler_degrees().reshape(T, -1)], axis=1)
    buf = io.StringIO()
    np.savetxt(buf, np.round(data, 6) + 0.0, fmt="%.6f", delimiter=" ")
    return "\n".join(lines) + "\n" + buf.getvalue()


def write_bvh(
    motion: MotionResult | Pose3D, path: str | os.PathLike, *, units: str = "m", floor: str = "clip"
) -> Path:
    """Write one person's 3D motion as a BVH file (atomically) and return its Path."""
    pose = motion.pose_3d if isinstance(motion, MotionResult) else motion
    if pose is None:
        raise ExportError(f"cannot write {path}: track {motion.track_id} has no 3D pose")
    if units not in UNIT_SCALE:
        raise ExportError(f"unknown BVH units {units!r}; choose one of: {', '.join(UNIT_SCALE)}")
    return write_atomic(path, format_bvh(pose_to_bvh(pose, floor=floor), units=units))


def forward_kinematics(
    offsets: np.ndarray, parents: tuple[int, ...], root_position: np.ndarray, rotations: np.ndarray
) -> np.ndarray:
    """BVH FK: offsets (J,3), root_position (T,3), local rotations (T,J,3,3) -> world joints (T,J,3).

    Parents must come before children. p_j = p_parent + G_parent @ offset_j, G_j = G_parent @ R_j.
    """
    T, J = rotations.shape[:2]
    G = np.empty((T, J, 3, 3))
    X = np.empty((T, J, 3))
    for j, p in enumerate(parents):
        if p < 0:
            G[:, j], X[:, j] = rotations[:, j], root_position
        else:
            G[:, j] = G[:, p] @ rotations[:, j]
            X[:, j] = X[:, p] + G[:, p] @ offsets[j]
    return X


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
            rest = _unit(offsets[kids])
            aim = _unit_or(targets[:, kids] - X[:, j, None], np.einsum("tab,cb->tca", G_p, rest))
            G[:, j] = kabsch(rest, aim)
        else:
            G[:, j] = _single_child_rotation(j, kids[0], G, G_p, X, targets, offsets)
        local[:, j] = np.swapaxes(G_p, -1, -2) @ G[:, j]
    return targets[:, 0].copy(), local


def floor_height(targets_bvh: np.ndarray, floor: str) -> np.ndarray:
    """(T,) height to add to the root so the lowest ankle (over the clip, or per frame) is at ANKLE_HEIGHT."""
    ankles = targets_bvh[:, [H36M17.idx("left_ankle"), H36M17.idx("right_ankle")], 1].min(axis=1)
    if floor == "clip":
        return np.full(len(ankles), ANKLE_HEIGHT - ankles.min())
    if floor == "frame":
        return ANKLE_HEIGHT - ankles
    raise ExportError(f"unknown BVH floor mode {floor!r}; choose clip or frame")


# ----------------------------------------------------------------------------------------------- internals


def _targets(pose: Pose3D, floor: str) -> np.ndarray:
    """The pose's joints in the BVH frame, in metres, gap-filled, root-relative where the pose is, on the floor."""
    if pose.skeleton.name != "h36m17":
        raise ExportError(f"BVH export needs the h36m17 skeleton, got {pose.skeleton.name}")
    if pose.frame != "camera":
        raise ExportError(f"BVH export needs camera-frame poses, got frame {pose.frame!r}")
    if pose.units not in TO_METRES:
        raise ExportError(f"unknown 3D units {pose.units!r}; expected one of {', '.join(TO_METRES)}")
    if pose.num_frames == 0:
        raise ExportError("cannot write a BVH with no frames")
    if not np.all(np.isfinite(pose.xyz)):
        raise ExportError("the 3D pose has non-finite values; cannot solve BVH rotations")
    xyz = fill_gaps(pose.xyz.astype(np.float64) * TO_METRES[pose.units], pose.frame_indices)
    q = camera_to_bvh(xyz)
    if pose.root_relative:
        q = q - q[:, :1]
    q[..., 1] += floor_height(q, floor)[:, None]
    return q


def fill_gaps(xyz: np.ndarray, frame_indices: np.ndarray) -> np.ndarray:
    """(T,J,3) at sorted frame_indices -> one row per frame from the first to the last index (linear in between)."""
    fi = np.asarray(frame_indices)
    if np.any(np.diff(fi) <= 0):
        raise ExportError("3D pose frame_indices must be strictly increasing")
    full = np.arange(fi[0], fi[-1] + 1)
    if len(full) == len(fi):
        return xyz
    T, J, C = xyz.shape
    flat = xyz.reshape(T, J * C)
    out = np.stack([np.interp(full, fi, flat[:, k]) for k in range(J * C)], axis=1)
    return out.reshape(len(full), J, C)


def _rest_offsets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest offsets (J,3) = rest direction * per-clip median bone length; also the lengths (J,).

    Directions: the T-pose table, except for the children of the pelvis and thorax, whose directions are the
    per-clip median of their directions in the torso frames of _TORSO_FRAMES."""
    J = len(H36M17.joints)
    offsets = np.zeros((J, 3))
    lengths = np.zeros(J)
    for j, p in enumerate(H36M17.parents):
        if p < 0:
            continue
        lengths[j] = np.median(np.linalg.norm(targets[:, j] - targets[:, p], axis=-1))
        if not lengths[j] > 1e-6:
            raise ExportError(f"bone {H36M17.joints[p]}-{H36M17.joints[j]} has zero length; cannot build a BVH")
        parent = H36M17.joints[p]
        if parent in _TORSO_FRAMES:
            F = _torso_frame(targets, parent)
            local = np.einsum("tba,tb->ta", F, _unit(targets[:, j] - targets[:, p]))
            offsets[j] = _unit(np.median(local, axis=0)) * lengths[j]
        else:
            offsets[j] = _REST_DIR[H36M17.joints[j]] * lengths[j]
    return offsets, lengths


def _torso_frame(targets: np.ndarray, joint: str) -> np.ndarray:
    """(T,3,3) columns: left axis (from the right to the left joint), up axis (made perpendicular), forward."""
    (r, l), (lo, hi) = _TORSO_FRAMES[joint]
    x = _unit(targets[:, H36M17.idx(l)] - targets[:, H36M17.idx(r)])
    y = _perpendicular(targets[:, H36M17.idx(hi)] - targets[:, H36M17.idx(lo)], x, np.broadcast_to(_Y, x.shape))
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _single_child_rotation(j, c, G, G_p, X, targets, offsets) -> np.ndarray:
    """Global rotation (T,3,3) of joint j whose only child is c: swing onto the child, twist by _TWIST."""
    name = H36M17.joints[j]
    rule, hinge = _TWIST[name]
    d = _unit(offsets[c])
    a = _unit_or(targets[:, c] - X[:, j], G_p @ d)
    untwisted = _rot(rotation_between(G_p @ d, a), G_p @ hinge)  # hinge carried by the smallest swing
    if rule == "plane":
        g = [k for k, p in enumerate(H36M17.parents) if p == c][0]
        n = np.cross(a, _unit(targets[:, g] - targets[:, c]))
        s = np.linalg.norm(n, axis=-1, keepdims=True)
        sign = np.where(np.sum(n * untwisted, axis=-1, keepdims=True) < 0, -1.0, 1.0)
        w = np.clip(s / _PLANE_BLEND_SIN, 0.0, 1.0)
        ref = w * sign * n / np.maximum(s, 1e-12) + (1 - w) * untwisted
    elif rule == "hinge":
        ref = G_p @ hinge
    elif rule == "spine":
        ls, rs = H36M17.idx("left_shoulder"), H36M17.idx("right_shoulder")
        ref = G_p @ hinge + _unit(targets[:, ls] - targets[:, rs])
    else:  # follow
        ref = untwisted
    x = _perpendicular(ref, a, untwisted)
    return _frame(a, x) @ _frame(np.broadcast_to(d, a.shape), np.broadcast_to(hinge, a.shape)).swapaxes(-1, -2)


def _rot(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (...,3) by matrices R (...,3,3)."""
    return np.einsum("...ab,...b->...a", R, v)


def _frame(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(...,3,3) with columns a, x, a x x (a, x unit and perpendicular)."""
    return np.stack([a, x, np.cross(a, x)], axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _unit_or(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), _unit(fallback))


def _perpendicular(x: np.ndarray, a: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The unit component of x perpendicular to unit a; ``fallback`` (already perpendicular) where x is parallel."""
    x = x - np.sum(x * a, axis=-1, keepdims=True) * a
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(n > 1e-6, x / np.maximum(n, 1e-12), fallback)


def _continuous_euler(e: np.ndarray) -> np.ndarray:
    """(T,J,3) Euler triples -> per joint, the equivalent triple (a, b, c) or (a+pi, pi-b, c+pi), unwrapped by
    2 pi, nearest the previous frame's."""
    alt = np.stack([e[..., 0] + np.pi, np.pi - e[..., 1], e[..., 2] + np.pi], axis=-1)
    out = np.empty_like(e)
    out[0] = e[0]
    for t in range(1, len(e)):
        prev = out[t - 1]
        c1 = prev + _wrap(e[t] - prev)
        c2 = prev + _wrap(alt[t] - prev)
        pick = np.abs(c1 - prev).sum(-1) <= np.abs(c2 - prev).sum(-1)
        out[t] = np.where(pick[:, None], c1, c2)
    return out


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def _write_joint(lines: list[str], motion: BvhMotion, j: int, depth: int, s: float) -> None:
    ind = "\t" * depth
    p = motion.parents[j]
    head = "ROOT" if p < 0 else "JOINT"
    rotations = " ".join(f"{axis}rotation" for axis in EULER_ORDERS[motion.names[j]])
    channels = f"CHANNELS 6 Xposition Yposition Zposition {rotations}" if p < 0 else f"CHANNELS 3 {rotations}"
    lines += [f"{ind}{head} {motion.names[j]}", f"{ind}{{", f"{ind}\tOFFSET {_vec(motion.offsets[j] * s)}"]
    lines.append(f"{ind}\t{channels}")
    for c in range(len(motion.parents)):
        if motion.parents[c] == j:
            _write_joint(lines, motion, c, depth + 1, s)
    if j in motion.end_sites:
        lines += [f"{ind}\tEnd Site", f"{ind}\t{{", f"{ind}\t\tOFFSET {_vec(motion.end_sites[j] * s)}", f"{ind}\t}}"]
    lines.append(f"{ind}}}")


def _vec(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in np.round(np.asarray(v, dtype=np.float64), 6) + 0.0)  # no "-0.000000"


def skeleton_consistent(pose: Pose3D) -> Pose3D:
    """The pose as the BVH skeleton reproduces it: fixed bone lengths (per-clip medians), the torso shape of
    ``pose_to_bvh``, and the solved rotations; root-relative, same frame and units as ``pose``.

    Exporting this instead of the raw network output makes the JSON/NPZ joints and the BVH's joints agree to
    float rounding (the raw output varies its bone lengths from frame to frame, which no BVH can follow).
    """
    motion = pose_to_bvh(pose)
    fk = camera_to_bvh(motion.fk())  # BVH frame -> camera frame (the map is its own inverse)
    fk = fk - fk[:, :1]
    rows = np.asarray(pose.frame_indices) - int(pose.frame_indices[0])
    xyz = fk[rows] / TO_METRES[pose.units]
    return Pose3D(xyz, pose.skeleton, pose.frame_indices, pose.fps, frame=pose.frame, units=pose.units,
                  root_relative=True)
