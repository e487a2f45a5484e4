"""BVH export: header format, IK exactness checked by independent readers (pybvh, bvhio, a reader written here,
and Blender through bpy in its own venv), axes, floor placement, twist conventions and error paths."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mbcli.errors import ExportError
from mbcli.export import bvh as B
from mbcli.geometry import euler_to_matrix
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D, MotionResult, Pose3D

ROOT = Path(__file__).resolve().parents[1]
BLENDER_PY = ROOT / ".venv-blender" / "bin" / "python"
H36M_3D = ROOT.parent / "shared" / "data" / "h36m" / "h36m_3d.npz"

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
            off[j] = B._REST_DIR[n] * LENGTHS[n]
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
    xyz_bvh = B.forward_kinematics(tpose_offsets(), H36M17.parents, np.zeros((T, 3)), euler_to_matrix(angles, "ZXY"))
    return Pose3D(B.camera_to_bvh(xyz_bvh), "h36m17", np.arange(T), fps), xyz_bvh


def read_bvh(text: str) -> tuple[dict, np.ndarray, float]:
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
    joints, frames, _ = read_bvh(text)
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


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    pose, xyz = synthetic_motion()
    path = B.write_bvh(pose, tmp_path_factory.mktemp("bvh") / "synth.bvh")
    return pose, xyz, path, B.pose_to_bvh(pose)


def test_header_and_hierarchy(synth_file):
    pose, _, path, _ = synth_file
    text = path.read_text()
    lines = text.splitlines()
    motion = lines.index("MOTION")
    assert lines[motion + 1] == f"Frames: {pose.num_frames}"
    assert lines[motion + 2] == "Frame Time: 0.03333333"
    assert len(lines) == motion + 3 + pose.num_frames
    assert re.findall(r"(?:ROOT|JOINT) (\w+)", text) == list(B.JOINT_NAMES)
    assert text.count("End Site") == 5
    assert "CHANNELS 6 Xposition Yposition Zposition Yrotation Zrotation Xrotation" in text
    assert "JOINT LeftLeg\n\t\t{\n\t\t\tOFFSET 0.000000 -0.450000 0.000000\n\t\t\tCHANNELS 3 Zrotation Yrotation Xrotation" in text
    assert text.count("CHANNELS 3 Yrotation Xrotation Zrotation") == 6  # arms
    assert text.count("CHANNELS 3 ") == J - 1
    assert all(len(row.split()) == 6 + 3 * (J - 1) for row in lines[motion + 3 :])


def test_fk_reproduces_constant_length_motion(synth_file):
    _, xyz, path, motion = synth_file
    assert motion.ik_errors().max() < 1e-6
    names, fk = fk_from_text(path.read_text())
    assert names == list(B.JOINT_NAMES)
    np.testing.assert_allclose(fk, motion.targets, atol=2e-6)
    lift = motion.targets[0, 0] - xyz[0, 0]  # the floor placement only moves the root up
    np.testing.assert_allclose(lift[[0, 2]], 0.0, atol=1e-7)
    np.testing.assert_allclose(motion.targets, xyz + lift, atol=1e-6)


def test_pybvh_reads_same_positions(synth_file):
    pybvh = pytest.importorskip("pybvh")
    _, _, path, motion = synth_file
    bvh = pybvh.read_bvh_file(path, world_up="+y")
    assert bvh.frame_count == motion.num_frames
    assert bvh.frame_time == pytest.approx(1 / 30, abs=1e-8)
    names = [n.name for n in bvh.nodes]
    positions = bvh.node_positions(centered="world")[:, [names.index(n) for n in B.JOINT_NAMES]]
    assert np.abs(positions - motion.targets).max() < 1e-5


def test_bvhio_reads_same_positions(synth_file):
    bvhio = pytest.importorskip("bvhio")
    _, _, path, motion = synth_file
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, *_ in root.layout()}
    for f in range(0, motion.num_frames, 7):
        root.loadPose(f)
        got = np.array([list(joints[n].PositionWorld) for n in B.JOINT_NAMES])
        assert np.abs(got - motion.targets[f]).max() < 1e-5


def test_units_cm_scales_lengths(tmp_path):
    pose, _ = synthetic_motion(T=10)
    names, fk_m = fk_from_text(B.write_bvh(pose, tmp_path / "m.bvh").read_text())
    text = B.write_bvh(pose, tmp_path / "cm.bvh", units="cm").read_text()
    _, fk_cm = fk_from_text(text)
    np.testing.assert_allclose(fk_cm / 100, fk_m, atol=1e-6)
    assert "OFFSET -16.000000 0.000000 0.000000" in text  # right shoulder, 0.16 m
    with pytest.raises(ExportError, match="units"):
        B.write_bvh(pose, tmp_path / "x.bvh", units="in")


def test_axes_rest_pose_facing_camera_gives_zero_rotations():
    """A person in the rest T-pose facing the camera: left on +x_cam, head up (-y_cam), nose towards the camera."""
    T = 3
    off = tpose_offsets()
    off[H36M17.idx("neck_nose")] = [0, 0.10, 0.06]  # the nose ahead of the thorax (+Z)
    xyz_bvh = B.forward_kinematics(off, H36M17.parents, np.zeros((T, 3)), np.broadcast_to(np.eye(3), (T, J, 3, 3)))
    cam = B.camera_to_bvh(xyz_bvh)
    assert cam[0, H36M17.idx("left_wrist"), 0] > 0.5  # the person's left is the image's right
    assert cam[0, H36M17.idx("head_top"), 1] < -0.5  # head up = -y in the camera
    assert cam[0, H36M17.idx("neck_nose"), 2] < 0  # nose nearer the camera than the pelvis
    motion = B.pose_to_bvh(Pose3D(cam, "h36m17", np.arange(T), 30.0))
    assert np.abs(motion.euler_degrees()).max() < 1e-6
    assert motion.ik_errors().max() < 1e-9
    # torso children keep the clip's own shape (here the forward nose); limbs keep the T-pose directions
    np.testing.assert_allclose(motion.offsets[H36M17.idx("neck_nose")], [0, 0.10, 0.06], atol=1e-9)
    np.testing.assert_allclose(motion.offsets[H36M17.idx("left_elbow")], [0.28, 0, 0], atol=1e-9)


def test_knees_and_elbows_are_pure_hinges():
    pose, _ = synthetic_motion(T=40, seed=3)
    motion = B.pose_to_bvh(pose)
    eul = motion.euler_degrees()
    for name, hinge in (("left_knee", "X"), ("right_knee", "X"), ("left_elbow", "Y"), ("right_elbow", "Y")):
        j = H36M17.idx(name)
        axis = B.EULER_ORDERS[B.BVH_NAMES[name]].index(hinge)
        assert axis != 1  # the hinge is never the middle angle, so it cannot lock at 90 degrees
        p, c = H36M17.parents[j], H36M17.parents.index(j)
        upper, lower = motion.targets[:, j] - motion.targets[:, p], motion.targets[:, c] - motion.targets[:, j]
        cos = np.sum(upper * lower, -1) / np.linalg.norm(upper, axis=-1) / np.linalg.norm(lower, axis=-1)
        bent = np.degrees(np.arccos(cos)) > 20  # below 20 degrees the twist blends into the untwisted axis
        assert bent.sum() > 10, name
        others = [k for k in range(3) if k != axis]
        assert np.abs(eul[bent][:, j, others]).max() < 1e-4, name
        assert np.abs(eul[:, j, axis]).max() > 20, name
    assert np.all(eul[:, H36M17.idx("left_knee"), 2] > 0)  # flexion is a positive rotation about +X
    leaves = [j for j in range(J) if j not in H36M17.parents]
    assert np.abs(eul[:, leaves]).max() < 1e-9


def test_euler_curves_are_continuous_through_a_full_turn():
    T = 120
    off = tpose_offsets()
    yaw = np.linspace(0, 2 * np.pi, T)
    R = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    R[:, 0] = euler_to_matrix(np.stack([yaw, np.zeros(T), np.zeros(T)], -1), "YZX")
    xyz = B.forward_kinematics(off, H36M17.parents, np.zeros((T, 3)), R)
    eul = B.pose_to_bvh(Pose3D(B.camera_to_bvh(xyz), "h36m17", np.arange(T), 30.0)).euler_degrees()
    assert np.abs(np.diff(eul, axis=0)).max() < 5
    assert eul[-1, 0, 0] - eul[0, 0, 0] == pytest.approx(360, abs=1e-3)  # Hips Yrotation, unwrapped


@pytest.mark.parametrize("floor", ["clip", "frame"])
def test_floor_placement(floor):
    pose, _ = synthetic_motion(T=50, seed=1)
    fk = B.pose_to_bvh(pose, floor=floor).fk()
    lowest = fk[:, [H36M17.idx("left_ankle"), H36M17.idx("right_ankle")], 1].min(axis=1)
    if floor == "clip":
        assert lowest.min() == pytest.approx(B.ANKLE_HEIGHT, abs=1e-6)
        assert np.ptp(fk[:, 0, 1]) < 1e-9  # root-relative input: the root height is constant
    else:
        np.testing.assert_allclose(lowest, B.ANKLE_HEIGHT, atol=1e-6)
    with pytest.raises(ExportError, match="floor"):
        B.pose_to_bvh(pose, floor="sky")


def test_varying_bone_lengths_error_is_the_length_change():
    pose, _ = synthetic_motion(T=60, seed=2)
    rng = np.random.default_rng(0)
    scale = 1 + 0.03 * rng.standard_normal((pose.num_frames, 1, 1))  # whole-body size jitter of 3 %
    motion = B.pose_to_bvh(Pose3D(pose.xyz * scale, "h36m17", pose.frame_indices, 30.0))
    err = motion.ik_errors()
    chain = np.zeros(J)  # rest length of the path from the root to each joint
    for j, p in enumerate(H36M17.parents):
        chain[j] = 0 if p < 0 else chain[p] + np.linalg.norm(motion.offsets[j])
    # each joint misses by at most the summed length differences along its chain
    assert np.all(err <= np.abs(scale[:, :, 0] / np.median(scale) - 1) * chain + 1e-6)
    assert np.median(err) < 0.02


def test_frame_gaps_are_interpolated():
    pose, xyz = synthetic_motion(T=6)
    keep = [0, 1, 2, 5]
    motion = B.pose_to_bvh(Pose3D(pose.xyz[keep], "h36m17", np.array([10, 11, 12, 15]), 30.0))
    assert motion.num_frames == 6
    mid = (motion.targets[2] * 2 + motion.targets[5]) / 3
    np.testing.assert_allclose(motion.targets[3], mid, atol=1e-6)


def test_input_units_mm_equal_metres():
    pose, _ = synthetic_motion(T=5)
    mm = Pose3D(pose.xyz * 1000, "h36m17", pose.frame_indices, 30.0, units="mm")
    np.testing.assert_allclose(B.pose_to_bvh(mm).targets, B.pose_to_bvh(pose).targets, atol=1e-6)


def test_error_paths(tmp_path):
    pose, _ = synthetic_motion(T=5)
    bad = pose.xyz.copy()
    bad[2, 3, 0] = np.nan
    cases = [
        (Pose3D(bad, "h36m17", pose.frame_indices, 30.0), "non-finite"),
        (Pose3D(pose.xyz, "h36m17", pose.frame_indices, 30.0, frame="world"), "camera-frame"),
        (Pose3D(pose.xyz, "h36m17", pose.frame_indices, 30.0, units="ft"), "units"),
        (Pose3D(np.zeros((5, 17, 3)), "h36m17", pose.frame_indices, 30.0), "zero length"),
        (Pose3D(np.zeros((5, 17, 3)), "coco17", pose.frame_indices, 30.0), "h36m17"),
        (Pose3D(pose.xyz, "h36m17", [0, 1, 1, 2, 3], 30.0), "increasing"),
    ]
    for p, message in cases:
        with pytest.raises(ExportError, match=message):
            B.write_bvh(p, tmp_path / "bad.bvh")
    k2d = Keypoints2D(np.zeros((5, 17, 2)), np.ones((5, 17)), np.arange(5), "h36m17", (640, 480), 30.0)
    with pytest.raises(ExportError, match="no 3D pose"):
        B.write_bvh(MotionResult(None, 4, k2d, None), tmp_path / "none.bvh")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_motion_result_is_accepted(tmp_path):
    pose, _ = synthetic_motion(T=5)
    k2d = Keypoints2D(np.zeros((5, 17, 2)), np.ones((5, 17)), np.arange(5), "h36m17", (640, 480), 30.0)
    path = B.write_bvh(MotionResult(None, 0, k2d, pose), tmp_path / "out" / "p0.bvh")
    assert path == tmp_path / "out" / "p0.bvh" and path.read_text().startswith("HIERARCHY\nROOT Hips\n")


@pytest.mark.skipif(not H36M_3D.exists(), reason="../shared/data/h36m is not present")
def test_h36m_ground_truth_ik_error():
    """Real motion (Human3.6M S9 mocap, constant bone lengths but a non-rigid torso): the IK error stays small."""
    data = np.load(H36M_3D)
    s = int(np.flatnonzero(data["subject"] == "S9")[0])
    start, length = int(data["start"][s]), int(data["length"][s])
    world = data["joints_world_mm"][start : start + length : 2].astype(np.float64) / 1000  # z up, 25 fps
    cam = world[..., [0, 2, 1]] * [1, -1, 1]  # a camera looking along world +y: x right, y down, z forward
    err = B.pose_to_bvh(Pose3D(cam - cam[:, :1], "h36m17", np.arange(len(cam)), 25.0)).ik_errors()
    legs = [H36M17.idx(n) for n in ("left_knee", "left_ankle", "right_knee", "right_ankle")]
    assert err[:, legs].mean() < 0.005 and err.mean() < 0.012 and np.percentile(err, 95) < 0.05


@pytest.mark.blender
@pytest.mark.skipif(not BLENDER_PY.exists(), reason="no Blender venv: python3 -m venv .venv-blender && "
                    ".venv-blender/bin/pip install bpy==4.5.15")
def test_blender_import_matches_joints(tmp_path):
    """Blender's own BVH importer (operator defaults, FORMATS.md 1.4): bone heads equal our joints mapped
    BVH (x, y, z) -> Blender (x, -z, y), at 30 fps, frames 1..T."""
    pose, _ = synthetic_motion(T=120, seed=5)
    motion = B.pose_to_bvh(pose)
    path = B.write_bvh(pose, tmp_path / "synth.bvh")
    out = tmp_path / "blender.json"
    proc = subprocess.run([str(BLENDER_PY), str(ROOT / "tests" / "blender_check.py"), str(path), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["fps"] == pytest.approx(30.0, abs=1e-4)
    assert result["frame_range"] == [1, pose.num_frames]
    heads = np.array(result["heads"])[:, [result["bones"].index(n) for n in B.JOINT_NAMES]]
    expected = motion.targets[..., [0, 2, 1]] * [1, -1, 1]
    err = np.abs(heads - expected).max()
    print(f"Blender max joint error {err:.2e} m", file=sys.stderr)
    assert err < 1e-3
