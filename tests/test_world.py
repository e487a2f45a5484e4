"""mbcli/world: camera intrinsics, root trajectory, floor and world frame, foot contacts, one scene per clip, on
synthetic people whose true placement is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mbcli.errors import ConfigError
from mbcli.skeletons import H36M17
from mbcli.types import Floor, Intrinsics, Keypoints2D, Pose3D
from mbcli.world.camera import diagonal_fov_deg, intrinsics
from mbcli.world.contact import foot_contacts, foot_skate_mm_per_frame, penetration_mm
from mbcli.world.floor import ANKLE_HEIGHT, estimate_floor, joints_seen
from mbcli.world.scene import place_people
from mbcli.world.trajectory import AT_EDGE, FEW_JOINTS, adult_scale, root_trajectory

K = Intrinsics(1000.0, 1000.0, 640.0, 360.0, "focal")
SIZE = (1280, 720)
J = H36M17.idx


def _standing(T: int) -> np.ndarray:
    """(T,17,3) a standing person, root-relative, world frame (Y up), pelvis at the origin, facing +Z, the ankles
    ANKLE_HEIGHT above the floor 0.93 m below the pelvis, arms swinging a little."""
    p = np.zeros((17, 3))
    sides = {"left": 1.0, "right": -1.0}
    for side, s in sides.items():
        p[J(f"{side}_hip")] = [0.13 * s, 0.0, 0.0]
        p[J(f"{side}_knee")] = [0.13 * s, -0.45, 0.02]
        p[J(f"{side}_ankle")] = [0.13 * s, -0.85, 0.0]
        p[J(f"{side}_shoulder")] = [0.18 * s, 0.45, 0.0]
        p[J(f"{side}_elbow")] = [0.22 * s, 0.18, 0.0]
        p[J(f"{side}_wrist")] = [0.24 * s, -0.05, 0.05]
    p[J("spine")] = [0, 0.23, -0.02]
    p[J("thorax")] = [0, 0.48, 0]
    p[J("neck_nose")] = [0, 0.56, 0.07]
    p[J("head_top")] = [0, 0.65, 0.02]
    x = np.repeat(p[None], T, axis=0)
    x[:, [J("left_wrist"), J("right_wrist")], 2] += 0.1 * np.sin(np.linspace(0, 6, T))[:, None]
    return x


def _camera_scene(T: int, tilt_deg: float, height: float, walk: np.ndarray) -> tuple[Floor, np.ndarray]:
    """A camera ``height`` m above the floor looking down by ``tilt_deg``; the person's joints in the camera frame
    with the root following ``walk`` (T,3) world positions of the pelvis on the floor plane."""
    a = math.radians(tilt_deg)
    up = np.array([0.0, -math.cos(a), -math.sin(a)])  # camera pitched down: world up leans towards -z_cam
    floor = Floor(up, height, "dataset")
    world = _standing(T) + walk[:, None, :] + np.array([0.0, 0.85 + ANKLE_HEIGHT, 0.0])
    return floor, floor.to_camera(world)


def _project(P: np.ndarray) -> np.ndarray:
    return P[..., :2] / P[..., 2:3] * [K.fx, K.fy] + [K.cx, K.cy]


def test_intrinsics_from_focal_fov_or_prior():
    assert intrinsics(1000, 1000, focal_px=1146.0) == Intrinsics(1146.0, 1146.0, 500.0, 500.0, "focal")
    K60 = intrinsics(1920, 1080)
    assert K60.source == "prior" and diagonal_fov_deg(K60) == pytest.approx(60.0)
    assert intrinsics(1920, 1080, fov_deg=75.0).fx < K60.fx  # wider view, shorter focal length
    for bad in ({"focal_px": -1.0}, {"fov_deg": 200.0}, {"focal_px": 900.0, "fov_deg": 60.0}):
        with pytest.raises(ConfigError):
            intrinsics(1920, 1080, **bad)


def test_floor_world_frame_is_y_up_with_the_floor_at_zero():
    floor, cam = _camera_scene(5, 12.0, 1.6, np.zeros((5, 3)) + [0, 0, -4.0])
    world = floor.to_world(cam)
    assert np.allclose(floor.to_camera(world), cam)
    R = floor.R_cam_to_world
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    assert np.allclose(world[:, [J("left_ankle"), J("right_ankle")], 1], ANKLE_HEIGHT)
    assert np.allclose(floor.to_world(np.zeros(3)), [0.0, 1.6, 0.0])  # the camera
    assert floor.tilt_deg == pytest.approx(12.0)
    level = Floor(np.array([0.0, -1.0, 0.0]), 1.5, "level-camera")
    assert np.allclose(level.to_world([[0.3, 0.2, 4.0]]), [[0.3, 1.3, -4.0]])  # (x, -y, -z) lifted by the height


def test_root_trajectory_recovers_a_known_walk_and_flags_what_it_cannot_see():
    T = 120
    walk = np.stack([np.linspace(-1.5, 1.5, T), np.zeros(T), np.linspace(-5.0, -3.5, T)], axis=1)
    floor, cam = _camera_scene(T, 10.0, 1.5, walk)
    rel = cam - cam[:, :1]
    xy = _project(cam)
    sc = np.ones((T, 17))
    sc[40:45] = 0.0  # nobody seen for 5 frames
    sc[50:55, :14] = 0.0  # only 3 joints seen
    tr = root_trajectory(rel, xy, sc, K, SIZE, 50.0)
    assert np.isfinite(tr.root_cam).all()
    err = np.linalg.norm(tr.root_cam - cam[:, 0], axis=-1)
    assert err.max() < 0.01  # exact input: only the smoothing of a straight walk and the gap filling remain
    assert (tr.flags[40:45] & FEW_JOINTS).all() and (tr.flags[50:55] & FEW_JOINTS).all()
    assert not (tr.flags[:40] & FEW_JOINTS).any()
    shifted = xy + [900.0, 0.0]  # walking out of the right edge: a detector sees only the joints inside
    inside = shifted[..., 0] <= SIZE[0] - 1
    shifted[..., 0] = np.minimum(shifted[..., 0], SIZE[0] - 1)
    tr2 = root_trajectory(rel, shifted, sc * inside, K, SIZE, 50.0)
    assert (tr2.flags & (AT_EDGE | FEW_JOINTS)).all() and np.isfinite(tr2.root_cam).all()


def test_a_wrong_keypoint_does_not_drag_the_root():
    T = 30
    floor, cam = _camera_scene(T, 10.0, 1.5, np.zeros((T, 3)) + [0.0, 0.0, -4.0])
    xy = _project(cam)
    xy[:, J("head_top")] += [0.0, -250.0]  # the head jumps onto something else
    tr = root_trajectory(cam - cam[:, :1], xy, np.ones((T, 17)), K, SIZE, 50.0)
    assert np.linalg.norm(tr.root_cam - cam[:, 0], axis=-1).max() < 0.08


def test_floor_from_walking_feet_and_the_level_fallback():
    T = 200
    walk = np.stack([np.linspace(-2, 2, T), np.zeros(T), -4.0 + np.sin(np.linspace(0, 3, T))], axis=1)
    truth, cam = _camera_scene(T, 14.0, 1.7, walk)
    floor = estimate_floor([cam], [np.ones((T, 17), bool)], 10.0)  # slow enough to count as planted
    assert floor.method == "feet" and floor.note == ""
    assert math.degrees(math.acos(min(1.0, floor.up @ truth.up))) < 1.0
    assert floor.height_m == pytest.approx(1.7, abs=0.02)
    hidden = estimate_floor([cam], [np.zeros((T, 17), bool)], 10.0)  # feet never seen: a close-up
    assert hidden.method == "level-camera" and "assumed level" in hidden.note
    assert np.allclose(hidden.up, [0.0, -1.0, 0.0])


def test_feet_guessed_at_the_frame_edge_or_with_low_scores_are_not_seen():
    xy = np.array([[[100.0, 200.0], [100.0, SIZE[1] - 2.0], [-5.0, 200.0], [100.0, 200.0], [np.nan, 1.0]]])  # (1,5,2)
    sc = np.array([[0.9, 0.9, 0.9, 0.2, 0.9]])
    # inside and confident | at the bottom edge (a close-up's guessed foot) | outside | a low score | not finite
    assert joints_seen(xy, sc, SIZE).tolist() == [[True, False, False, False, False]]


def test_contacts_skate_and_penetration():
    T = 60
    x = _standing(T) + np.array([0.0, 0.85 + ANKLE_HEIGHT, 0.0])
    x[30:, J("right_ankle"), 1] += 0.3  # right foot lifted in the second half
    x[:, J("left_ankle"), 0] += np.linspace(0, 0.06, T)  # left foot slides 1 mm per frame
    c = foot_contacts(x, 30.0)
    assert c[:, 0].all() and c[:29, 1].all() and not c[31:, 1].any()
    assert foot_skate_mm_per_frame(x, c) == pytest.approx(0.06 / (T - 1) * 1000 * c[:, 0].sum() / c.sum(), rel=0.05)
    sunk = x.copy()
    sunk[:, J("left_ankle"), 1] -= 0.05
    depth, share = penetration_mm(sunk)
    assert depth == pytest.approx(25.0, abs=1.0) and share == pytest.approx(0.5)


def test_one_scene_for_two_people_keeps_their_relative_places():
    T = 100
    walks = [np.stack([np.linspace(-0.5, 0.5, T), np.zeros(T), np.full(T, -4.0)], axis=1),  # slow: planted
             np.stack([np.full(T, 1.5), np.zeros(T), np.linspace(-5, -4, T)], axis=1)]
    truth = None
    poses, kps, cams = [], [], []
    for w in walks:
        truth, cam = _camera_scene(T, 8.0, 1.4, w)
        rel = cam - cam[:, :1]
        poses.append(Pose3D(rel, H36M17, np.arange(T) + 5, 25.0))
        kps.append(Keypoints2D(_project(cam), np.ones((T, 17)), np.arange(T) + 5, H36M17, SIZE, 25.0))
        cams.append(cam)
    assert adult_scale(poses[0].xyz) == pytest.approx(1.0, abs=0.35)
    scene, people = place_people(poses, kps, K, SIZE, 25.0, foot_lock=False)  # a glider: feet cannot stay put
    assert scene.floor.method == "feet" and truth is not None
    assert math.degrees(math.acos(min(1.0, scene.floor.up @ truth.up))) < 2.0
    for pw in people:
        assert pw.joints_world.shape == (T, 17, 3) and pw.contacts.shape == (T, 2)
        feet = pw.joints_world[:, [J("left_ankle"), J("right_ankle")], 1]
        assert np.abs(feet - ANKLE_HEIGHT).max() < 0.05  # on the floor
    gap_true = walks[1][:, [0, 2]] - walks[0][:, [0, 2]]
    gap = people[1].joints_world[:, 0, [0, 2]] - people[0].joints_world[:, 0, [0, 2]]
    scale = people[0].scale  # both people were resized to adult size by the same rule
    assert np.abs(np.linalg.norm(gap, axis=-1) - np.linalg.norm(gap_true, axis=-1) * scale).max() < 0.1


@pytest.mark.parametrize("T", [1, 2])
def test_a_clip_of_one_or_two_frames_is_placed_without_nan(T):
    floor, cam = _camera_scene(T, 10.0, 1.5, np.zeros((T, 3)) + [0.0, 0.0, -4.0])
    pose = Pose3D(cam - cam[:, :1], H36M17, np.arange(T), 30.0)
    kp = Keypoints2D(_project(cam), np.ones((T, 17)), np.arange(T), H36M17, SIZE, 30.0)
    scene, (person,) = place_people([pose], [kp], K, SIZE, 30.0)
    assert scene.floor.method == "level-camera" and scene.floor.note  # too few samples to fit a floor: said so
    assert np.isfinite(person.joints_world).all() and person.contacts.shape == (T, 2)


def _walkers(T: int) -> tuple[list[Pose3D], list[Keypoints2D]]:
    """Two people walking on a floor 1.4 m under a camera pitched 8 degrees: one with a gap in their 2D track and
    a frame detected twice, one whose feet stay down (so foot locking has runs to pin)."""
    walks = [np.stack([np.linspace(-0.5, 0.5, T), np.zeros(T), np.full(T, -4.0)], axis=1),
             np.stack([np.full(T, 1.5), np.zeros(T), np.linspace(-5, -4, T)], axis=1)]
    poses, kps = [], []
    for i, w in enumerate(walks):
        _, cam = _camera_scene(T, 8.0, 1.4, w)
        rng = np.random.default_rng(i)
        cam = cam + rng.normal(0, 0.01, cam.shape)
        rows = np.arange(T)
        if i == 0:  # frames T/3..T/2 undetected, frame 2 detected twice (the second detection counts)
            rows = np.concatenate([rows[:3], [2], rows[3:T // 3], rows[T // 2:]])
        xy = _project(cam)[rows] + rng.normal(0, 1.0, (len(rows), 17, 2))
        poses.append(Pose3D(cam - cam[:, :1], H36M17, np.arange(T), 25.0))
        kps.append(Keypoints2D(xy, rng.uniform(0.6, 1.0, (len(rows), 17)), rows, H36M17, SIZE, 25.0))
    return poses, kps


def test_placing_a_block_of_frames_at_a_time_changes_nothing(monkeypatch):
    import mbcli.world.trajectory as trajectory

    poses, kps = _walkers(90)
    whole_scene, whole = place_people(poses, kps, K, SIZE, 25.0)  # 90 frames: one block
    monkeypatch.setattr(trajectory, "BLOCK", 7)
    scene, parts = place_people(poses, kps, K, SIZE, 25.0)
    np.testing.assert_array_equal(scene.floor.R_cam_to_world, whole_scene.floor.R_cam_to_world)
    assert scene.floor.method == "feet" and scene.floor.height_m == whole_scene.floor.height_m
    for a, b in zip(whole, parts):
        for name in ("joints_world", "root_cam", "root_flags", "contacts"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.scale == b.scale
    assert any(w.contacts.any() for w in whole)  # foot locking had feet to pin


def test_track_rows_match_pose_frames_to_2d_rows():
    from mbcli.world.scene import _track_rows

    pose = Pose3D(np.zeros((4, 17, 3)), H36M17, [5, 6, 7, 8], 25.0)
    kp = Keypoints2D(np.zeros((4, 17, 2)), np.ones((4, 17)), [8, 5, 5, 7], H36M17, SIZE, 25.0)
    np.testing.assert_array_equal(_track_rows(pose, kp), [2, -1, 3, 0])  # a frame seen twice: its last row
    empty = Keypoints2D(np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros(0, int), H36M17, SIZE, 25.0)
    np.testing.assert_array_equal(_track_rows(pose, empty), [-1, -1, -1, -1])


def _extra_peak_mb(T: int, pose: Pose3D, kp: Keypoints2D) -> float:
    """MB place_people allocated at its peak beyond what it returns, for the person tiled to T frames."""
    import tracemalloc

    reps = T // pose.num_frames + 1
    pose = Pose3D(np.tile(pose.xyz, (reps, 1, 1))[:T], H36M17, np.arange(T), 25.0)
    kp = Keypoints2D(np.tile(kp.xy, (reps, 1, 1))[:T], np.tile(kp.scores, (reps, 1))[:T], np.arange(T), H36M17,
                     SIZE, 25.0)
    tracemalloc.start()
    try:
        _, (person,) = place_people([pose], [kp], K, SIZE, 25.0)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert person.joints_world.shape == (T, 17, 3)
    return (peak - kept) / 2**20


def test_placing_people_needs_no_memory_that_grows_with_the_clip():
    """Beyond what it returns, place_people holds a few columns per frame and one block's temporaries: 3x the
    frames costs a few MB more at most (whole-clip float64 temporaries cost 28 MB more from 4,500 to 13,500)."""
    poses, kps = _walkers(600)
    short, long = _extra_peak_mb(4500, poses[1], kps[1]), _extra_peak_mb(13500, poses[1], kps[1])
    assert long - short < 4.0 and long < 32.0
