"""NPZ export: keys, shapes, dtypes, values, and no object arrays (np.load with allow_pickle=False reads every key);
the world keys written with a scene."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbcli.errors import ExportError
from mbcli.export.npz import write_npz
from mbcli.skeletons import COCO17, H36M17
from mbcli.types import Floor, Intrinsics, Keypoints2D, MotionResult, Pose3D, Scene, VideoInfo, WorldPose

VIDEO = VideoInfo("clips/walk.mp4", 1280, 720, 25.0, 50)


def make_result(track_id, T=8, start=2, with_3d=True, skeleton2d="h36m17", units="m", video=VIDEO):
    rng = np.random.default_rng(track_id)
    J2 = 17
    xy = rng.uniform(0, 700, (T, J2, 2))
    scores = rng.uniform(0.1, 1, (T, J2))
    xy[0, 0], scores[0, 0] = np.nan, 0.0
    frames = np.arange(start, start + T)
    k2d = Keypoints2D(xy, scores, frames, skeleton2d, (1280, 720), 25.0)
    pose = Pose3D(rng.normal(0, 0.3, (T, 17, 3)), "h36m17", frames, 25.0, units=units) if with_3d else None
    return MotionResult(video, track_id, k2d, pose)


def test_keys_shapes_dtypes_and_values(tmp_path):
    results = [make_result(0), make_result(3, T=5, start=10, with_3d=False)]
    path = write_npz(results, VIDEO, tmp_path / "motion.npz", weights="lite")
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}  # raises on any object array
    assert set(data) == {
        "track_ids", "joint_names", "parents", "joint_names_2d", "parents_2d", "fps", "image_size", "num_frames",
        "meta_json", "person0_keypoints_2d", "person0_frame_indices", "person0_keypoints_3d",
        "person3_keypoints_2d", "person3_frame_indices",
    }  # fmt: skip
    assert all(a.dtype != object for a in data.values())
    assert data["person0_keypoints_3d"].shape == (8, 17, 3) and data["person0_keypoints_3d"].dtype == np.float32
    assert data["person0_keypoints_2d"].shape == (8, 17, 3) and data["person0_keypoints_2d"].dtype == np.float32
    assert data["person3_frame_indices"].dtype == np.int64
    np.testing.assert_array_equal(data["person3_frame_indices"], np.arange(10, 15))
    np.testing.assert_array_equal(data["track_ids"], [0, 3])
    assert data["joint_names"].tolist() == list(H36M17.joints) and data["parents"].tolist() == list(H36M17.parents)
    assert data["fps"] == 25.0 and data["image_size"].tolist() == [1280, 720] and data["num_frames"] == 50
    np.testing.assert_array_equal(data["person0_keypoints_3d"], results[0].pose_3d.xyz)
    np.testing.assert_array_equal(data["person0_keypoints_2d"][..., :2], results[0].keypoints_2d.xy)
    np.testing.assert_array_equal(data["person0_keypoints_2d"][..., 2], results[0].keypoints_2d.scores)
    meta = json.loads(str(data["meta_json"]))
    assert meta["format"] == "mbcli.motion.npz" and meta["version"] == 1
    assert meta["coords"]["frame"] == "camera" and meta["coords"]["up"] == "-y" and meta["coords"]["units"] == "m"
    assert meta["video"]["path"] == "clips/walk.mp4" and meta["generator"]["weights"] == "lite"


def test_keypoint_file_input_mm_and_coco(tmp_path):
    r = make_result(1, skeleton2d="coco17", units="mm", video=None)
    path = write_npz([r], None, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        assert z["joint_names_2d"].tolist() == list(COCO17.joints) and z["parents_2d"].tolist() == list(COCO17.parents)
        assert z["image_size"].tolist() == [1280, 720] and z["num_frames"] == 10
        np.testing.assert_allclose(z["person1_keypoints_3d"], r.pose_3d.xyz / 1000, rtol=1e-6)
        meta = json.loads(str(z["meta_json"]))
    assert meta["video"] is None and meta["keypoints_2d_skeleton"]["name"] == "coco17"


def test_errors_leave_no_file(tmp_path):
    with pytest.raises(ExportError, match="unique"):
        write_npz([make_result(0), make_result(0)], VIDEO, tmp_path / "dup.npz")
    with pytest.raises(ExportError, match="nothing"):
        write_npz([], None, tmp_path / "none.npz")
    assert list(tmp_path.iterdir()) == []


SCENE = Scene(Intrinsics(1100.0, 1105.0, 640.0, 360.0, "fov"), Floor(np.array([0.0, -0.95, 0.3]), 1.4, "feet"))


def _placed(r: MotionResult) -> MotionResult:
    T = r.keypoints_2d.num_frames
    rng = np.random.default_rng(5)
    world = WorldPose(rng.normal(0, 1, (T, 17, 3)), rng.normal(0, 1, (T, 3)), np.arange(T) % 8,
                      rng.random((T, 2)) > 0.5, 0.93)
    return MotionResult(r.video, r.track_id, r.keypoints_2d, r.pose_3d, world)


def test_world_keys(tmp_path):
    results = [_placed(make_result(0)), make_result(3, T=5, start=10)]
    path = write_npz(results, VIDEO, tmp_path / "w.npz", scene=SCENE)
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    plain = write_npz([make_result(0), make_result(3, T=5, start=10)], VIDEO, tmp_path / "p.npz")
    with np.load(plain, allow_pickle=False) as z:
        before = {k: z[k] for k in z.files}
    new = {"camera_K", "camera_R_cam_to_world", "camera_position_world", "floor_up_camera", "floor_camera_height_m",
           "floor_method", "person0_keypoints_3d_world", "person0_root_camera", "person0_root_flags",
           "person0_foot_contact", "person0_world_scale"}
    assert set(data) == set(before) | new
    for k in set(before) - {"meta_json"}:  # the other keys are unchanged
        np.testing.assert_array_equal(data[k], before[k])
    assert all(a.dtype != object for a in data.values())
    np.testing.assert_array_equal(data["camera_K"], [[1100, 0, 640], [0, 1105, 360], [0, 0, 1]])
    np.testing.assert_array_equal(data["camera_R_cam_to_world"], SCENE.floor.R_cam_to_world)
    np.testing.assert_array_equal(data["camera_position_world"], [0, 1.4, 0])
    np.testing.assert_array_equal(data["floor_up_camera"], SCENE.floor.up)
    assert data["floor_camera_height_m"] == 1.4 and str(data["floor_method"]) == "feet"
    w = results[0].world
    assert data["person0_keypoints_3d_world"].dtype == np.float32 and data["person0_root_flags"].dtype == np.uint8
    assert data["person0_foot_contact"].dtype == bool and data["person0_foot_contact"].shape == (8, 2)
    np.testing.assert_array_equal(data["person0_keypoints_3d_world"], w.joints_world)
    np.testing.assert_array_equal(data["person0_root_camera"], w.root_cam)
    np.testing.assert_array_equal(data["person0_root_flags"], w.root_flags)
    np.testing.assert_array_equal(data["person0_foot_contact"], w.contacts)
    assert data["person0_world_scale"] == pytest.approx(0.93)
    meta = json.loads(str(data["meta_json"]))
    assert meta["version"] == 1 and meta["world"]["camera"]["focal_source"] == "fov"
    assert "world" not in json.loads(str(before["meta_json"]))


def test_world_errors_leave_no_file(tmp_path):
    with pytest.raises(ExportError, match="no scene"):
        write_npz([_placed(make_result(0))], VIDEO, tmp_path / "w.npz")
    r = _placed(make_result(0, with_3d=False))
    with pytest.raises(ExportError, match="without a 3D pose"):
        write_npz([r], VIDEO, tmp_path / "w.npz", scene=SCENE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("array", [
    np.random.default_rng(0).normal(size=(3000, 17, 3)).astype(np.float32),
    np.arange(5001, dtype=np.int64),
    np.random.default_rng(1).random((4000, 2)) > 0.5,
    np.asfortranarray(np.ones((300, 7))),  # (numpy's own writer: Fortran order)
    np.array("a 0-d string"),
    np.zeros((0, 17, 3), np.float32),
    np.array(["pelvis", "right_hip"]),
])
def test_npy_bytes_are_numpys_whatever_the_block(monkeypatch, array):
    import io

    import mbcli.export.npz as npz

    ref = io.BytesIO()
    np.lib.format.write_array(ref, array, allow_pickle=False)
    for block in (64, 1 << 20):
        monkeypatch.setattr(npz, "BLOCK_BYTES", block)
        got = io.BytesIO()
        npz.write_npy(got, array)
        assert got.getvalue() == ref.getvalue(), block


def test_joined_rows_are_the_concatenation_to_the_byte(monkeypatch):
    import io

    import mbcli.export.npz as npz

    rng = np.random.default_rng(2)
    xy, scores = rng.normal(size=(1001, 33, 2)).astype(np.float32), rng.random((1001, 33)).astype(np.float32)
    ref = io.BytesIO()
    np.lib.format.write_array(ref, np.concatenate([xy, scores[..., None]], axis=-1), allow_pickle=False)
    for block in (100, 1 << 20):
        monkeypatch.setattr(npz, "BLOCK_BYTES", block)
        got = io.BytesIO()
        npz.write_npy(got, npz.Joined(xy, scores[..., None]))
        assert got.getvalue() == ref.getvalue(), block
