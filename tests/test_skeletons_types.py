"""Skeleton tables (remap and flip by name) and the stage dataclasses (shape checks)."""

from __future__ import annotations

import numpy as np
import pytest

from mbcli.skeletons import BLAZEPOSE33, COCO17, H36M17, HALPE26, SH16, SKELETONS, flip_joints, get_skeleton, remap
from mbcli.types import FramePoses, Keypoints2D, Pose3D, Track


def test_tables_have_documented_sizes_and_valid_trees():
    assert {n: s.num_joints for n, s in SKELETONS.items()} == {
        "h36m17": 17, "coco17": 17, "halpe26": 26, "blazepose33": 33, "sh16": 16, "smpl24": 24, "ntu25": 25}
    # SMPL's kinematic tree as the model files store it (kintree_table row 0)
    assert SKELETONS["smpl24"].parents == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
                                           20, 21)
    assert H36M17.joints[:4] == ("pelvis", "right_hip", "right_knee", "right_ankle")
    assert H36M17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)


def test_h36m_flip_pairs_match_motionbert():
    perm = H36M17.flip_permutation
    left, right = [4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]
    assert list(perm[left]) == right and list(perm[right]) == left
    assert all(perm[j] == j for j in (0, 7, 8, 9, 10))
    assert np.array_equal(perm[perm], np.arange(17))


def test_flip_is_an_involution():
    x = np.random.default_rng(0).normal(size=(5, 17, 3))
    assert np.allclose(flip_joints(flip_joints(x, H36M17, 0.3), H36M17, 0.3), x)


def test_remap_by_name_copies_and_derives():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (3, 33, 2))
    sc = rng.uniform(0.5, 1, (3, 33))
    out, s = remap(xy, sc, BLAZEPOSE33, H36M17)
    bi = BLAZEPOSE33.index
    assert np.allclose(out[:, H36M17.idx("left_knee")], xy[:, bi["left_knee"]])
    assert np.allclose(out[:, 0], (xy[:, bi["left_hip"]] + xy[:, bi["right_hip"]]) / 2)
    assert np.allclose(s[:, 0], np.minimum(sc[:, bi["left_hip"]], sc[:, bi["right_hip"]]))
    # blazepose -> coco17 is a pure selection by name, equal to the shared README's index map
    c, _ = remap(xy, sc, BLAZEPOSE33, COCO17)
    assert np.allclose(c, xy[:, [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]])


def test_remap_halpe_and_sh16():
    xy = np.random.default_rng(2).normal(size=(2, 26, 2))
    out, _ = remap(xy, None, HALPE26, H36M17)
    assert np.allclose(out[:, 0], xy[:, HALPE26.idx("mid_hip")])
    assert np.allclose(out[:, H36M17.idx("head_top")], xy[:, HALPE26.idx("head_top")])
    sh = np.random.default_rng(3).normal(size=(4, 16, 2))
    out, _ = remap(sh, None, SH16, H36M17)
    assert np.allclose(out[:, H36M17.idx("neck_nose")], (sh[:, SH16.idx("thorax")] + sh[:, SH16.idx("head_top")]) / 2)
    assert np.allclose(out[:, H36M17.idx("right_wrist")], sh[:, SH16.idx("right_wrist")])


def test_missing_source_joint_makes_a_missing_target():
    xy = np.zeros((1, 17, 2))
    sc = np.ones((1, 17))
    sc[0, COCO17.idx("left_hip")] = 0
    _, s = remap(xy, sc, COCO17, H36M17)
    assert s[0, H36M17.idx("pelvis")] == 0 and s[0, H36M17.idx("right_knee")] == 1


def test_errors():
    with pytest.raises(KeyError, match="unknown skeleton"):
        get_skeleton("smplx")
    with pytest.raises(ValueError, match="expected 17"):
        remap(np.zeros((3, 16, 2)), None, COCO17, H36M17)
    with pytest.raises(KeyError, match="no way to build"):
        remap(np.zeros((1, 17, 2)), None, H36M17, BLAZEPOSE33)


def test_stage_objects_check_shapes():
    kp = Keypoints2D(np.zeros((4, 17, 2)), np.ones((4, 17)), np.arange(4), "h36m17", (640, 480), 30)
    assert kp.num_frames == 4 and kp.xy.dtype == np.float32 and kp.skeleton is H36M17
    with pytest.raises(ValueError, match="scores must have shape"):
        Keypoints2D(np.zeros((4, 17, 2)), np.ones((3, 17)), np.arange(4), "h36m17", (640, 480), 30)
    with pytest.raises(ValueError, match="non-finite"):
        Keypoints2D(np.full((1, 17, 2), np.nan), np.ones((1, 17)), [0], "h36m17", (640, 480), 30)
    with pytest.raises(ValueError, match="frame must be"):
        Pose3D(np.zeros((2, 17, 3)), "h36m17", [0, 1], 30, frame="screen")
    fp = FramePoses.empty(3, "coco17")
    assert fp.num_people == 0 and fp.keypoints_xy.shape == (0, 17, 2)
    with pytest.raises(ValueError):
        Track(0, [0, 1, 2], [0, 1])
