"""mbcli.motion JSON: round trips, the JSON Schema, minimal hand-written inputs, and one-line errors on malformed
files; version 2's world blocks (round trip, schema, errors) and version 1 files (tests/assets/motion_v1.json, written
by the version-1 writer of commit dcc931e) still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbcli.errors import ExportError, KeypointFileError
from mbcli.export import write_atomic
from mbcli.export.json_motion import (
    ROOT_FLAGS,
    SCHEMA_PATH,
    WORLD_FRAME,
    motion_to_dict,
    read_motion_json,
    write_motion_json,
)
from mbcli.skeletons import SKELETONS
from mbcli.types import Floor, Intrinsics, Keypoints2D, MotionResult, Pose3D, Scene, VideoInfo, WorldPose
from mbcli.world.trajectory import AT_EDGE, FAR, FEW_JOINTS

VIDEO = VideoInfo("clips/walk.mp4", 1920, 1080, 30.0, 40)
V1_FILE = Path(__file__).parent / "assets" / "motion_v1.json"
SCENE = Scene(Intrinsics(1662.8, 1662.8, 960.0, 540.0, "prior"),
              Floor(np.array([0.0, -0.96, 0.28]), 1.52, "feet", samples=80, inliers=71))


def make_result(track_id=0, T=12, start=3, skeleton2d="h36m17", with_3d=True, seed=0, video=VIDEO):
    rng = np.random.default_rng(seed)
    J2 = SKELETONS[skeleton2d].num_joints
    xy = rng.uniform(0, 1000, (T, J2, 2))
    scores = rng.uniform(0.2, 1.0, (T, J2))
    xy[1, 2] = np.nan  # one unknown point
    scores[1, 2] = 0.0
    frames = np.arange(start, start + T)
    k2d = Keypoints2D(xy, scores, frames, skeleton2d, (1920, 1080), 30.0)
    pose = Pose3D(rng.normal(0, 0.3, (T, 17, 3)), "h36m17", frames, 30.0) if with_3d else None
    return MotionResult(video, track_id, k2d, pose)


def with_world(r: MotionResult, seed=0) -> MotionResult:
    """``r`` with a WorldPose for its frames."""
    rng = np.random.default_rng(seed)
    T = r.keypoints_2d.num_frames
    world = WorldPose(rng.normal(0, 1, (T, 17, 3)), rng.normal(0, 1, (T, 3)) + [0, 0, 4],
                      rng.integers(0, 8, T), rng.random((T, 2)) > 0.5, 1.07)
    return MotionResult(r.video, r.track_id, r.keypoints_2d, r.pose_3d, world)


@pytest.fixture()
def schema():
    return json.loads(SCHEMA_PATH.read_text())


def validate(doc, schema):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_round_trip(tmp_path, schema):
    results = [make_result(0), make_result(7, T=5, start=20, with_3d=False, seed=1)]
    path = write_motion_json(results, VIDEO, tmp_path / "motion.json", weights="motionbert-lite")
    doc = json.loads(path.read_text())
    validate(doc, schema)
    assert doc["format"] == "mbcli.motion" and doc["version"] == 2 and doc["num_frames"] == 40
    assert "world" not in doc and all("world" not in p for p in doc["people"])
    assert doc["video"] == {"path": "clips/walk.mp4", "width": 1920, "height": 1080}
    assert "image_size" not in doc and "keypoints_2d_skeleton" not in doc
    assert doc["coords"] == {"units": "m", "frame": "camera", "up": "-y", "forward": "+z", "handedness": "right",
                             "root_relative": True}
    assert doc["generator"]["weights"] == "motionbert-lite"
    assert "keypoints_3d" not in doc["people"][1]
    assert np.asarray(doc["people"][0]["keypoints_2d"], dtype=float).shape == (12, 17, 3)  # one np.asarray call

    kps, poses, meta = read_motion_json(path)
    assert meta["track_ids"] == [0, 7] and meta["fps"] == 30.0 and meta["num_frames"] == 40
    assert meta["image_size"] == (1920, 1080) and meta["skeleton"] == "h36m17"
    assert meta["world"] is None and meta["scene"] is None and meta["world_people"] == [None, None]
    assert poses[1] is None
    for r, k in zip(results, kps):
        np.testing.assert_array_equal(k.frame_indices, r.keypoints_2d.frame_indices)
        np.testing.assert_allclose(k.xy, r.keypoints_2d.xy, atol=0.005 + 1e-9)  # NaN where unknown, both sides
        np.testing.assert_allclose(k.scores, r.keypoints_2d.scores, atol=5e-4 + 1e-9)
        assert k.skeleton.name == "h36m17" and k.image_size == (1920, 1080) and k.fps == 30.0
    np.testing.assert_allclose(poses[0].xyz, results[0].pose_3d.xyz, atol=5e-6 + 1e-7)
    assert poses[0].frame == "camera" and poses[0].units == "m" and poses[0].root_relative


def test_numbers_are_rounded(tmp_path):
    doc = motion_to_dict([make_result()], VIDEO)
    x, y, s = doc["people"][0]["keypoints_2d"][0][0]
    assert x == round(x, 2) and y == round(y, 2) and s == round(s, 3)
    assert all(v == round(v, 5) for v in doc["people"][0]["keypoints_3d"][0][0])
    assert doc["people"][0]["keypoints_2d"][1][2] == [None, None, 0.0]


def test_keypoint_file_input_and_other_2d_skeleton(tmp_path, schema):
    """No video: image_size on top; a COCO 2D skeleton next to the h36m17 3D one."""
    r = make_result(skeleton2d="coco17", video=None)
    path = write_motion_json([r], None, tmp_path / "m.json")
    doc = json.loads(path.read_text())
    validate(doc, schema)
    assert doc["video"] is None and doc["image_size"] == [1920, 1080] and doc["num_frames"] == 15
    assert doc["keypoints_2d_skeleton"]["name"] == "coco17" and doc["skeleton"]["name"] == "h36m17"
    kps, poses, meta = read_motion_json(path)
    assert kps[0].skeleton.name == "coco17" and poses[0].skeleton.name == "h36m17"
    assert meta["video"] is None and meta["keypoints_2d_skeleton"] == "coco17"


def test_minimal_hand_written_file(tmp_path, schema):
    doc = {
        "format": "mbcli.motion",
        "version": 1,
        "image_size": [640, 480],
        "skeleton": {"name": "coco17"},
        "people": [{"keypoints_2d": np.full((4, 17, 3), 0.5).tolist()}],
    }
    validate(doc, schema)
    path = tmp_path / "min.json"
    path.write_text(json.dumps(doc))
    kps, poses, meta = read_motion_json(path)
    assert poses == [None] and meta["track_ids"] == [0] and meta["fps"] == 30.0 and meta["num_frames"] == 4
    assert kps[0].skeleton.name == "coco17" and kps[0].image_size == (640, 480)
    np.testing.assert_array_equal(kps[0].frame_indices, np.arange(4))


def test_file_with_only_a_2d_skeleton(tmp_path):
    """"skeleton" may be null when "keypoints_2d_skeleton" is given, as long as no person has keypoints_3d."""
    doc = motion_to_dict([make_result(skeleton2d="coco17", with_3d=False)], VIDEO)
    doc["keypoints_2d_skeleton"], doc["skeleton"] = doc["skeleton"], None
    path = tmp_path / "2d.json"
    path.write_text(json.dumps(doc))
    kps, poses, meta = read_motion_json(path)
    assert poses == [None] and kps[0].skeleton.name == "coco17"
    assert meta["skeleton"] == meta["keypoints_2d_skeleton"] == "coco17"
    doc["people"][0]["keypoints_3d"] = np.zeros((12, 17, 3)).tolist()
    doc["coords"] = {"units": "m", "frame": "camera", "root_relative": True}
    path.write_text(json.dumps(doc))
    with pytest.raises(KeypointFileError, match='keypoints_3d but the file names no 3D "skeleton"'):
        read_motion_json(path)


def test_schema_lists_every_skeleton(schema):
    assert set(schema["$defs"]["skeleton"]["properties"]["name"]["enum"]) == set(SKELETONS)


def good_doc():
    return motion_to_dict([make_result(T=3)], VIDEO)


def _set(path_keys, value):
    def mutate(doc):
        target = doc
        for k in path_keys[:-1]:
            target = target[k]
        if value is KeyError:
            del target[path_keys[-1]]
        else:
            target[path_keys[-1]] = value
        return doc

    return mutate


MALFORMED = {
    "format": (_set(["format"], "coco"), "format"),
    "no format": (_set(["format"], KeyError), "format"),
    "version": (_set(["version"], 3), "reads versions 1, 2"),
    "version text": (_set(["version"], "2"), "version"),
    "no people": (_set(["people"], KeyError), "people"),
    "no size": (lambda d: _set(["video"], None)(d), "image_size"),
    "bad video": (_set(["video", "width"], -5), "video.width"),
    "skeleton": (_set(["skeleton", "name"], "smplx55"), "unknown"),
    "joints": (_set(["skeleton", "joints"], ["a"] * 17), "joints"),
    "shape": (lambda d: _set(["people", 0, "keypoints_2d"], [[[1, 2, 3]] * 16] * 3)(d), "shape"),
    "ragged": (lambda d: _set(["people", 0, "keypoints_2d", 0, 0], [1, 2])(d), "ragged"),
    "text": (_set(["people", 0, "keypoints_2d"], "abc"), "shape"),
    "3d shape": (lambda d: _set(["people", 0, "keypoints_3d"], [[[0, 0, 0]] * 17] * 2)(d), "keypoints_3d"),
    "3d null": (lambda d: _set(["people", 0, "keypoints_3d", 0, 0, 0], None)(d), "non-finite"),
    "null score": (lambda d: _set(["people", 0, "keypoints_2d", 0, 0, 2], None)(d), "score"),
    "null xy": (lambda d: _set(["people", 0, "keypoints_2d", 0, 0, 0], None)(d), "null x/y"),
    "frames order": (_set(["people", 0, "frame_indices"], [3, 2, 4]), "increasing"),
    "frames float": (_set(["people", 0, "frame_indices"], [0.5, 1, 2]), "integers"),
    "frames count": (_set(["people", 0, "frame_indices"], [0, 1]), "frame_indices"),
    "track id": (lambda d: d | {"people": d["people"] * 2}, "used twice"),
    "coords": (_set(["coords"], KeyError), "coords"),
    "units": (_set(["coords", "units"], "ft"), "units"),
    "fps": (_set(["fps"], 0), "fps"),
    "num_frames": (_set(["num_frames"], 2), "num_frames"),
    "top level": (lambda d: [d], "object"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_raise_one_line_errors(tmp_path, case):
    mutate, needle = MALFORMED[case]
    check_one_line_error(tmp_path, mutate(good_doc()), needle)


def check_one_line_error(tmp_path, doc, needle):
    """Reading ``doc`` raises a KeypointFileError: one line naming the file and containing ``needle``."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(KeypointFileError) as info:
        read_motion_json(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and needle in message


@pytest.mark.parametrize("text", ["{not json", '{"format": "mbcli.motion", "version": 1, "fps": NaN}', ""])
def test_unparseable_files(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(KeypointFileError, match="JSON"):
        read_motion_json(path)
    with pytest.raises(KeypointFileError, match="cannot read"):
        read_motion_json(tmp_path / "missing.json")


def test_nan_token_inside_arrays_is_rejected(tmp_path):
    text = json.dumps(good_doc(), separators=(",", ":")).replace('"keypoints_3d":[[[', '"keypoints_3d":[[[NaN,', 1)
    path = tmp_path / "nan.json"
    path.write_text(text)
    with pytest.raises(KeypointFileError, match="NaN"):
        read_motion_json(path)


def test_writer_errors(tmp_path):
    r = make_result(T=3)
    bad_units = MotionResult(VIDEO, 0, r.keypoints_2d, Pose3D(r.pose_3d.xyz, "h36m17", [3, 4, 5], 30.0, units="ft"))
    shifted = MotionResult(VIDEO, 0, r.keypoints_2d, Pose3D(r.pose_3d.xyz, "h36m17", [0, 1, 2], 30.0))
    nan = r.pose_3d.xyz.copy()
    nan[0, 0, 0] = np.nan
    cases = [
        ([bad_units], VIDEO, "units"),
        ([shifted], VIDEO, "frame_indices"),
        ([MotionResult(VIDEO, 0, r.keypoints_2d, Pose3D(nan, "h36m17", [3, 4, 5], 30.0))], VIDEO, "non-finite"),
        ([], None, "nothing"),
        ([r, r], VIDEO, "unique"),
        ([r, make_result(1, skeleton2d="coco17")], VIDEO, "2D skeleton"),
    ]
    for results, video, needle in cases:
        with pytest.raises(ExportError, match=needle):
            write_motion_json(results, video, tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_empty_people_with_video(tmp_path, schema):
    path = write_motion_json([], VIDEO, tmp_path / "empty.json")
    validate(json.loads(path.read_text()), schema)
    kps, poses, meta = read_motion_json(path)
    assert kps == [] and poses == [] and meta["num_frames"] == 40


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="cannot write"):
        write_atomic(blocker / "sub" / "x.json", "data")
    with pytest.raises(ExportError, match="cannot write"):
        write_atomic(tmp_path / "out.json" / "x", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out.json"]


# ------------------------------------------------------------------------------------------- version 2: world


def test_world_round_trip(tmp_path, schema):
    results = [with_world(make_result(0)), make_result(7, T=5, start=20, seed=1)]
    path = write_motion_json(results, VIDEO, tmp_path / "w.json", scene=SCENE)
    doc = json.loads(path.read_text())
    validate(doc, schema)
    floor = SCENE.floor
    assert doc["version"] == 2 and doc["world"]["frame"] == WORLD_FRAME
    assert doc["world"]["camera"] == {"fx": 1662.8, "fy": 1662.8, "cx": 960.0, "cy": 540.0, "focal_source": "prior",
                                      "R_cam_to_world": floor.R_cam_to_world.tolist(),
                                      "position_world": [0.0, 1.52, 0.0]}
    assert doc["world"]["floor"] == {"up_camera": floor.up.tolist(), "camera_height_m": 1.52, "method": "feet",
                                     "note": "", "tilt_deg": round(floor.tilt_deg, 3)}
    w = doc["people"][0]["world"]
    assert set(w) == {"keypoints_3d", "root_camera", "root_flags", "foot_contact", "scale"}
    assert all(v == round(v, 5) for v in w["keypoints_3d"][0][0]) and "world" not in doc["people"][1]
    assert w["root_flags"] == results[0].world.root_flags.tolist() and w["scale"] == pytest.approx(1.07)
    assert w["foot_contact"] == results[0].world.contacts.astype(int).tolist()
    # the version-1 fields are those written without a scene
    plain = motion_to_dict([make_result(0), make_result(7, T=5, start=20, seed=1)], VIDEO)
    keys = list(plain)
    assert list(doc) == keys[: keys.index("generator")] + ["world"] + keys[keys.index("generator") :]
    assert {k: v for k, v in doc.items() if k not in ("world", "people")} == {k: v for k, v in plain.items()
                                                                          if k != "people"}
    assert [{k: v for k, v in p.items() if k != "world"} for p in doc["people"]] == plain["people"]

    kps, poses, meta = read_motion_json(path)
    assert meta["world"] == doc["world"] and meta["world_people"][1] is None
    scene = meta["scene"]
    assert scene.camera == SCENE.camera and scene.floor.method == "feet" and scene.floor.height_m == 1.52
    np.testing.assert_array_equal(scene.floor.R_cam_to_world, floor.R_cam_to_world)
    got, want = meta["world_people"][0], results[0].world
    np.testing.assert_allclose(got.joints_world, want.joints_world, atol=5e-6 + 1e-7)
    np.testing.assert_allclose(got.root_cam, want.root_cam, atol=5e-6 + 1e-7)
    np.testing.assert_array_equal(got.root_flags, want.root_flags)
    np.testing.assert_array_equal(got.contacts, want.contacts)
    assert got.scale == pytest.approx(1.07) and poses[0].frame == "camera" and poses[0].root_relative


def test_scene_without_world_people_and_npz_shared_header(tmp_path, schema):
    """A scene alone (nobody placed) still writes the top-level block; a level-camera floor keeps its note."""
    scene = Scene(Intrinsics(900.0, 900.0, 320.0, 240.0, "focal"),
                  Floor(np.array([0.0, -1.0, 0.0]), 1.6, "level-camera", note="too few planted feet"))
    path = write_motion_json([make_result(0)], VIDEO, tmp_path / "s.json", scene=scene)
    doc = json.loads(path.read_text())
    validate(doc, schema)
    assert doc["world"]["floor"]["note"] == "too few planted feet" and doc["world"]["floor"]["tilt_deg"] == 0.0
    _, _, meta = read_motion_json(path)
    assert meta["scene"].floor.method == "level-camera" and meta["world_people"] == [None]


def test_version_1_file_still_reads():
    """tests/assets/motion_v1.json was written by the version-1 writer (commit dcc931e)."""
    doc = json.loads(V1_FILE.read_text())
    assert doc["version"] == 1
    kps, poses, meta = read_motion_json(V1_FILE)
    assert meta["track_ids"] == [1, 4] and meta["fps"] == 25.0 and meta["num_frames"] == 10
    assert meta["world"] is None and meta["scene"] is None and meta["world_people"] == [None, None]
    assert poses[1] is None and poses[0].xyz.shape == (4, 17, 3) and poses[0].frame == "camera"
    np.testing.assert_array_equal(kps[1].frame_indices, [7, 9])
    assert np.isnan(kps[0].xy[2, 5]).all() and kps[0].scores[2, 5] == 0
    np.testing.assert_allclose(poses[0].xyz, doc["people"][0]["keypoints_3d"], atol=1e-7)


def test_version_1_file_is_valid_against_the_schema(schema):
    validate(json.loads(V1_FILE.read_text()), schema)


def test_schema_rejects_world_blocks_out_of_place(schema):
    jsonschema = pytest.importorskip("jsonschema")
    doc = motion_to_dict([with_world(make_result(0, T=3))], VIDEO, scene=SCENE)
    validate(doc, schema)
    bad_v1 = doc | {"version": 1}
    lone = {k: v for k, v in doc.items() if k != "world"}
    bad_flags = json.loads(json.dumps(doc))
    bad_flags["people"][0]["world"]["foot_contact"][0] = [0, 2]
    for bad in (bad_v1, lone, bad_flags):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(bad)


def test_root_flag_legend_matches_the_trajectory_flags(schema):
    assert ROOT_FLAGS.keys() == {FEW_JOINTS, AT_EDGE, FAR}
    legend = schema["properties"]["people"]["items"]["properties"]["world"]["properties"]["root_flags"]["description"]
    assert all(f"{bit} " in legend for bit in ROOT_FLAGS)


def world_doc():
    return motion_to_dict([with_world(make_result(T=3))], VIDEO, scene=SCENE)


WORLD_MALFORMED = {
    "world in v1": (_set(["version"], 1), '"world" needs "version" 2'),
    "not an object": (_set(["world"], [1]), '"world" must be an object'),
    "no camera": (_set(["world", "camera"], KeyError), "world.camera"),
    "fx": (_set(["world", "camera", "fx"], 0), "world.camera.fx"),
    "focal source": (_set(["world", "camera", "focal_source"], 3), "focal_source"),
    "rotation": (_set(["world", "camera", "R_cam_to_world", 0], [1, 0, 0.5]), "does not match"),
    "position": (_set(["world", "camera", "position_world"], [0, 2, 0]), "position_world"),
    "up": (_set(["world", "floor", "up_camera"], [0, -2, 0]), "unit vector"),
    "up null": (_set(["world", "floor", "up_camera"], [0, None, 0]), "non-finite"),
    "height": (_set(["world", "floor", "camera_height_m"], "high"), "camera_height_m"),
    "method": (_set(["world", "floor", "method"], None), "method"),
    "lone person world": (_set(["world"], KeyError), 'needs the top-level "world"'),
    "shape": (_set(["people", 0, "world", "keypoints_3d"], [[[0, 0, 0]] * 17] * 2), "world.keypoints_3d"),
    "null joint": (_set(["people", 0, "world", "keypoints_3d", 0, 0, 0], None), "non-finite"),
    "root": (_set(["people", 0, "world", "root_camera"], [[0, 0]] * 3), "root_camera"),
    "flags": (_set(["people", 0, "world", "root_flags"], [0, 1.5, 0]), "root_flags"),
    "flags range": (_set(["people", 0, "world", "root_flags"], [0, 256, 0]), "root_flags"),
    "contact": (_set(["people", 0, "world", "foot_contact", 1], [0, 2]), "0 or 1"),
    "scale": (_set(["people", 0, "world", "scale"], 0), "scale"),
    "no 3d": (_set(["people", 0, "keypoints_3d"], KeyError), "needs the person's keypoints_3d"),
}


@pytest.mark.parametrize("case", list(WORLD_MALFORMED))
def test_malformed_world_blocks_raise_one_line_errors(tmp_path, case):
    mutate, needle = WORLD_MALFORMED[case]
    check_one_line_error(tmp_path, mutate(world_doc()), needle)


def test_world_writer_errors(tmp_path):
    r = make_result(T=3)
    placed = with_world(r)
    short = MotionResult(VIDEO, 0, r.keypoints_2d, r.pose_3d,
                         WorldPose(np.zeros((2, 17, 3)), np.zeros((2, 3)), [0, 0], np.zeros((2, 2))))
    cases = [
        ([placed], None, "no scene"),
        ([MotionResult(VIDEO, 0, r.keypoints_2d, None, placed.world)], SCENE, "without a 3D pose"),
        ([short], SCENE, "do not match"),
    ]
    for results, scene, needle in cases:
        with pytest.raises(ExportError, match=needle):
            write_motion_json(results, VIDEO, tmp_path / "x.json", scene=scene)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("skeleton", [None, "coco17", {"name": "h36m17"}])
def test_the_readmes_minimal_file_reads(tmp_path, skeleton):
    kp = np.concatenate([np.random.default_rng(0).uniform(100, 400, (12, 17, 2)), np.ones((12, 17, 1))], -1)
    doc = {"format": "mbcli.motion", "image_size": [640, 480], "people": [{"keypoints_2d": kp.tolist()}]}
    if skeleton is not None:
        doc["skeleton"] = skeleton
    path = tmp_path / "minimal.json"
    path.write_text(json.dumps(doc))
    kps, poses, meta = read_motion_json(path)
    want = "coco17" if skeleton == "coco17" else "h36m17"
    assert kps[0].skeleton.name == want and kps[0].xy.shape == (12, 17, 2) and poses == [None]
    assert meta["image_size"] == (640, 480) and meta["track_ids"] == [0]


def test_notes_are_written_and_read_back(tmp_path):
    kp = Keypoints2D(np.full((3, 17, 2), 100.0), np.ones((3, 17)), np.arange(3), "h36m17", (640, 480), 25.0)
    path = write_motion_json([MotionResult(None, 0, kp, None)], None, tmp_path / "n.json",
                             notes=["the video ended early", "nobody was seen in 2 of 5 frames"])
    doc = json.loads(path.read_text())
    assert doc["notes"] == ["the video ended early", "nobody was seen in 2 of 5 frames"]
    assert read_motion_json(path)[2]["notes"] == doc["notes"]
    quiet = write_motion_json([MotionResult(None, 0, kp, None)], None, tmp_path / "q.json")
    assert "notes" not in json.loads(quiet.read_text()) and read_motion_json(quiet)[2]["notes"] == []
    doc["notes"] = "not a list"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(KeypointFileError, match='"notes" must be a list of strings'):
        read_motion_json(tmp_path / "bad.json")
