"""NPZ export: keys, shapes, dtypes, values, and no object arrays (np.load with allow_pickle=False reads every key)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbcli.errors import ExportError
from mbcli.export.npz import write_npz
from mbcli.skeletons import COCO17, H36M17
from mbcli.types import Keypoints2D, MotionResult, Pose3D, VideoInfo

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
