"""BVH export: one person's motion written as a BVH file (atomically).

A solved RigMotion (mbcli.rig.h36m_rig.retarget, as ``mbcli lift`` does once per person) is written as it is; a
Pose3D or MotionResult is solved here first (mbcli.rig.h36m_rig.pose_to_rig). What the file holds is described
where it is made: the skeleton, axes, units, floor and rest pose in mbcli.rig.h36m_rig, the rotations in
mbcli.rig.ik, the text in mbcli.rig.bvh_io.

World-grounded BVH: a world-frame Pose3D (or its retargeted RigMotion) keeps the clip's floor and the person's
trajectory in the root channels (mbcli.rig.h36m_rig, "World-frame poses"); to give every person of a clip the
video's frames, pass ``mbcli.rig.kinematics.hold_timeline(motion, first_frame, num_frames)``, which holds the first
and last poses outside the person's frames (a BVH cannot mark a person absent).
"""

from __future__ import annotations

import os
from pathlib import Path

from mbcli.errors import ExportError
from mbcli.export import write_atomic_chunks
from mbcli.rig.bvh_io import BVH_UNITS, bvh_chunks
from mbcli.rig.h36m_rig import pose_to_rig
from mbcli.rig.kinematics import BakedMotion, RigMotion
from mbcli.types import MotionResult, Pose3D


def write_bvh(
    motion: MotionResult | Pose3D | RigMotion | BakedMotion, path: str | os.PathLike, *, units: str = "m", floor: str = "clip"
) -> Path:
    """Write one person's 3D motion as a BVH file (atomically, streamed) and return its Path. A RigMotion or a
    BakedMotion (what ``mbcli lift`` keeps of a long clip) is written as it is (``floor`` does not apply); a Pose3D or MotionResult is solved with ``pose_to_rig(pose, floor=floor)`` (a
    world-frame pose keeps its own floor)."""
    if isinstance(motion, MotionResult):
        if motion.pose_3d is None:
            raise ExportError(f"cannot write {path}: track {motion.track_id} has no 3D pose")
        motion = motion.pose_3d
    if units not in BVH_UNITS:  # before the solve
        raise ExportError(f"unknown BVH units {units!r}; choose one of: {', '.join(BVH_UNITS)}")
    rig = motion if isinstance(motion, RigMotion | BakedMotion) else pose_to_rig(motion, floor=floor)
    return write_atomic_chunks(path, bvh_chunks(rig, units=units))
