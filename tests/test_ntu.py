"""NTU RGB+D readers (mbcli/train/ntu_files.py) and samples (mbcli/train/ntu.py) on tiny synthetic files written in
the real layouts: a raw Kinect .skeleton text file and pyskl annotation pickles (2D and 3D flavours)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from ntu_fixture import NAMES, A, B, body_values, frames_abc, pyskl_2d, pyskl_3d, write_skeleton

from mbcli.errors import ConfigError, KeypointFileError
from mbcli.labels import NTU60_CLASSES, NTU120_CLASSES
from mbcli.skeletons import COCO17, H36M17, NTU25, SKELETONS, remap
from mbcli.train.ntu import NtuPose2D, NtuSample, ntu_split, parse_name, to_h36m
from mbcli.train.ntu_files import load_ntu, read_ntu_skeleton, read_pyskl

J = NTU25.idx
H = H36M17.idx


@pytest.fixture
def skel_file(tmp_path):
    path = tmp_path / "S017C003P038R002A060.skeleton"
    write_skeleton(path, frames_abc())
    return path


def test_name_fields_and_label():
    n = parse_name("/data/nturgb+d_skeletons/S017C003P038R002A060.skeleton")
    assert (n.name, n.setup, n.camera, n.performer, n.replication, n.action, n.label) == (
        "S017C003P038R002A060", 17, 3, 38, 2, 60, 59)
    assert parse_name("S001C001P001R001A001_rgb.avi").label == 0
    with pytest.raises(KeypointFileError, match="not an NTU RGB"):
        parse_name("walk.skeleton")


def test_skeleton_values_frames_and_coordinates(skel_file):
    s = read_ntu_skeleton(skel_file)
    assert (s.name, s.label, s.setup, s.camera, s.performer, s.replication) == ("S017C003P038R002A060", 59, 17, 3, 38, 2)
    assert s.joints_3d.shape == (2, 4, 25, 3) and s.joints_2d.shape == (2, 4, 25, 2) and s.valid.shape == (2, 4)
    # body selection: A (most motion) first, B second; C (static, overlapping both) dropped
    np.testing.assert_array_equal(s.valid, [[1, 0, 1, 1], [1, 0, 1, 0]])
    a0, b2 = body_values(1, motion=0.3, t=0), body_values(2, -1.0, 0.05, 2)
    # Kinect (x left, y up, z forward) -> camera (x right, y down, z forward): (-x, -y, z)
    np.testing.assert_allclose(s.joints_3d[0, 0], a0[:, :3] * [-1, -1, 1], atol=1e-5)
    np.testing.assert_allclose(s.joints_3d[1, 2], b2[:, :3] * [-1, -1, 1], atol=1e-5)
    # colour px unmirrored: x -> 1920 - x, y kept
    np.testing.assert_allclose(s.joints_2d[0, 0], np.c_[1920 - a0[:, 5], a0[:, 6]], atol=1e-3)
    assert np.all(s.joints_3d[:, 1] == 0) and np.all(s.joints_2d[:, 1] == 0) and np.all(s.joints_2d[1, 3] == 0)
    assert s.joint_state[0, 0, J("head")] == 1 and s.joint_state[0, 0, J("neck")] == 2 and s.joint_state[1, 3].max() == 0
    raw = read_ntu_skeleton(skel_file, unmirror=False)
    np.testing.assert_allclose(raw.joints_2d[0, 0], a0[:, 5:7], atol=1e-3)
    np.testing.assert_array_equal(raw.joints_3d, s.joints_3d)


def test_unmirrored_2d_agrees_with_the_3d_like_a_true_camera(skel_file):
    # a point on the camera's right (camera-frame x > 0) must land right of the image centre
    s = read_ntu_skeleton(skel_file)
    x3 = s.joints_3d[0, 0, :, 0] / s.joints_3d[0, 0, :, 2]
    assert np.corrcoef(x3, s.joints_2d[0, 0, :, 0])[0, 1] > 0.99
    y3 = s.joints_3d[0, 0, :, 1] / s.joints_3d[0, 0, :, 2]
    assert np.corrcoef(y3, s.joints_2d[0, 0, :, 1])[0, 1] > 0.99


def test_more_motion_wins_the_first_slot_and_max_bodies(tmp_path):
    path = tmp_path / "S001C001P001R001A050.skeleton"
    frames = [[(A, body_values(1, motion=0.01, t=t)), (B, body_values(2, -1.0, 0.2, t))] for t in range(3)]
    write_skeleton(path, frames)
    s = read_ntu_skeleton(path)
    np.testing.assert_allclose(s.joints_3d[0, 1], body_values(2, -1.0, 0.2, 1)[:, :3] * [-1, -1, 1], atol=1e-5)
    one = read_ntu_skeleton(path, max_bodies=1)
    assert one.num_people == 1 and np.allclose(one.joints_3d[0], s.joints_3d[0])


def test_a_person_whose_id_changes_stays_in_one_slot(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    frames = [[(A, body_values(1, motion=0.1, t=0))], [(A, body_values(1, motion=0.1, t=1))],
              [(B, body_values(1, motion=0.1, t=2))], [(B, body_values(1, motion=0.1, t=3))]]
    write_skeleton(path, frames)
    s = read_ntu_skeleton(path)
    assert s.num_people == 1 and s.valid.all()
    np.testing.assert_allclose(s.joints_3d[0, 3], body_values(1, motion=0.1, t=3)[:, :3] * [-1, -1, 1], atol=1e-5)


def test_a_file_with_no_bodies_has_no_people(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_skeleton(path, [[], []])
    s = read_ntu_skeleton(path)
    assert s.joints_3d.shape == (0, 2, 25, 3) and s.valid.shape == (0, 2)
    assert to_h36m(s, num_people=2).scores.shape == (2, 2, 17) and not to_h36m(s, 2).scores.any()


def test_skeleton_error_paths(tmp_path, skel_file):
    text = skel_file.read_text()
    cut = tmp_path / "S001C001P001R001A002.skeleton"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(KeypointFileError, match="truncated") as e:
        read_ntu_skeleton(cut)
    assert "\n" not in str(e.value)
    bad_count = tmp_path / "S001C001P001R001A003.skeleton"
    write_skeleton(bad_count, [[(A, body_values(1))]], joint_count=24)
    with pytest.raises(KeypointFileError, match="24 joints, expected 25"):
        read_ntu_skeleton(bad_count)
    with pytest.raises(KeypointFileError, match="does not exist"):
        read_ntu_skeleton(tmp_path / "S001C001P001R001A004.skeleton")
    junk = tmp_path / "S001C001P001R001A005.skeleton"
    junk.write_text("2\n1\nhello world\n")
    with pytest.raises(KeypointFileError, match="'hello' is not a number"):
        read_ntu_skeleton(junk)
    empty = tmp_path / "S001C001P001R001A006.skeleton"
    empty.write_text("")
    with pytest.raises(KeypointFileError, match="empty"):
        read_ntu_skeleton(empty)
    misnamed = tmp_path / "clip.skeleton"
    misnamed.write_text(text)
    with pytest.raises(KeypointFileError, match="sample name"):
        read_ntu_skeleton(misnamed)


# ---------------------------------------------------------------------------------------------------------------
# pyskl pickles

@pytest.mark.parametrize("protocol", [2, 5])
def test_pyskl_2d_reads_samples_and_split(tmp_path, protocol):
    data = pyskl_2d()
    path = tmp_path / "ntu60_hrnet.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    samples, split = read_pyskl(path)
    assert split == data["split"]
    assert [type(s) for s in samples] == [NtuPose2D] * 3
    s = samples[2]
    assert (s.name, s.label, s.setup, s.camera, s.performer, s.replication) == (NAMES[2], 54, 2, 3, 8, 1)
    assert s.keypoints.dtype == np.float32 and s.keypoints.shape == (2, 5, 17, 2) and s.image_size == (1920, 1080)
    np.testing.assert_array_equal(s.keypoints, data["annotations"][2]["keypoint"].astype(np.float32))
    np.testing.assert_array_equal(s.scores, data["annotations"][2]["keypoint_score"].astype(np.float32))


def test_pyskl_2d_unmirror_flips_x_and_swaps_sides(tmp_path):
    data = pyskl_2d()
    path = tmp_path / "ntu60_hrnet.pkl"
    path.write_bytes(pickle.dumps(data))
    (plain, *_), _ = read_pyskl(path)
    (flipped, *_), _ = read_pyskl(path, unmirror=True)
    lw, rw = COCO17.idx("left_wrist"), COCO17.idx("right_wrist")
    np.testing.assert_allclose(flipped.keypoints[..., lw, 0], 1920 - plain.keypoints[..., rw, 0])
    np.testing.assert_allclose(flipped.keypoints[..., lw, 1], plain.keypoints[..., rw, 1])
    np.testing.assert_array_equal(flipped.scores[..., lw], plain.scores[..., rw])


def test_pyskl_3d_rotates_into_the_camera_frame(tmp_path):
    data = pyskl_3d()
    path = tmp_path / "ntu60_3danno.pkl"
    path.write_bytes(pickle.dumps(data, protocol=4))
    samples, split = read_pyskl(path)
    assert [type(s) for s in samples] == [NtuSample] * 3 and "xview_val" in split
    s = samples[1]
    assert s.joints_2d is None and s.label == 9 and s.camera == 2
    np.testing.assert_allclose(s.joints_3d, data["annotations"][1]["keypoint"] * [-1, -1, 1])
    np.testing.assert_array_equal(s.valid, [[1, 1, 1, 1], [1, 1, 0, 0]])
    h = to_h36m(s)
    assert h.xy is None and h.xyz.shape == (2, 4, 17, 3) and h.scores[1, 2:].max() == 0 and h.scores[0].min() == 1


class _Sneaky:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_pyskl_refuses_foreign_objects(tmp_path):
    target = tmp_path / "created_by_unpickling.txt"
    data = pyskl_2d()
    data["annotations"][0]["extra"] = _Sneaky(target)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(KeypointFileError, match="refusing") as e:
        read_pyskl(path)
    assert not target.exists() and "\n" not in str(e.value)
    path.write_bytes(pickle.dumps({"annotations": [{"frame_dir": NAMES[0]}]}))
    with pytest.raises(KeypointFileError, match="no 'label'"):
        read_pyskl(path)
    bad = pyskl_2d()
    bad["annotations"][1]["label"] = 3
    path.write_bytes(pickle.dumps(bad))
    with pytest.raises(KeypointFileError, match="disagrees"):
        read_pyskl(path)
    bad = pyskl_2d()
    bad["annotations"][1]["keypoint"] = np.zeros((1, 5, 18, 2))
    path.write_bytes(pickle.dumps(bad))
    with pytest.raises(KeypointFileError, match=r"\(M,T,17,2\)"):
        read_pyskl(path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(KeypointFileError, match="cannot read"):
        read_pyskl(path)


# ---------------------------------------------------------------------------------------------------------------
# splits, remaps, labels


def test_splits_from_name_fields():
    names = ["S001C001P001R001A001", "S001C002P003R001A001", "S002C003P038R001A001", "S003C001P040R002A001",
             "S018C002P045R001A061", "S032C001P106R001A120"]
    assert ntu_split(names, "xsub") == ([names[0], names[2], names[4]], [names[1], names[3], names[5]])
    assert ntu_split(names, "xview") == ([names[1], names[2], names[4]], [names[0], names[3], names[5]])
    assert ntu_split(names, "xset") == ([names[2], names[4], names[5]], [names[0], names[1], names[3]])
    # every official NTU-60 cross-subject training performer, and none of the others
    train60 = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
    all60 = [f"S001C001P{p:03d}R001A001" for p in range(1, 41)]
    tr, te = ntu_split(all60, "xsub")
    assert {parse_name(n).performer for n in tr} == train60 and len(te) == 20
    with pytest.raises(ConfigError, match="unknown NTU protocol"):
        ntu_split(names, "xcam")


def _skeleton_sample(j3, j2, valid):
    return NtuSample("S001C001P001R001A001", 0, 1, 1, 1, 1, j3, j2, valid)


def test_kinect_to_h36m_recipe_known_positions():
    rng = np.random.default_rng(5)
    j3 = rng.normal(size=(1, 3, 25, 3)).astype(np.float32)
    j2 = rng.uniform(0, 1000, (1, 3, 25, 2)).astype(np.float32)
    j2[0, 1, J("neck")] = np.inf  # an unmappable colour pixel
    valid = np.array([[True, True, False]])
    h = to_h36m(_skeleton_sample(j3, j2, valid))
    assert h.xyz.shape == (1, 3, 17, 3) and h.xy.shape == (1, 3, 17, 2)
    x = j3[0, 0]
    np.testing.assert_allclose(h.xyz[0, 0, H("pelvis")], (x[J("left_hip")] + x[J("right_hip")]) / 2, atol=1e-6)
    np.testing.assert_allclose(h.xyz[0, 0, H("thorax")], x[J("spine_shoulder")], atol=1e-6)
    np.testing.assert_allclose(h.xyz[0, 0, H("spine")], x[J("spine_mid")], atol=1e-6)
    np.testing.assert_allclose(h.xyz[0, 0, H("neck_nose")], (x[J("neck")] + x[J("head")]) / 2, atol=1e-6)
    np.testing.assert_allclose(h.xyz[0, 0, H("head_top")], x[J("head")] + 0.5 * (x[J("head")] - x[J("neck")]),
                               atol=1e-6)
    for name in ("right_hip", "left_knee", "right_ankle", "left_shoulder", "right_elbow", "left_wrist"):
        np.testing.assert_allclose(h.xyz[0, 0, H(name)], x[J(name)], atol=1e-6)
    np.testing.assert_allclose(h.xy[0, 0, H("right_wrist")], j2[0, 0, J("right_wrist")], atol=1e-4)
    # scores: 1 where present; 0 in an absent frame; the infinite neck pixel takes neck_nose and head_top with it
    assert h.scores[0, 0].min() == 1 and h.scores[0, 2].max() == 0
    assert h.scores[0, 1, H("neck_nose")] == 0 and h.scores[0, 1, H("head_top")] == 0 and h.scores[0, 1, 0] == 1
    assert np.isfinite(h.xy).all() and np.all(h.xy[0, 2] == 0)
    kps = h.keypoints_2d()
    assert len(kps) == 1 and kps[0].skeleton.name == "h36m17" and kps[0].image_size == (1920, 1080)
    poses = h.poses_3d()
    assert poses[0].xyz.shape == (3, 17, 3) and not poses[0].root_relative


def test_coco_to_h36m_and_people_padding(tmp_path):
    path = tmp_path / "ntu60_hrnet.pkl"
    path.write_bytes(pickle.dumps(pyskl_2d()))
    samples, _ = read_pyskl(path)
    s = samples[0]
    h = to_h36m(s, num_people=2)
    ref, ref_s = remap(s.keypoints, s.scores, COCO17, H36M17)
    assert h.xy.shape == (2, 5, 17, 2) and h.xyz is None and h.label == 0
    np.testing.assert_allclose(h.xy[0], ref[0])
    np.testing.assert_allclose(h.scores[0], ref_s[0])
    assert not h.scores[1].any() and not h.xy[1].any()
    k = COCO17.idx
    np.testing.assert_allclose(h.xy[0, :, H("pelvis")], (s.keypoints[0, :, k("left_hip")]
                                                         + s.keypoints[0, :, k("right_hip")]) / 2, rtol=1e-6)
    assert to_h36m(samples[2], num_people=1).xy.shape == (1, 5, 17, 2)
    with pytest.raises(ConfigError, match="no 3D"):
        h.poses_3d()


def test_load_ntu_from_pickle_split_and_from_a_folder(tmp_path, skel_file):
    path = tmp_path / "ntu60_hrnet.pkl"
    path.write_bytes(pickle.dumps(pyskl_2d()))
    train, test = load_ntu(path, "xview")
    assert [h.name for h in train] == [NAMES[1], NAMES[2]] and [h.name for h in test] == [NAMES[0]]
    assert all(h.xy.shape[0] == 2 for h in train + test)
    folder = skel_file.parent
    write_skeleton(folder / "S001C001P003R001A002.skeleton", [[(A, body_values(1))]])
    write_skeleton(folder / "S001C001P001R001A003.skeleton", [[]])  # nobody: skipped
    train, test = load_ntu(folder, "xsub")
    assert [h.name for h in train] == ["S017C003P038R002A060"] and [h.name for h in test] == ["S001C001P003R001A002"]
    assert train[0].xyz.shape == (2, 4, 17, 3) and test[0].scores.shape == (2, 1, 17)


def test_class_names_and_ntu25_table():
    assert len(NTU60_CLASSES) == 60 and len(set(NTU120_CLASSES)) == 120 and NTU120_CLASSES[:60] == NTU60_CLASSES
    assert NTU60_CLASSES[0] == "drink water" and NTU60_CLASSES[1] == "eat meal/snack"
    assert NTU60_CLASSES[parse_name("S001C001P001R001A043").label] == "falling"
    assert NTU60_CLASSES[-2:] == ("walking towards each other", "walking apart from each other")
    assert NTU120_CLASSES[60] == "put on headphone" and NTU120_CLASSES[119].startswith("finger-guessing")
    assert SKELETONS["ntu25"] is NTU25 and NTU25.num_joints == 25
    assert NTU25.joints[:4] == ("spine_base", "spine_mid", "neck", "head") and NTU25.joints[20] == "spine_shoulder"
    perm = NTU25.flip_permutation
    assert perm[J("left_hand_tip")] == J("right_hand_tip") and perm[J("right_foot")] == J("left_foot")
    assert all(perm[j] == j for j in (0, 1, 2, 3, 20))
