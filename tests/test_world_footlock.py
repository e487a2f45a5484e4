"""Foot locking (mbcli/world/footlock.py): planted feet stay put, bones keep their lengths, only legs move."""

from __future__ import annotations

import numpy as np
import pytest

from mbcli.skeletons import H36M17
from mbcli.world.contact import foot_skate_mm_per_frame
from mbcli.world.floor import ANKLE_HEIGHT
from mbcli.world.footlock import LEGS, contact_runs, lock_feet, two_bone_ik

FPS = 50.0
LEG_JOINTS = [j for leg in LEGS for j in leg[1:]]  # knees and ankles
OTHER = [j for j in range(17) if j not in LEG_JOINTS]


def standing(T: int) -> np.ndarray:
    """(T,17,3) a person standing at the origin, knees slightly bent forward (+z), ankles at ANKLE_HEIGHT."""
    rest = np.zeros((17, 3))
    rest[:, 1] = 1.0
    for side, (h, k, a) in zip((1.0, -1.0), LEGS):  # left at +x
        rest[h] = [0.1 * side, 0.95, 0.0]
        rest[k] = [0.1 * side, 0.52, 0.05]
        rest[a] = [0.1 * side, ANKLE_HEIGHT, 0.0]
    rest[H36M17.idx("pelvis")] = [0.0, 0.95, 0.0]
    return np.repeat(rest[None], T, axis=0)


def bone_lengths(j: np.ndarray) -> np.ndarray:
    """(T,4) thigh and shin lengths, left then right."""
    return np.stack([np.linalg.norm(j[:, b] - j[:, a], axis=-1) for h, k, an in LEGS for a, b in ((h, k), (k, an))], -1)


def sliding_left_foot(T: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The left ankle slides 5 mm per frame in x over the whole clip, planted in frames 10..29."""
    j = standing(T)
    j[:, LEGS[0][2], 0] += 0.005 * np.arange(T)
    contacts = np.zeros((T, 2), bool)
    contacts[10:30, 0] = True
    return j, contacts


def test_contact_runs_drop_short_ones():
    assert contact_runs(np.array([1, 0, 1, 1, 0, 1, 1, 1], bool)) == [(2, 4), (5, 8)]
    assert contact_runs(np.zeros(0, bool)) == []


def test_sliding_planted_foot_becomes_still_and_only_legs_move():
    j, c = sliding_left_foot()
    out = lock_feet(j, c, FPS)
    ankle = out[10:30, LEGS[0][2]]
    assert np.abs(ankle - ankle[0]).max() < 1e-12
    assert foot_skate_mm_per_frame(j, c) == pytest.approx(5.0)
    assert foot_skate_mm_per_frame(out[10:30], c[10:30]) < 1e-9
    np.testing.assert_array_equal(out[:, OTHER], j[:, OTHER])
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(j), atol=1e-9)
    # the median anchor: the foot is held where it was mid-run
    assert ankle[0, 0] == pytest.approx(np.median(j[10:30, LEGS[0][2], 0]))


def test_landing_anchor_holds_the_first_position():
    j, c = sliding_left_foot()
    out = lock_feet(j, c, FPS, anchor="landing")
    np.testing.assert_allclose(out[10:30, LEGS[0][2]], np.repeat(j[10:11, LEGS[0][2]], 20, 0), atol=1e-12)


def test_blend_has_no_jump_at_run_edges():
    j, c = sliding_left_foot()
    blend = 4
    out = lock_feet(j, c, FPS, blend_s=blend / FPS)
    a_in, a_out = j[:, LEGS[0][2]], out[:, LEGS[0][2]]
    step_in = np.linalg.norm(np.diff(a_in, axis=0), axis=-1)
    step_out = np.linalg.norm(np.diff(a_out, axis=0), axis=-1)
    correction = np.linalg.norm(out[[10, 29], LEGS[0][2]] - a_in[[10, 29]], axis=-1).max()
    assert step_out.max() <= step_in.max() + correction / (blend + 1) + 1e-12
    # the ramp spreads the correction: no single frame carries it
    assert step_out.max() < correction
    # outside the ramps nothing moves
    np.testing.assert_array_equal(out[: 10 - blend], j[: 10 - blend])
    np.testing.assert_array_equal(out[30 + blend:], j[30 + blend:])


def test_ankle_below_the_floor_is_raised():
    j = standing(5)
    j[2, LEGS[1][2], 1] = -0.03
    out = lock_feet(j, np.zeros((5, 2), bool), FPS)
    assert out[2, LEGS[1][2], 1] == pytest.approx(ANKLE_HEIGHT)
    assert (out[:, [leg[2] for leg in LEGS], 1] >= ANKLE_HEIGHT - 1e-12).all()
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(j), atol=1e-9)
    np.testing.assert_array_equal(np.delete(out, 2, axis=0), np.delete(j, 2, axis=0))


def test_planted_foot_is_held_on_or_above_the_floor():
    j, c = sliding_left_foot()
    j[10:30, LEGS[0][2], 1] = ANKLE_HEIGHT - 0.02
    out = lock_feet(j, c, FPS)
    assert np.allclose(out[10:30, LEGS[0][2], 1], ANKLE_HEIGHT)


def test_one_frame_run_and_no_contacts_change_nothing():
    j, _ = sliding_left_foot()
    c = np.zeros((len(j), 2), bool)
    np.testing.assert_array_equal(lock_feet(j, c, FPS), j)
    c[12, 0] = c[20, 1] = True
    np.testing.assert_array_equal(lock_feet(j, c, FPS), j)


def test_out_of_reach_goal_keeps_lengths_and_reaches_along_the_line():
    j = standing(1)
    h, k, a = LEGS[0]
    goal = j[:, h] + np.array([[0.0, -2.0, 0.5]])
    knee, ankle = two_bone_ik(j[:, h], j[:, k], j[:, a], goal)
    out = j.copy()
    out[:, k], out[:, a] = knee, ankle
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(j), atol=1e-9)
    direction = (goal - j[:, h]) / np.linalg.norm(goal - j[:, h])
    reach = bone_lengths(j)[0, :2].sum()
    np.testing.assert_allclose(ankle, j[:, h] + reach * direction, atol=1e-12)


def test_knee_keeps_its_bend_side():
    j = standing(1)
    h, k, a = LEGS[0]
    knee, _ = two_bone_ik(j[:, h], j[:, k], j[:, a], j[:, a] + np.array([[0.0, 0.1, 0.02]]))
    assert knee[0, 2] > j[0, h, 2]  # still bent forward


def test_degenerate_input_stays_finite():
    zero = np.zeros((3, 17, 3))
    out = lock_feet(zero, np.ones((3, 2), bool), FPS)
    assert np.isfinite(out).all()
    one = standing(1)
    np.testing.assert_array_equal(lock_feet(one, np.ones((1, 2), bool), FPS), one)
    assert lock_feet(np.zeros((0, 17, 3)), np.zeros((0, 2), bool), FPS).shape == (0, 17, 3)
    # zero-length thigh, knee on the line to the goal, goal at the hip
    p = standing(1)
    h, k, a = LEGS[0]
    cases = [(p[:, h], p[:, h], p[:, a]), (p[:, h], p[:, h] + [[0, -0.4, 0]], p[:, h] + [[0, -0.8, 0]])]
    for hip, knee, ankle in cases:
        for goal in (hip, hip + [[0, -0.3, 0]], hip + [[0, -5.0, 0]]):
            kk, aa = two_bone_ik(hip, knee, ankle, goal)
            assert np.isfinite(kk).all() and np.isfinite(aa).all()
            assert np.linalg.norm(kk - hip) == pytest.approx(np.linalg.norm(knee - hip), abs=1e-9)
            assert np.linalg.norm(aa - kk) == pytest.approx(np.linalg.norm(ankle - knee), abs=1e-9)


def test_shapes_are_checked():
    with pytest.raises(ValueError):
        lock_feet(np.zeros((3, 17, 3)), np.zeros((2, 2), bool), FPS)


def test_place_people_locks_feet_and_keeps_the_labels():
    from mbcli.types import Keypoints2D, Pose3D
    from mbcli.world.camera import intrinsics
    from mbcli.world.scene import place_people

    T = 60
    world, _ = sliding_left_foot(T)
    world[:, LEGS[0][2], 0] -= 0.0035 * np.arange(T)  # a slow slide (1.5 mm per frame): labelled planted
    cam = np.stack([world[..., 0], 1.5 - world[..., 1], 4.0 - world[..., 2]], axis=-1)  # level camera 1.5 m up
    K = intrinsics(1280, 720)
    xy = np.stack([K.fx * cam[..., 0] / cam[..., 2] + K.cx, K.fy * cam[..., 1] / cam[..., 2] + K.cy], axis=-1)
    pose = Pose3D(cam - cam[:, :1], H36M17, np.arange(T), FPS)
    kp = Keypoints2D(xy, np.ones((T, 17)), np.arange(T), H36M17, (1280, 720), FPS)
    _, (free,) = place_people([pose], [kp], K, (1280, 720), FPS, foot_lock=False)
    _, (locked,) = place_people([pose], [kp], K, (1280, 720), FPS)
    np.testing.assert_array_equal(locked.contacts, free.contacts)
    assert free.contacts[:, 0].sum() > T // 2
    np.testing.assert_array_equal(locked.joints_world[:, OTHER], free.joints_world[:, OTHER])
    c = free.contacts
    assert foot_skate_mm_per_frame(locked.joints_world, c) < 0.2 * foot_skate_mm_per_frame(free.joints_world, c)
    np.testing.assert_allclose(bone_lengths(locked.joints_world.astype(np.float64)),
                               bone_lengths(free.joints_world.astype(np.float64)), atol=1e-5)
