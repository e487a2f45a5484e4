"""mbcli.detect.files: format detection, exact read-back of each format's tiny asset, and error paths.

The assets in tests/assets/keypoints/ were written with the keypoint formula ``_kp`` below, so every value read can
be checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbcli.detect.files import (
    KEYPOINT_FORMATS,
    OPENPOSE_BODY25,
    detect_keypoint_format,
    infer_image_size,
    read_keypoint_file,
)
from mbcli.errors import KeypointFileError
from mbcli.skeletons import get_skeleton

ASSETS = Path(__file__).parent / "assets" / "keypoints"


def _kp(p: int, f: int, j: int) -> tuple[float, float]:
    return 100.5 + 200 * p + 3 * j + f, 50.25 + 10 * j + f


def _expected_xy(p: int, f: int, K: int) -> np.ndarray:
    return np.array([_kp(p, f, j) for j in range(K)], dtype=np.float32)


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("coco_results.json", "coco"),
        ("alphapose_halpe26.json", "alphapose"),
        ("openpose_body25", "openpose"),
        ("openpose_body25/clip_000000000000_keypoints.json", "openpose"),
        ("mmpose_demo.json", "mmpose"),
    ],
)
def test_detect_format(name, fmt):
    assert detect_keypoint_format(ASSETS / name) == fmt
    assert fmt in KEYPOINT_FORMATS


def test_detect_mbcli_motion_and_refuse_to_read_it(tmp_path):
    path = _write(tmp_path, "m.json", {"format": "mbcli.motion", "version": 1, "fps": 30.0})
    assert detect_keypoint_format(path) == "mbcli.motion"
    with pytest.raises(KeypointFileError, match="mbcli.motion"):
        read_keypoint_file(path)


def test_coco_results_read_back():
    kf = read_keypoint_file(ASSETS / "coco_results.json")
    assert kf.format == "coco" and kf.skeleton.name == "coco17" and kf.track_ids is None
    assert kf.image_size is None and kf.fps is None and kf.num_frames == 2
    f0, f1 = kf.frames
    assert (f0.frame_index, f0.num_people, f1.frame_index, f1.num_people) == (0, 2, 1, 1)
    exp = _expected_xy(0, 0, 17)
    exp[3] = 0.0
    np.testing.assert_array_equal(f0.keypoints_xy[0], exp)
    np.testing.assert_array_equal(f0.keypoints_xy[1], _expected_xy(1, 0, 17))
    np.testing.assert_array_equal(f1.keypoints_xy[0], _expected_xy(0, 1, 17))
    assert f0.keypoint_scores[0, 3] == 0 and np.all(np.delete(f0.keypoint_scores[0], 3) == 0.75)
    np.testing.assert_array_equal(f0.box_scores, [0.5, 0.75])
    # no box in the file: the box of the joints scored above 0 (joint 3 of person 0 is missing)
    vis = np.delete(exp, 3, axis=0)
    np.testing.assert_allclose(f0.boxes_xyxy[0], [*vis.min(0), *vis.max(0)])


def test_alphapose_read_back_with_track_ids():
    kf = read_keypoint_file(ASSETS / "alphapose_halpe26.json")
    assert kf.format == "alphapose" and kf.skeleton.name == "halpe26" and kf.num_frames == 3
    assert [fp.num_people for fp in kf.frames] == [2, 1, 2]
    assert [ids.tolist() for ids in kf.track_ids] == [[1, 2], [2], [1, 2]]
    f2 = kf.frames[2]
    np.testing.assert_array_equal(f2.keypoints_xy[1], _expected_xy(1, 2, 26))
    np.testing.assert_array_equal(f2.keypoint_scores[0], [0.5 + 0.125 * (j % 4) for j in range(26)])
    # box [x, y, w, h] -> xyxy
    np.testing.assert_array_equal(f2.boxes_xyxy[1], [90 + 200 + 2, 42, 392, 342])
    np.testing.assert_array_equal(f2.box_scores, [2.5, 1.5])  # AlphaPose proposal scores are kept as they are


def test_openpose_body25_dir_maps_to_halpe26():
    kf = read_keypoint_file(ASSETS / "openpose_body25")
    assert kf.format == "openpose" and kf.skeleton.name == "halpe26" and kf.num_frames == 3
    assert [fp.num_people for fp in kf.frames] == [2, 0, 2]
    assert kf.track_ids is None  # person_id -1
    halpe = get_skeleton("halpe26")
    fp = kf.frames[2]
    for j, name in enumerate(OPENPOSE_BODY25):
        np.testing.assert_array_equal(fp.keypoints_xy[0, halpe.idx(name)], _kp(0, 2, j))
    # head_top from ears and shoulders: 0.75 (ears) - 0.25 (shoulders)
    src = {n: np.array(_kp(0, 2, j)) for j, n in enumerate(OPENPOSE_BODY25)}
    head = 0.75 * (src["left_ear"] + src["right_ear"]) - 0.25 * (src["left_shoulder"] + src["right_shoulder"])
    np.testing.assert_allclose(fp.keypoints_xy[0, halpe.idx("head_top")], head, rtol=1e-6)
    assert fp.keypoint_scores[0, halpe.idx("head_top")] == 0.875
    # the missing right heel (0, 0, 0) stays missing and out of the keypoint box
    rh = halpe.idx("right_heel")
    assert fp.keypoint_scores[1, rh] == 0
    assert fp.boxes_xyxy[1, 0] > 0 and fp.box_scores[1] == pytest.approx(0.875)


def test_openpose_single_file_coco18(tmp_path):
    flat = []
    for j in range(18):
        flat += [*_kp(0, 0, j), 0.5]
    path = _write(
        tmp_path, "img_keypoints.json", {"version": 1.3, "people": [{"person_id": [4], "pose_keypoints_2d": flat}]}
    )
    kf = read_keypoint_file(path)
    assert kf.skeleton.name == "coco17" and kf.num_frames == 1 and kf.track_ids[0].tolist() == [4]
    coco = get_skeleton("coco17")
    # COCO-18 order: nose 0, neck 1, right_shoulder 2 ... right_ear 16, left_ear 17
    np.testing.assert_array_equal(kf.frames[0].keypoints_xy[0, coco.idx("right_shoulder")], _kp(0, 0, 2))
    np.testing.assert_array_equal(kf.frames[0].keypoints_xy[0, coco.idx("left_ear")], _kp(0, 0, 17))


def test_mmpose_demo_frames_start_at_zero_and_bbox_nested():
    kf = read_keypoint_file(ASSETS / "mmpose_demo.json")
    assert kf.format == "mmpose" and kf.skeleton.name == "coco17" and kf.num_frames == 2
    f0, f1 = kf.frames
    assert (f0.num_people, f1.num_people) == (2, 1)
    np.testing.assert_array_equal(f0.boxes_xyxy[1], [295, 45, 395, 345])
    np.testing.assert_array_equal(f1.keypoints_xy[0], _expected_xy(0, 1, 17))
    assert np.all(f0.keypoint_scores == 0.625) and np.all(f0.box_scores == 0.875)


def test_mmpose_inferencer_list_and_single_image(tmp_path):
    inst = {"keypoints": [list(_kp(0, 0, j)) for j in range(26)], "keypoint_scores": [0.5] * 26,
            "bbox": [[1.0, 2.0, 300.0, 400.0]], "bbox_score": 0.9}  # fmt: skip
    kf = read_keypoint_file(
        _write(tmp_path, "v.json", [{"frame_id": 0, "instances": []}, {"frame_id": 1, "instances": [inst]}])
    )
    assert kf.skeleton.name == "halpe26" and [fp.num_people for fp in kf.frames] == [0, 1]
    kf = read_keypoint_file(_write(tmp_path, "img.json", [inst]))
    assert detect_keypoint_format(tmp_path / "img.json") == "mmpose" and kf.frames[0].num_people == 1


def test_image_id_strings_and_halpe136(tmp_path):
    flat = []
    for j in range(136):
        flat += [float(j), float(2 * j), 0.5]
    data = [{"image_id": "frame_000012.png", "keypoints": flat, "score": 1.0, "box": [0, 0, 10, 10], "idx": [3.0]}]
    kf = read_keypoint_file(_write(tmp_path, "ap.json", data))
    assert kf.num_frames == 13 and kf.frames[12].num_people == 1 and all(fp.num_people == 0 for fp in kf.frames[:12])
    assert kf.skeleton.name == "halpe26" and kf.track_ids[12].tolist() == [3]
    np.testing.assert_array_equal(kf.frames[12].keypoints_xy[0, 25], [25, 50])


def test_coco_ground_truth(tmp_path):
    kps = []
    for j in range(17):
        kps += [*_kp(0, 0, j), 2 if j != 5 else 0]
    data = {
        "images": [{"id": 7, "width": 640, "height": 480, "file_name": "7.jpg"}],
        "annotations": [
            {"image_id": 7, "keypoints": kps, "bbox": [10, 20, 30, 40], "iscrowd": 0, "num_keypoints": 16},
            {"image_id": 7, "keypoints": [0] * 51, "bbox": [0, 0, 5, 5], "iscrowd": 1, "num_keypoints": 0},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    kf = read_keypoint_file(_write(tmp_path, "gt.json", data))
    assert kf.format == "coco" and kf.image_size == (640, 480) and kf.frames[7].num_people == 1
    assert kf.frames[7].keypoint_scores[0, 5] == 0 and kf.frames[7].keypoint_scores[0, 0] == 1
    np.testing.assert_array_equal(kf.frames[7].boxes_xyxy[0], [10, 20, 40, 60])


def test_repeated_ids_are_dropped(tmp_path):
    flat = [1.0, 1.0, 0.9] * 17
    data = [
        {"image_id": 0, "keypoints": flat, "score": 1, "idx": 0},
        {"image_id": 0, "keypoints": flat, "score": 1, "idx": 0},
    ]
    assert read_keypoint_file(_write(tmp_path, "dup.json", data)).track_ids is None


def test_infer_image_size():
    kf = read_keypoint_file(ASSETS / "coco_results.json")
    w, h = infer_image_size(kf.frames)
    assert w == int(np.ceil(_kp(1, 0, 16)[0])) and h == int(np.ceil(_kp(0, 1, 16)[1]))


@pytest.mark.parametrize(
    "content, match",
    [
        ('[{"image_id": 0, ', "malformed JSON"),
        ("[]", "empty list"),
        (json.dumps([{"image_id": 0, "keypoints": [1.0, 2.0, 0.5] * 18, "score": 1}]), "18 keypoints"),
        (json.dumps([{"image_id": 0, "keypoints": [1.0, 2.0] * 17, "score": 1}]), "not a multiple of 3"),
        (json.dumps({"frames": []}), "unknown keypoint format"),
        (json.dumps([1, 2, 3]), "unknown keypoint format"),
        (json.dumps("hello"), "unknown keypoint format"),
        (json.dumps([{"image_id": "abc.jpg", "keypoints": [1.0, 2.0, 0.5] * 17}]), "no frame number"),
        (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 60}]}), "expected 75"),
        (
            json.dumps({"instance_info": [{"frame_id": 1, "instances": [{"keypoints": [[1, 2]] * 17}]}]}),
            "keypoint_scores",
        ),
        (json.dumps([{"image_id": 0, "keypoints": ["a", "b", "c"] * 17}]), "non-numeric"),
    ],
)
def test_errors_are_one_line_and_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(KeypointFileError, match=match) as info:
        read_keypoint_file(path)
    assert "\n" not in str(info.value) and "bad.json" in str(info.value)


def test_missing_file_and_empty_dir(tmp_path):
    with pytest.raises(KeypointFileError, match="does not exist"):
        read_keypoint_file(tmp_path / "nope.json")
    with pytest.raises(KeypointFileError, match="_keypoints.json"):
        detect_keypoint_format(tmp_path)


def test_openpose_single_file_without_people_is_empty_halpe26(tmp_path):
    # was a KeyError ("unknown skeleton None"); a directory of such files already read as empty halpe26
    kf = read_keypoint_file(_write(tmp_path, "img_keypoints.json", {"version": 1.3, "people": []}))
    assert kf.format == "openpose" and kf.skeleton.name == "halpe26" and kf.num_frames == 0
