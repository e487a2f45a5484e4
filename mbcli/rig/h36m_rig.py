"""The h36m17 rig: a fixed BVH-style skeleton fitted to a Pose3D (rest pose, axes, floor), and the retarget step.

Follows ../shared/design/FORMATS.md section 1 (what Blender's importer and the pure-Python readers expect).

Joints. The 17 H36M joints become rig joints named (h36m17 order) Hips, RightUpLeg, RightLeg, RightFoot, LeftUpLeg,
LeftLeg, LeftFoot, Spine, Spine1 (thorax), Neck (the H36M neck/nose point), Head (head top), LeftArm, LeftForeArm,
LeftHand, RightArm, RightForeArm, RightHand. A BVH file lists them depth-first in that same order.

Axes and units. Rig (BVH) frame: Y up, metres, the character faces +Z with its left side on +X. An OpenCV
camera-frame point (x right, y down, z away from the camera) maps to (x, -y, -z): a person facing the camera faces
-z_cam, and the 180 degree turn about x makes them face +Z with their left side on +X. Blender's default BVH import
(axis_forward='-Z', axis_up='Y') then maps (x, y, z) to Blender (x, -z, y): the character stands on the floor and
faces the front view. Input lengths are converted with mbcli.units.TO_METRES.

Euler orders (EULER_ORDERS, the order of each joint's rotation channels): YZX for Hips, Spine, Spine1, Neck, Head
(the middle angle is the rarely large sideways bend), ZYX for the legs (knee and hip flexion are the last angle, so
sitting does not lock), YXZ for the arms (elbow flexion and arms hanging down are never the middle angle). On
Human3.6M S9/S11 this keeps the middle angle under 75 degrees in all frames but 0.6 % of one shoulder's, where one
ZXY order for all joints locks the knees in 18 % of frames.

Root. Its OFFSET is 0, so its position is its world position. Input poses are root-relative, so the root stays
above the origin; its height is ``ANKLE_HEIGHT - lowest ankle height`` with the lowest ankle taken over the whole
clip (``floor="clip"``, default: the most extended frame stands on y = 0, crouches lift the feet) or per frame
(``floor="frame"``: the lower ankle is on the floor in every frame). Poses that are not root-relative keep their
camera-frame root trajectory (mapped as above) plus the same constant.

World-frame poses (``Pose3D.frame == "world"``: the clip's world of mbcli.types.Floor, Y up, floor at y = 0, the
camera at (0, height, 0), X the camera's right made horizontal, Z = X x Y; never root-relative). That frame already
has the rig's axes (Y up, right-handed), so the joints are the targets as they are (in metres): no 180 degree turn,
no floor placement (``floor`` is checked but not applied). The root channels then carry the person's trajectory in
the world and the person faces wherever they face there (+Z is towards the camera). ``retarget`` returns the
consistent pose in the world frame too (not root-relative) and moves nothing.

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

Rotations: mbcli.rig.ik.solve_ik. Frames: frame_indices with gaps are filled by linear interpolation
(kinematics.fill_gaps), so rig frame k is video frame frame_indices[0] + k.

Retarget (``retarget``: what ``mbcli lift`` and ``mbcli mesh`` do once per person). One solve gives both the solved
motion, which the BVH writer formats as it is, and the skeleton-consistent pose: the solved skeleton's joints (fixed
bone lengths, the rest torso shape, the solved rotations) mapped back to the input's frame and units, root-relative,
at the input's frame indices. Exporting that pose instead of the raw network output makes the JSON/NPZ joints and
the BVH's joints agree to float rounding (the raw output varies its bone lengths from frame to frame, which no fixed
skeleton can follow). The retargeted motion stands the solved skeleton's own ankles on the floor (the floor rule
above applied to the FK joints): they differ from the input's ankles by those bone-length changes, up to a few cm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mbcli.errors import ExportError
from mbcli.rig.ik import perpendicular, solve_ik, unit
from mbcli.rig.kinematics import CHUNK, BakedMotion, RigMotion, fill_gaps
from mbcli.skeletons import H36M17
from mbcli.types import Pose3D
from mbcli.units import TO_METRES

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
DTYPE = np.float32  # of the consistent pose retarget_baked gives (Pose3D holds float32: written as such, not cast)
ANKLE_HEIGHT = 0.08  # m: height of the ankle joint above the sole when standing
END_SITE_FRACTION = 0.25  # End Site length of Head/hands, as a fraction of the leaf's own bone
FOOT_FRACTION = 0.35  # foot End Site length (forward), as a fraction of the shin

_X, _Y, _Z = np.eye(3)
# Rest direction of the bone from each joint's parent to the joint (T-pose, left on +X).
_REST_DIR: dict[str, np.ndarray] = {
    "right_hip": -_X, "right_knee": -_Y, "right_ankle": -_Y,
    "left_hip": _X, "left_knee": -_Y, "left_ankle": -_Y,
    "spine": _Y, "thorax": _Y, "neck_nose": _Y, "head_top": _Y,
    "left_shoulder": _X, "left_elbow": _X, "left_wrist": _X,
    "right_shoulder": -_X, "right_elbow": -_X, "right_wrist": -_X,
}  # fmt: skip
# Torso frames: (right joint, left joint) give the left axis, (lower joint, upper joint) the up axis.
_TORSO_FRAMES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "pelvis": (("right_hip", "left_hip"), ("pelvis", "spine")),
    "thorax": (("right_shoulder", "left_shoulder"), ("spine", "thorax")),
}


@dataclass(frozen=True)
class Retargeted:
    """One person retargeted: ``motion`` the solved rig (what the BVH writer formats), ``pose`` the
    skeleton-consistent Pose3D (what the JSON/NPZ/overlay/mesh stages use); see the module docstring."""

    motion: RigMotion
    pose: Pose3D


# ----------------------------------------------------------------------------------------------- public API


_CAMERA_TO_BVH = np.array([1.0, -1.0, -1.0])  # (x, y, z) camera -> (x, -y, -z) BVH, and back


def camera_to_bvh(xyz_camera: np.ndarray) -> np.ndarray:
    """(..., 3) OpenCV camera frame -> BVH frame (x, -y, -z); the map is its own inverse."""
    return np.asarray(xyz_camera, dtype=np.float64) * _CAMERA_TO_BVH


def pose_to_rig(pose: Pose3D, *, floor: str = "clip") -> RigMotion:
    """Solve the rest skeleton and per-frame rotations for an h36m17 Pose3D, camera or world frame (see module
    docstring)."""
    source = _Targets(pose, floor)
    offsets, lengths = source.rest_offsets()
    targets = source.span(0, source.num_frames)
    root_position, rotations = solve_ik(targets, offsets)
    return _rig_motion(pose, offsets, lengths, root_position, rotations, targets)


def _rig_motion(pose: Pose3D, offsets: np.ndarray, lengths: np.ndarray, root_position: np.ndarray,
                rotations: np.ndarray, targets: np.ndarray) -> RigMotion:
    """The RigMotion of a solve: the skeleton (names, Euler orders, End Sites from the bone lengths) and frames."""
    end_sites = {}
    for j, name in enumerate(H36M17.joints):
        if j not in H36M17.parents:
            frac, direction = (FOOT_FRACTION, _Z) if name.endswith("ankle") else (END_SITE_FRACTION, _REST_DIR[name])
            end_sites[j] = direction * frac * lengths[j]
    orders = tuple(EULER_ORDERS[n] for n in JOINT_NAMES)
    return RigMotion(JOINT_NAMES, H36M17.parents, orders, offsets, end_sites, root_position, rotations, targets,
                     float(pose.fps))


def retarget(pose: Pose3D, *, floor: str = "clip") -> Retargeted:
    """Solve ``pose`` once: the rig motion with the solved skeleton's ankles on the floor, and the
    skeleton-consistent pose (root-relative, same frame, units and frame indices as ``pose``). A world-frame pose
    keeps its floor and trajectory: the motion is pose_to_rig's and the consistent pose is in the world frame, not
    root-relative (module docstring)."""
    motion = pose_to_rig(pose, floor=floor)
    fk = motion.fk()
    if pose.frame == "world":
        return Retargeted(motion, _world_pose(fk, pose))
    cam = camera_to_bvh(fk)  # BVH frame -> camera frame (the map is its own inverse)
    cam = cam - cam[:, :1]
    rows = np.asarray(pose.frame_indices) - int(pose.frame_indices[0])
    consistent = Pose3D(cam[rows] / TO_METRES[pose.units], pose.skeleton, pose.frame_indices, pose.fps,
                        frame=pose.frame, units=pose.units, root_relative=True)
    up = np.zeros((motion.num_frames, 3))
    up[:, 1] = floor_height(fk, floor)
    motion = replace(motion, root_position=motion.root_position + up, targets=motion.targets + up[:, None])
    return Retargeted(motion, consistent)


def retarget_baked(pose: Pose3D, *, floor: str = "clip", chunk: int = CHUNK) -> tuple[BakedMotion, Pose3D]:
    """``retarget`` for long clips: the same solve, ``chunk`` frames at a time (the rotations of one frame do not
    depend on another's), keeping of the motion only what its BVH holds (RigMotion.bake). The targets too are made a
    chunk at a time (_Targets), so memory is the outputs (the BVH's root and Euler angles, the consistent pose: 636
    bytes a frame) plus one chunk's temporaries, instead of 1.7 KB of matrices and 408 bytes of targets a frame."""
    baked, out = _solve_chunks(pose, floor, chunk, angles=True)
    assert baked is not None
    return baked, out


def consistent_pose(pose: Pose3D, *, floor: str = "clip", chunk: int = CHUNK) -> Pose3D:
    """retarget_baked's skeleton-consistent pose alone, for a pose no BVH is written from (its Euler angles, the
    slowest part of the solve and 408 bytes a frame, are not made)."""
    return _solve_chunks(pose, floor, chunk, angles=False)[1]


def _solve_chunks(pose: Pose3D, floor: str, chunk: int, angles: bool) -> tuple[BakedMotion | None, Pose3D]:
    """retarget_baked; the BakedMotion only when ``angles``."""
    source = _Targets(pose, floor, chunk)
    offsets, lengths = source.rest_offsets()
    T, J = source.num_frames, len(H36M17.joints)
    rows = source.rows  # the pose's frames among the rig's T
    xyz = np.empty((len(rows), J, 3), DTYPE)
    euler = np.empty((T if angles else 0, J, 3))
    root = np.empty((T, 3))
    ankles = np.empty(T)  # the lower ankle's height per frame (floor_height)
    prev = None
    motion = _rig_motion(pose, offsets, lengths, root[:0], np.empty((0, J, 3, 3)), euler[:0])
    for lo, hi in source.spans():
        targets = source.span(lo, hi)
        root[lo:hi], local = solve_ik(targets, offsets)
        part = replace(motion, root_position=root[lo:hi], rotations=local, targets=targets)
        fk = part.fk()
        if angles:
            a = part.euler_radians(prev)
            euler[lo:hi], prev = np.degrees(a), a[-1]
        ankles[lo:hi] = _lower_ankle(fk)
        r0, r1 = np.searchsorted(rows, [lo, hi])
        fk = fk[rows[r0:r1] - lo]
        if pose.frame == "world":
            xyz[r0:r1] = fk / TO_METRES[pose.units]
        else:
            cam = camera_to_bvh(fk)
            xyz[r0:r1] = (cam - cam[:, :1]) / TO_METRES[pose.units]
    out = Pose3D(xyz, pose.skeleton, pose.frame_indices, pose.fps, frame=pose.frame, units=pose.units,
                 root_relative=pose.frame != "world")
    if not angles:
        return None, out
    if pose.frame != "world":
        root[:, 1] += _floor_from_ankles(ankles, floor)
    return BakedMotion(motion.names, motion.parents, motion.euler_orders, offsets, motion.end_sites, root, euler,
                       motion.fps), out


def floor_height(targets_bvh: np.ndarray, floor: str) -> np.ndarray:
    """(T,) height to add to the root so the lowest ankle (over the clip, or per frame) is at ANKLE_HEIGHT."""
    return _floor_from_ankles(_lower_ankle(targets_bvh), floor)


def _lower_ankle(targets_bvh: np.ndarray) -> np.ndarray:
    """(T,) the height of the lower ankle of joints (T,J,3) in the BVH frame."""
    return targets_bvh[:, [H36M17.idx("left_ankle"), H36M17.idx("right_ankle")], 1].min(axis=1)


def _floor_from_ankles(ankles: np.ndarray, floor: str) -> np.ndarray:
    if floor == "clip":
        return np.full(len(ankles), ANKLE_HEIGHT - ankles.min())
    if floor == "frame":
        return ANKLE_HEIGHT - ankles
    raise ExportError(f"unknown BVH floor mode {floor!r}; choose clip or frame")


# ----------------------------------------------------------------------------------------------- internals


def _world_pose(fk: np.ndarray, pose: Pose3D) -> Pose3D:
    """The rig's FK joints (T_rig,J,3), world frame in metres, at ``pose``'s frames and in its units."""
    rows = np.asarray(pose.frame_indices) - int(pose.frame_indices[0])
    return Pose3D(fk[rows] / TO_METRES[pose.units], pose.skeleton, pose.frame_indices, pose.fps, frame="world",
                  units=pose.units, root_relative=False)


class _Targets:
    """The pose's joints in the BVH frame, in metres, gap-filled, for any span of rig frames (``span``; the whole
    clip is span(0, num_frames)): a camera-frame pose is turned into the BVH frame, made root-relative where the
    pose is and put on the floor (the floor rule needs one pass over the clip, made here), a world-frame pose is
    used as it is. A row depends only on its own frame (and the samples either side of a gap), so a long clip is
    made ``chunk`` frames at a time with the same values as in one piece."""

    def __init__(self, pose: Pose3D, floor: str, chunk: int = CHUNK) -> None:
        if pose.skeleton.name != "h36m17":
            raise ExportError(f"BVH export needs the h36m17 skeleton, got {pose.skeleton.name}")
        if pose.frame == "world" and pose.root_relative:
            raise ExportError("a world-frame pose for a BVH must not be root-relative (it carries the trajectory)")
        if pose.units not in TO_METRES:
            raise ExportError(f"unknown 3D units {pose.units!r}; expected one of {', '.join(TO_METRES)}")
        if pose.num_frames == 0:
            raise ExportError("cannot write a BVH with no frames")
        if not np.all(np.isfinite(pose.xyz)):
            raise ExportError("the 3D pose has non-finite values; cannot solve BVH rotations")
        fi = np.asarray(pose.frame_indices)
        if np.any(np.diff(fi) <= 0):
            raise ExportError("3D pose frame_indices must be strictly increasing")
        self.pose, self.chunk, self.frame_indices = pose, max(1, chunk), fi
        self.num_frames = int(fi[-1] - fi[0]) + 1
        self.rows = fi - fi[0]  # (N,) the pose's samples among the rig frames
        self.lift: np.ndarray | None = None  # (T,) floor height added to a camera-frame pose's y
        if pose.frame == "world":
            _floor_from_ankles(np.zeros(1), floor)  # the same error for an unknown floor mode; the world's floor is kept
        else:
            ankles = np.concatenate([_lower_ankle(self._turned(lo, hi)) for lo, hi in self.spans()])
            self.lift = _floor_from_ankles(ankles, floor)

    def spans(self) -> list[tuple[int, int]]:
        """[lo, hi) rig-frame spans of at most ``chunk`` frames covering the clip."""
        return [(lo, min(lo + self.chunk, self.num_frames)) for lo in range(0, self.num_frames, self.chunk)]

    def span(self, lo: int, hi: int) -> np.ndarray:
        """(hi-lo,J,3) float64 targets of rig frames [lo, hi)."""
        if self.lift is None:
            return self._metres(lo, hi)
        xyz = self._turned(lo, hi)
        xyz[..., 1] += self.lift[lo:hi, None]
        return xyz

    def _metres(self, lo: int, hi: int) -> np.ndarray:
        """(hi-lo,J,3) the pose's joints in metres at rig frames [lo, hi), linear between samples (fill_gaps)."""
        rows, scale = self.rows, TO_METRES[self.pose.units]
        if len(rows) == self.num_frames:
            xyz = self.pose.xyz[lo:hi].astype(np.float64)
            xyz *= scale
            return xyz
        r0 = max(int(np.searchsorted(rows, lo, "right")) - 1, 0)  # the samples at or around the span
        r1 = min(int(np.searchsorted(rows, hi - 1, "left")) + 1, len(rows))
        xyz = self.pose.xyz[r0:r1].astype(np.float64)
        xyz *= scale
        fi = self.frame_indices
        return fill_gaps(xyz, fi[r0:r1], np.arange(fi[0] + lo, fi[0] + hi))

    def _turned(self, lo: int, hi: int) -> np.ndarray:
        """A camera-frame pose's rig frames [lo, hi) in the BVH frame, root-relative where the pose is, before the
        floor is applied."""
        xyz = self._metres(lo, hi)
        xyz *= _CAMERA_TO_BVH  # camera_to_bvh, in place
        if self.pose.root_relative:
            xyz -= xyz[:, :1].copy()
        return xyz

    def rest_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Rest offsets (J,3) = rest direction * per-clip median bone length; also the lengths (J,).

        Directions: the T-pose table, except for the children of the pelvis and thorax, whose directions are the
        per-clip median of their directions in the torso frames of _TORSO_FRAMES. One pass over the clip gathers
        each frame's bone lengths (T,J) and those six directions (T,3) each."""
        J, T = len(H36M17.joints), self.num_frames
        parents, names = H36M17.parents, H36M17.joints
        bone = np.zeros((T, J))
        torso = {j: np.empty((T, 3)) for j, p in enumerate(parents) if p >= 0 and names[p] in _TORSO_FRAMES}
        for lo, hi in self.spans():
            targets = self.span(lo, hi)
            frames = {name: _torso_frame(targets, name) for name in _TORSO_FRAMES}
            for j, p in enumerate(parents):
                if p < 0:
                    continue
                bone[lo:hi, j] = np.linalg.norm(targets[:, j] - targets[:, p], axis=-1)
                if j in torso:
                    torso[j][lo:hi] = np.einsum("tba,tb->ta", frames[names[p]], unit(targets[:, j] - targets[:, p]))
        offsets = np.zeros((J, 3))
        lengths = np.zeros(J)
        for j, p in enumerate(parents):
            if p < 0:
                continue
            lengths[j] = np.median(bone[:, j])
            if not lengths[j] > 1e-6:
                raise ExportError(f"bone {names[p]}-{names[j]} has zero length; cannot build a BVH")
            direction = unit(np.median(torso[j], axis=0)) if j in torso else _REST_DIR[names[j]]
            offsets[j] = direction * lengths[j]
        return offsets, lengths


def _torso_frame(targets: np.ndarray, joint: str) -> np.ndarray:
    """(T,3,3) columns: left axis (from the right to the left joint), up axis (made perpendicular), forward."""
    (r, l), (lo, hi) = _TORSO_FRAMES[joint]
    x = unit(targets[:, H36M17.idx(l)] - targets[:, H36M17.idx(r)])
    y = perpendicular(targets[:, H36M17.idx(hi)] - targets[:, H36M17.idx(lo)], x, np.broadcast_to(_Y, x.shape))
    return np.stack([x, y, np.cross(x, y)], axis=-1)
