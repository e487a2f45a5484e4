"""Synthetic h36m17 motion for the rig and BVH tests, and a small independent BVH reader.

``TINY`` is a three-joint BVH with mixed channel orders, a partial rotation channel set and an end site, whose world
positions ``TINY_XYZ`` were worked out by hand. ``synthetic_motion`` builds a smooth random motion with constant
bone lengths by FK from the rig's T-pose (so the IK can reproduce it exactly), ``world_walk`` the same motion
walking in the world frame; ``read_bvh_text``/``fk_from_text`` read a BVH file without mbcli's reader, so the writer
is checked by code that shares nothing with it.
"""

from __future__ import annotations

import numpy as np

from mbcli.geometry import euler_to_matrix
from mbcli.rig import h36m_rig as H
from mbcli.rig.kinematics import forward_kinematics
from mbcli.skeletons import H36M17
from mbcli.types import Pose3D

# Typical adult bone lengths (m), child joint -> length of the bone from its parent.
LENGTHS = {
    "right_hip": 0.13, "right_knee": 0.45, "right_ankle": 0.44, "left_hip": 0.13, "left_knee": 0.45,
    "left_ankle": 0.44, "spine": 0.23, "thorax": 0.25, "neck_nose": 0.12, "head_top": 0.12,
    "left_shoulder": 0.16, "left_elbow": 0.28, "left_wrist": 0.25, "right_shoulder": 0.16, "right_elbow": 0.28,
    "right_wrist": 0.25,
}  # fmt: skip
J = H36M17.num_joints


def tpose_offsets() -> np.ndarray:
    off = np.zeros((J, 3))
    for j, n in enumerate(H36M17.joints):
        if n in LENGTHS:
            off[j] = H._REST_DIR[n] * LENGTHS[n]
    return off


def synthetic_motion(T: int = 90, fps: float = 30.0, seed: int = 0) -> tuple[Pose3D, np.ndarray]:
    """A smooth random motion with constant bone lengths, made by FK from the T-pose: (camera-frame Pose3D,
    the same joints in the BVH frame)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None] / fps
    amp, freq, phase = rng.uniform(0.1, 0.6, (J, 3)), rng.uniform(0.3, 1.5, (J, 3)), rng.uniform(0, 6.3, (J, 3))
    angles = amp * np.sin(2 * np.pi * freq * t + phase)
    angles[:, H36M17.idx("left_shoulder"), 0] -= 1.2  # arms half down
    angles[:, H36M17.idx("right_shoulder"), 0] += 1.2
    angles[:, [H36M17.idx("left_knee"), H36M17.idx("right_knee")], 1] += 0.8  # knees bent
    xyz_bvh = forward_kinematics(tpose_offsets(), H36M17.parents, np.zeros((T, 3)), euler_to_matrix(angles, "ZXY"))
    return Pose3D(H.camera_to_bvh(xyz_bvh), "h36m17", np.arange(T), fps), xyz_bvh


def world_walk(T: int = 60, distance: float = 2.0, seed: int = 0) -> tuple[Pose3D, np.ndarray]:
    """synthetic_motion walking ``distance`` metres along +x in the world frame (Y up, floor y = 0; mbcli.types.Floor)
    at 3 m from the camera, frames 5..5+T-1: (world-frame Pose3D, not root-relative, its joints (T,J,3) float64)."""
    _, xyz = synthetic_motion(T=T, seed=seed)
    root = np.stack([np.linspace(0.0, distance, T), np.full(T, 0.95), np.full(T, -3.0)], axis=-1)
    pose = Pose3D(xyz + root[:, None, :], "h36m17", np.arange(5, 5 + T), 30.0, frame="world", root_relative=False)
    return pose, pose.xyz.astype(np.float64)  # as stored (float32): still constant bone lengths to 1e-7 m


def bad_poses() -> list[tuple[Pose3D, str]]:
    """Poses the rig refuses, each with a word of its ExportError message."""
    pose, _ = synthetic_motion(T=5)
    bad = pose.xyz.copy()
    bad[2, 3, 0] = np.nan
    return [
        (Pose3D(bad, "h36m17", pose.frame_indices, 30.0), "non-finite"),
        (Pose3D(pose.xyz, "h36m17", pose.frame_indices, 30.0, frame="world"), "root-relative"),
        (Pose3D(pose.xyz, "h36m17", pose.frame_indices, 30.0, units="ft"), "units"),
        (Pose3D(np.zeros((5, 17, 3)), "h36m17", pose.frame_indices, 30.0), "zero length"),
        (Pose3D(np.zeros((5, 17, 3)), "coco17", pose.frame_indices, 30.0), "h36m17"),
        (Pose3D(pose.xyz, "h36m17", [0, 1, 1, 2, 3], 30.0), "increasing"),
    ]

def read_bvh_text(text: str) -> tuple[dict, np.ndarray, float]:
    """A small independent BVH reader: ({name: (parent, offset, channels)} in file order, frames (T, C), dt)."""
    tokens = text.split()
    joints: dict[str, tuple[str | None, np.ndarray, list[str]]] = {}
    stack: list[str | None] = []
    i, current = 1, None  # skip HIERARCHY
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            current = tokens[i + 1]
            joints[current] = (stack[-1] if stack else None, np.zeros(3), [])
            i += 2
        elif tok == "End":
            current = None
            i += 2
        elif tok == "{":
            stack.append(current)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            if current is not None:
                joints[current][1][:] = [float(x) for x in tokens[i + 1 : i + 4]]
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            joints[current][2].extend(tokens[i + 2 : i + 2 + n])
            i += 2 + n
        else:
            raise AssertionError(f"unexpected token {tok}")
    T, dt = int(tokens[i + 2]), float(tokens[i + 5])
    frames = np.array(tokens[i + 6 :], dtype=np.float64).reshape(T, -1)
    return joints, frames, dt


def fk_from_text(text: str) -> tuple[list[str], np.ndarray]:
    """World joint positions (T, J, 3) by FK over the parsed file, rotation order taken from each channel list."""
    joints, frames, _ = read_bvh_text(text)
    names = list(joints)
    T = len(frames)
    pos, glob, col = {}, {}, 0
    for name in names:
        parent, offset, channels = joints[name]
        rot = [c for c in channels if c.endswith("rotation")]
        order = "".join(c[0] for c in rot)
        values = {c: frames[:, col + k] for k, c in enumerate(channels)}
        col += len(channels)
        R = euler_to_matrix(np.radians(np.stack([values[c] for c in rot], -1)), order)
        if parent is None:
            pos[name] = np.stack([values[f"{a}position"] for a in "XYZ"], -1) + offset
            glob[name] = R
        else:
            pos[name] = pos[parent] + glob[parent] @ offset
            glob[name] = glob[parent] @ R
    return names, np.stack([pos[n] for n in names], axis=1).reshape(T, len(names), 3)


# root: channels in a mixed order (rotation order Z X Y); a: rotation order X Z Y; b: two rotation channels only
TINY = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Zrotation Yposition Zposition Xrotation Yrotation
  JOINT a
  {
    OFFSET 0 2 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    JOINT b
    {
      OFFSET 1 0 0
      CHANNELS 2 Yrotation Zrotation
      End Site
      {
        OFFSET 0 0 3
      }
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.01
1 0 2 3 0 0   0 0 0   0 0
0 90 0 0 0 0   0 0 0   0 0
0 0 0 0 0 0   90 90 0   90 0
0 0 0 0 90 90   0 0 0   0 0
"""
# Worked by hand (Rx(90): y->z, z->-y; Ry(90): z->x, x->-z; Rz(90): x->y, y->-x), rows root, a, b, b_end:
TINY_XYZ = np.array([
    [[1, 2, 3], [1, 4, 3], [2, 4, 3], [2, 4, 6]],  # translation only
    [[0, 0, 0], [-2, 0, 0], [-2, 1, 0], [-2, 1, 3]],  # root Rz(90)
    [[0, 0, 0], [0, 2, 0], [0, 2, 1], [0, 2, 4]],  # a = Rx(90) @ Rz(90) (Rz @ Rx would put b at (0,3,0)), b = Ry(90)
    [[0, 0, 0], [0, 0, 2], [0, 1, 2], [3, 1, 2]],  # root = Rz(0) @ Rx(90) @ Ry(90)
], dtype=float)  # fmt: skip
