"""The h36m17 rig (mbcli/rig/h36m_rig.py, ik.py): IK exactness, axes, floor placement, twist conventions, Euler
continuity, gaps, units, real-motion IK error, the retarget step (one solve for the BVH and the consistent
pose), world-frame poses and the video timeline (hold_timeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rig_fixture import J, bad_poses, synthetic_motion, tpose_offsets, world_walk

from mbcli.errors import ExportError
from mbcli.geometry import euler_to_matrix
from mbcli.rig import h36m_rig as H
from mbcli.rig.kinematics import fill_gaps, forward_kinematics, hold_timeline
from mbcli.skeletons import H36M17
from mbcli.types import Pose3D

H36M_3D = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "h36m" / "h36m_3d.npz"
ANKLES = [H36M17.idx("left_ankle"), H36M17.idx("right_ankle")]


def test_constant_length_motion_is_reproduced():
    pose, xyz = synthetic_motion()
    motion = H.pose_to_rig(pose)
    assert motion.names == H.JOINT_NAMES and motion.euler_orders == tuple(H.EULER_ORDERS[n] for n in H.JOINT_NAMES)
    assert motion.ik_errors().max() < 1e-6
    lift = motion.targets[0, 0] - xyz[0, 0]  # the floor placement only moves the root up
    np.testing.assert_allclose(lift[[0, 2]], 0.0, atol=1e-7)
    np.testing.assert_allclose(motion.targets, xyz + lift, atol=1e-6)


def test_axes_rest_pose_facing_camera_gives_zero_rotations():
    """A person in the rest T-pose facing the camera: left on +x_cam, head up (-y_cam), nose towards the camera."""
    T = 3
    off = tpose_offsets()
    off[H36M17.idx("neck_nose")] = [0, 0.10, 0.06]  # the nose ahead of the thorax (+Z)
    xyz_bvh = forward_kinematics(off, H36M17.parents, np.zeros((T, 3)), np.broadcast_to(np.eye(3), (T, J, 3, 3)))
    cam = H.camera_to_bvh(xyz_bvh)
    assert cam[0, H36M17.idx("left_wrist"), 0] > 0.5  # the person's left is the image's right
    assert cam[0, H36M17.idx("head_top"), 1] < -0.5  # head up = -y in the camera
    assert cam[0, H36M17.idx("neck_nose"), 2] < 0  # nose nearer the camera than the pelvis
    motion = H.pose_to_rig(Pose3D(cam, "h36m17", np.arange(T), 30.0))
    assert np.abs(motion.euler_degrees()).max() < 1e-6
    assert motion.ik_errors().max() < 1e-9
    # torso children keep the clip's own shape (here the forward nose); limbs keep the T-pose directions
    np.testing.assert_allclose(motion.offsets[H36M17.idx("neck_nose")], [0, 0.10, 0.06], atol=1e-9)
    np.testing.assert_allclose(motion.offsets[H36M17.idx("left_elbow")], [0.28, 0, 0], atol=1e-9)


def test_knees_and_elbows_are_pure_hinges():
    pose, _ = synthetic_motion(T=40, seed=3)
    motion = H.pose_to_rig(pose)
    eul = motion.euler_degrees()
    for name, hinge in (("left_knee", "X"), ("right_knee", "X"), ("left_elbow", "Y"), ("right_elbow", "Y")):
        j = H36M17.idx(name)
        axis = H.EULER_ORDERS[H.BVH_NAMES[name]].index(hinge)
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
    xyz = forward_kinematics(off, H36M17.parents, np.zeros((T, 3)), R)
    eul = H.pose_to_rig(Pose3D(H.camera_to_bvh(xyz), "h36m17", np.arange(T), 30.0)).euler_degrees()
    assert np.abs(np.diff(eul, axis=0)).max() < 5
    assert eul[-1, 0, 0] - eul[0, 0, 0] == pytest.approx(360, abs=1e-3)  # Hips Yrotation, unwrapped


@pytest.mark.parametrize("floor", ["clip", "frame"])
def test_floor_placement(floor):
    pose, _ = synthetic_motion(T=50, seed=1)
    fk = H.pose_to_rig(pose, floor=floor).fk()
    lowest = fk[:, ANKLES, 1].min(axis=1)
    if floor == "clip":
        assert lowest.min() == pytest.approx(H.ANKLE_HEIGHT, abs=1e-6)
        assert np.ptp(fk[:, 0, 1]) < 1e-9  # root-relative input: the root height is constant
    else:
        np.testing.assert_allclose(lowest, H.ANKLE_HEIGHT, atol=1e-6)
    with pytest.raises(ExportError, match="floor"):
        H.pose_to_rig(pose, floor="sky")


def _jittered(seed: int = 2, T: int = 60) -> tuple[Pose3D, np.ndarray]:
    """Constant-length motion with a whole-body size jitter of 3 % per frame (as network output varies), and the
    scale (T,1,1)."""
    pose, _ = synthetic_motion(T=T, seed=seed)
    scale = 1 + 0.03 * np.random.default_rng(0).standard_normal((pose.num_frames, 1, 1))
    return Pose3D(pose.xyz * scale, "h36m17", pose.frame_indices, 30.0), scale


def test_varying_bone_lengths_error_is_the_length_change():
    pose, scale = _jittered()
    motion = H.pose_to_rig(pose)
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
    motion = H.pose_to_rig(Pose3D(pose.xyz[keep], "h36m17", np.array([10, 11, 12, 15]), 30.0))
    assert motion.num_frames == 6
    mid = (motion.targets[2] * 2 + motion.targets[5]) / 3
    np.testing.assert_allclose(motion.targets[3], mid, atol=1e-6)
    with pytest.raises(ExportError, match="increasing"):
        fill_gaps(pose.xyz[:3], np.array([0, 2, 2]))


def test_input_units_mm_equal_metres():
    pose, _ = synthetic_motion(T=5)
    mm = Pose3D(pose.xyz * 1000, "h36m17", pose.frame_indices, 30.0, units="mm")
    np.testing.assert_allclose(H.pose_to_rig(mm).targets, H.pose_to_rig(pose).targets, atol=1e-6)


def test_pose_errors():
    for p, message in bad_poses():
        with pytest.raises(ExportError, match=message):
            H.retarget(p)


@pytest.mark.skipif(not H36M_3D.exists(), reason="../shared/data/h36m is not present")
def test_h36m_ground_truth_ik_error():
    """Real motion (Human3.6M S9 mocap, constant bone lengths but a non-rigid torso): the IK error stays small."""
    data = np.load(H36M_3D)
    s = int(np.flatnonzero(data["subject"] == "S9")[0])
    start, length = int(data["start"][s]), int(data["length"][s])
    world = data["joints_world_mm"][start : start + length : 2].astype(np.float64) / 1000  # z up, 25 fps
    cam = world[..., [0, 2, 1]] * [1, -1, 1]  # a camera looking along world +y: x right, y down, z forward
    err = H.pose_to_rig(Pose3D(cam - cam[:, :1], "h36m17", np.arange(len(cam)), 25.0)).ik_errors()
    legs = [H36M17.idx(n) for n in ("left_knee", "left_ankle", "right_knee", "right_ankle")]
    assert err[:, legs].mean() < 0.005 and err.mean() < 0.012 and np.percentile(err, 95) < 0.05


# ------------------------------------------------------------------------------------------- retarget


@pytest.mark.parametrize("units", ["m", "mm"])
def test_retarget_pose_is_the_solved_skeleton(units):
    """The consistent pose is the rig's FK (root-relative, camera frame, the pose's units and frames, gaps left
    out); the motion's FK agrees with it to float32 rounding."""
    pose, _ = _jittered(T=30)
    pose = Pose3D(pose.xyz[[0, 1, 2, 5, 6, 29]] * (1000 if units == "mm" else 1), "h36m17",
                  np.array([3, 4, 5, 8, 9, 32]), 30.0, units=units)
    out = H.retarget(pose)
    assert out.pose.units == units and out.pose.root_relative and out.pose.frame == "camera"
    np.testing.assert_array_equal(out.pose.frame_indices, pose.frame_indices)
    assert out.motion.num_frames == 30
    fk = H.camera_to_bvh(out.motion.fk()[pose.frame_indices - 3])
    got = out.pose.xyz.astype(np.float64) * (0.001 if units == "mm" else 1.0)
    np.testing.assert_allclose(got, fk - fk[:, :1], atol=1e-6)
    raw = pose.xyz.astype(np.float64) * (0.001 if units == "mm" else 1.0)
    assert np.abs(got - raw).max() > 1e-3  # the input varies its bone lengths, the rig does not
    lengths = np.linalg.norm(got[:, 1:] - got[:, list(H36M17.parents[1:])], axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-6


@pytest.mark.parametrize("floor", ["clip", "frame"])
def test_retarget_stands_the_rigs_own_ankles_on_the_floor(floor):
    """pose_to_rig places the input's ankles; retarget the solved skeleton's (they differ when bone lengths vary),
    moving only the root (and the targets with it): the rotations and the consistent pose stay those of the one
    solve."""
    pose, _ = _jittered(seed=4)
    plain, out = H.pose_to_rig(pose, floor=floor), H.retarget(pose, floor=floor)
    lowest = out.motion.fk()[:, ANKLES, 1].min(axis=1)
    if floor == "clip":
        assert lowest.min() == pytest.approx(H.ANKLE_HEIGHT, abs=1e-9)
        assert abs(plain.fk()[:, ANKLES, 1].min() - H.ANKLE_HEIGHT) > 1e-4  # the input's ankles were placed
    else:
        np.testing.assert_allclose(lowest, H.ANKLE_HEIGHT, atol=1e-9)
    np.testing.assert_array_equal(out.motion.rotations, plain.rotations)
    np.testing.assert_array_equal(out.motion.offsets, plain.offsets)
    np.testing.assert_allclose(out.motion.ik_errors(), plain.ik_errors(), atol=1e-9)
    np.testing.assert_allclose(out.motion.root_position[:, [0, 2]], plain.root_position[:, [0, 2]], atol=0)


# ------------------------------------------------------------------------------------------- world frame, timeline


def test_world_pose_keeps_its_trajectory_and_floor():
    """A world-frame pose is solved as it is: no turn, no floor shift; the root carries the 2 m walk."""
    pose, joints = world_walk(T=60)
    motion = H.pose_to_rig(pose)
    np.testing.assert_array_equal(motion.targets, joints)
    assert motion.ik_errors().max() < 1e-6
    np.testing.assert_allclose(motion.root_position, joints[:, 0], atol=1e-9)
    assert motion.root_position[-1, 0] - motion.root_position[0, 0] == pytest.approx(2.0, abs=1e-9)
    np.testing.assert_allclose(motion.root_position[:, 1:], [[0.95, -3.0]] * 60, atol=1e-9)
    for floor in ("clip", "frame"):  # the floor mode is checked but the world's floor is kept
        np.testing.assert_array_equal(H.pose_to_rig(pose, floor=floor).targets, joints)
    with pytest.raises(ExportError, match="floor"):
        H.pose_to_rig(pose, floor="sky")


def test_world_retarget_returns_a_world_pose():
    """The consistent pose is the rig's FK in the world frame, in the pose's units, at its frames (gaps left out);
    for a skeleton-consistent input it is the input."""
    pose, joints = world_walk(T=30)
    cm = Pose3D(pose.xyz * 100, "h36m17", pose.frame_indices, 30.0, frame="world", units="cm", root_relative=False)
    out = H.retarget(cm)
    np.testing.assert_array_equal(out.motion.root_position, H.pose_to_rig(cm).root_position)
    assert out.pose.frame == "world" and not out.pose.root_relative and out.pose.units == "cm"
    np.testing.assert_allclose(out.pose.xyz / 100, joints, atol=1e-5)
    keep = [0, 1, 4, 29]
    gappy = Pose3D(pose.xyz[keep], "h36m17", pose.frame_indices[keep], 30.0, frame="world", root_relative=False)
    out = H.retarget(gappy)
    assert out.motion.num_frames == 30
    np.testing.assert_array_equal(out.pose.frame_indices, gappy.frame_indices)
    np.testing.assert_allclose(out.pose.xyz, out.motion.fk()[keep], atol=1e-6)


def test_world_frame_rest_pose_facing_the_camera_gives_zero_rotations():
    """The world frame has the rig's axes: a T-pose whose left is on +X and nose towards +Z needs no rotation."""
    T = 3
    off = tpose_offsets()
    root = np.array([[0.4, 0.97, -2.5]] * T)
    xyz = forward_kinematics(off, H36M17.parents, root, np.broadcast_to(np.eye(3), (T, J, 3, 3)))
    motion = H.pose_to_rig(Pose3D(xyz, "h36m17", np.arange(T), 30.0, frame="world", root_relative=False))
    assert np.abs(motion.euler_degrees()).max() < 1e-6
    np.testing.assert_allclose(motion.root_position, root, atol=1e-9)


def test_hold_timeline_holds_the_first_and_last_frames():
    pose, _ = world_walk(T=6)
    motion = H.pose_to_rig(pose)  # video frames 5..10
    held = hold_timeline(motion, 5, 14)
    assert held.num_frames == 14 and held.fps == motion.fps and held.names == motion.names
    np.testing.assert_array_equal(held.offsets, motion.offsets)
    for name in ("root_position", "rotations", "targets"):
        a, b = getattr(held, name), getattr(motion, name)
        np.testing.assert_array_equal(a[5:11], b)
        np.testing.assert_array_equal(a[:5], np.broadcast_to(b[0], a[:5].shape))
        np.testing.assert_array_equal(a[11:], np.broadcast_to(b[-1], a[11:].shape))
    np.testing.assert_array_equal(held.fk()[[0, 5, 10, 13]], motion.fk()[[0, 0, 5, 5]])
    same = hold_timeline(motion, 0, 6)
    np.testing.assert_array_equal(same.rotations, motion.rotations)
    for start, total in ((-1, 10), (5, 10), (0, 5)):
        with pytest.raises(ExportError, match="timeline"):
            hold_timeline(motion, start, total)
