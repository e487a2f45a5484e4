"""Fuzz tier, readers: every keypoint reader (detect/files.py for COCO, AlphaPose, OpenPose files and folders and
MMPose; export/json_motion.read_motion_json for mbcli.motion v1/v2; pipeline/inputs for the dispatch and the people
read from them) on generated inputs, malformed and odd but valid (tests/fuzz_inputs.py). The contract: a result whose
arrays have the documented shapes and are finite where they must be, or an MbcliError with a one-line message;
never another exception, never a hang. The examples found by the fuzzing are kept below as plain tests."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_inputs import examples, keypoint_input, motion_doc, time_limit
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mbcli.detect.files import KEYPOINT_FORMATS, KeypointFile, read_keypoint_file
from mbcli.errors import MbcliError
from mbcli.export.json_motion import read_motion_json
from mbcli.pipeline.inputs import People, input_kind, read_people
from mbcli.types import Keypoints2D

LIMIT_S = 20.0  # one input, read: far above what any takes; a reader that loops forever fails here


def _one_line(e: MbcliError) -> None:
    text = str(e)
    assert text and "\n" not in text and len(text) < 2000, repr(text)


def _check_keypoint_file(kf: KeypointFile) -> None:
    assert kf.format in KEYPOINT_FORMATS
    K = kf.skeleton.num_joints
    assert kf.num_frames == len(kf.frames)
    for i, fp in enumerate(kf.frames):
        N = fp.num_people
        assert fp.frame_index == i and fp.skeleton == kf.skeleton
        assert fp.keypoints_xy.shape == (N, K, 2) and fp.keypoint_scores.shape == (N, K) and fp.box_scores.shape == (N,)
        for a in (fp.boxes_xyxy, fp.box_scores, fp.keypoints_xy, fp.keypoint_scores):
            assert np.isfinite(a).all()
        assert (fp.boxes_xyxy[:, 2] > fp.boxes_xyxy[:, 0]).all() and (fp.boxes_xyxy[:, 3] > fp.boxes_xyxy[:, 1]).all()
    if kf.track_ids is not None:
        assert len(kf.track_ids) == kf.num_frames
        for fp, ids in zip(kf.frames, kf.track_ids):
            assert ids.dtype == np.int64 and ids.shape == (fp.num_people,)
            assert (ids >= 0).all() and len(set(ids.tolist())) == len(ids)
    if kf.image_size is not None:
        assert all(isinstance(v, int) and v > 0 for v in kf.image_size)


def _check_keypoints(k: Keypoints2D) -> None:
    T, J = k.num_frames, k.skeleton.num_joints
    assert k.xy.shape == (T, J, 2) and k.scores.shape == (T, J) and k.frame_indices.shape == (T,)
    assert np.isfinite(k.scores).all() and np.isfinite(k.xy[k.scores > 0]).all()
    assert (k.frame_indices >= 0).all() and (np.diff(k.frame_indices) > 0).all()
    assert all(isinstance(v, int) and v > 0 for v in k.image_size)
    assert np.isfinite(k.fps) and k.fps > 0


def _check_motion(kps: list, poses: list, meta: dict) -> None:
    assert len(kps) == len(poses) == len(meta["track_ids"])
    assert len(set(meta["track_ids"])) == len(kps)
    for k, p in zip(kps, poses):
        _check_keypoints(k)
        assert int(k.frame_indices[-1]) < meta["num_frames"] if k.num_frames else True
        if p is not None:
            assert p.xyz.shape == (k.num_frames, p.skeleton.num_joints, 3) and np.isfinite(p.xyz).all()
            assert np.array_equal(p.frame_indices, k.frame_indices)
    assert np.isfinite(meta["fps"]) and meta["fps"] > 0


def _check_people(people: People) -> None:
    assert len(people.ids) == len(people.keypoints) == len(people.poses) >= 1
    for k, p in zip(people.keypoints, people.poses):
        assert k.skeleton.name == "h36m17"
        _check_keypoints(k)
        assert p is None or np.isfinite(p.xyz).all()


def _read(path: Path) -> None:
    """The reader the pipeline's dispatch picks for ``path``, its result checked against the contract."""
    kind = input_kind(path)
    if kind == "motion":
        _check_motion(*read_motion_json(path))
    elif kind == "keypoints":
        _check_keypoint_file(read_keypoint_file(path))
    else:  # a .json whose name the dispatch reads as a video (never made here)
        raise AssertionError(f"{path} read as a {kind}")


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_every_reader_gives_a_valid_result_or_one_line_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        written = data.draw(keypoint_input(Path(tmp)), label="input")
        try:
            with time_limit(LIMIT_S):
                _read(written.path)
            event(f"{written.format}: read")
        except MbcliError as e:
            _one_line(e)
            event(f"{written.format}: {type(e).__name__}")


@settings(max_examples=examples(60), deadline=None)
@given(st.data())
def test_people_read_from_any_keypoint_input_are_valid(data):
    """Through the pipeline's read_people: tracking, choosing and remapping the people of a fuzzed file."""
    with tempfile.TemporaryDirectory() as tmp:
        written = data.draw(keypoint_input(Path(tmp)), label="input")
        person = data.draw(st.sampled_from(["all", "largest", "0", "7"]), label="person")
        try:
            with time_limit(LIMIT_S):
                _check_people(read_people(written.path, input_kind(written.path), person=person))
            event(f"{written.format}: people read")
        except MbcliError as e:
            _one_line(e)
            event(f"{written.format}: {type(e).__name__}")


# ------------------------------------------------------------------------------ regression examples found by fuzzing


def _kp(x: float = 300.0, score: float = 0.9, K: int = 17) -> list[float]:
    return [v for j in range(K) for v in (x + 3 * j, 200.0 + 10 * j, score)]


def _motion_doc(T: int = 5, **person) -> dict:
    doc = {"format": "mbcli.motion", "version": 2, "fps": 30, "image_size": [640, 480], "skeleton": {"name": "h36m17"},
           "people": [{"track_id": 0, "keypoints_2d": [[[300.0 + j, 200.0 + j, 0.9] for j in range(17)]] * T}]}
    doc["people"][0].update(person)
    return doc


def _expect_error(tmp_path: Path, text: str, needle: str, people: bool = False) -> None:
    path = tmp_path / "kp.json"
    path.write_text(text)
    with pytest.raises(MbcliError, match=needle) as e:
        if people:
            read_people(path, input_kind(path))
        else:
            _read(path)
    _one_line(e.value)


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,  # RecursionError
    '{"people": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"format": "mbcli.motion", "people": ' + "[" * 100_000 + "]" * 100_000 + "}",
], ids=["list", "openpose", "motion"])
def test_json_nested_too_deeply(tmp_path, text):
    _expect_error(tmp_path, text, "nested too deeply|not valid JSON")


def test_integer_of_more_digits_than_python_reads(tmp_path):  # ValueError (int max str digits)
    _expect_error(tmp_path, '[{"image_id": 1' + "0" * 5000 + ', "keypoints": []}]', "malformed JSON")


@pytest.mark.parametrize("entry", [
    {"image_id": 0, "keypoints": [10**400, *_kp()[1:]]},  # OverflowError converting to float
    {"image_id": 0, "keypoints": _kp(), "bbox": [0, 0, 10**400, 5]},
])
def test_integers_too_large_for_a_float(tmp_path, entry):
    _expect_error(tmp_path, json.dumps([entry]), "non-numeric")


def test_image_id_too_large_for_a_float(tmp_path):  # OverflowError in float(image_id)
    _expect_error(tmp_path, json.dumps([{"image_id": 10**400, "keypoints": _kp(), "score": 1}]), "not frame numbers")


@pytest.mark.parametrize("tid", [10**30, 2**63, 1e300])
def test_track_ids_beyond_int64_are_not_used(tmp_path, tid):  # OverflowError making the int64 id arrays
    path = tmp_path / "ap.json"
    path.write_text(json.dumps([{"image_id": i, "keypoints": _kp(), "score": 1, "idx": tid} for i in range(3)]))
    kf = read_keypoint_file(path)
    assert kf.format == "alphapose" and kf.track_ids is None and kf.num_frames == 3


@pytest.mark.parametrize("images", [None, 3, [{"id": 0, "width": [640], "height": 480}], [{"width": True, "height": 2}],
                                    [{"width": 1e300, "height": 480}]])
def test_coco_ground_truth_with_odd_images(tmp_path, images):  # TypeError: None not iterable, list unhashable
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": images, "annotations": [{"image_id": 0, "keypoints": _kp(score=2)}]}))
    kf = read_keypoint_file(path)
    assert kf.image_size is None and kf.frames[0].num_people == 1


@pytest.mark.parametrize("big", [1e300, 3.5e38, 2e6])
def test_huge_coordinates_and_scores_are_unknown_joints(tmp_path, big):  # inf after the float32 cast; then
    dets = [{"image_id": i, "keypoints": _kp(), "score": 0.9} for i in range(4)]  # OverflowError in tracking
    dets[1]["keypoints"][0] = big
    dets[2]["keypoints"][5] = big  # a score
    dets[3]["keypoints"] = _kp(x=big)  # every x
    dets[3]["bbox"] = [0, 0, big, 10]
    path = tmp_path / "kp.json"
    path.write_text(json.dumps(dets))
    kf = read_keypoint_file(path)
    _check_keypoint_file(kf)
    assert kf.frames[1].keypoint_scores[0, 0] == 0 and kf.frames[2].keypoint_scores[0, 1] == 0
    assert kf.frames[1].keypoint_scores[0, 1] == pytest.approx(0.9)
    assert kf.frames[3].num_people == 0  # no usable joint, no usable box
    _check_people(read_people(path, "keypoints"))


def test_one_visible_joint_gets_a_one_pixel_box(tmp_path):  # a zero-size box: ZeroDivisionError when stitching
    kp = [0.0] * 51
    kp[21:24] = [5.0, 7.0, 2]  # joint 7 only
    anns = [{"image_id": i, "keypoints": kp, "bbox": [0, 0, 0, 0]} for i in (0, 2)]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": [], "annotations": anns}))
    kf = read_keypoint_file(path)
    np.testing.assert_allclose(kf.frames[0].boxes_xyxy[0], [4.5, 6.5, 5.5, 7.5])
    _check_people(read_people(path, "keypoints"))


@pytest.mark.parametrize(("change", "needle"), [
    ({"fps": 10**400}, '"fps" must be a positive number'),  # TypeError in np.isfinite
    ({"fps": 1e39}, '"fps" must be a positive number'),
    ({"num_frames": 10**30}, '"num_frames" must be an integer'),
    ({"image_size": [10**30, 480]}, r'"image_size\[0\]" must be an integer'),
    ({"fps": 1e30}, '"fps" must be from 0.01 to 10000'),  # TypeError later, when lifted (pad_width)
    ({"fps": 1e-300}, '"fps" must be from 0.01 to 10000'),  # ZeroDivisionError later, when lifted
])
def test_motion_numbers_out_of_range(tmp_path, change, needle):
    _expect_error(tmp_path, json.dumps({**_motion_doc(), **change}), needle)


@pytest.mark.parametrize(("person", "needle"), [
    ({"keypoints_2d": [[[1e300, 1.0, 0.9]] * 17] * 5}, "null x/y with a score above 0"),  # ValueError (float32)
    ({"keypoints_2d": [[[10**400, 1.0, 0.9]] * 17] * 5}, "ragged or non-numeric"),  # OverflowError
    ({"frame_indices": [0, 1, 2, 3, 1e300]}, "frame_indices must be non-negative integers below"),  # int64 garbage
    ({"frame_indices": [0, 1, 2, 3, 10**8]}, "frame_indices must be non-negative integers below"),
    ({"track_id": 10**30}, "track_id"),
])
def test_motion_people_out_of_range(tmp_path, person, needle):
    _expect_error(tmp_path, json.dumps(_motion_doc(**person)), needle, people=True)


def test_motion_world_block_beyond_float32(tmp_path):  # ValueError from WorldPose (inf after the float32 cast)
    doc = motion_doc(0, people=1, T=3, world=True)
    doc["people"][0]["world"]["keypoints_3d"][0][0][0] = 1e300
    _expect_error(tmp_path, json.dumps(doc), "world.keypoints_3d\" has null or non-finite values")


@pytest.mark.parametrize("doc", [[{"image_id": 0, "keypoints": _kp(), "score": 1}], _motion_doc()],
                         ids=["coco", "motion"])
def test_a_byte_order_mark_is_allowed(tmp_path, doc):  # "malformed JSON (Unexpected UTF-8 BOM)"
    path = tmp_path / "kp.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    _read(path)
