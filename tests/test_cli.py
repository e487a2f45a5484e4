"""The CLI end to end (typer's CliRunner): error paths give one line and exit 1 with no output left behind; a
keypoint-file input and a real video run through every stage."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from cli_checks import assert_one_line_error
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.skeletons import H36M17
from mbcli.video import VideoWriter

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sports2d_640.mp4"
runner = CliRunner()



def _run(args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


def _assert_clean_failure(result, out: Path, pattern: str) -> None:
    assert_one_line_error(result, pattern)
    assert not out.exists() or not any(out.iterdir())
    leftovers = [p for p in out.parent.iterdir() if p.name.endswith(".partial")]
    assert not leftovers


def test_missing_input(tmp_path, tiny_weights):
    out = tmp_path / "out"
    r = _run(["lift", str(tmp_path / "nope.mp4"), "--out", str(out), "--weights", str(tiny_weights)])
    _assert_clean_failure(r, out, "no such file")


def test_text_file_renamed_mp4(tmp_path, tiny_weights):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 20)
    out = tmp_path / "out"
    r = _run(["lift", str(bad), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
    _assert_clean_failure(r, out, "not a readable video")


def test_empty_file(tmp_path, tiny_weights):
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    out = tmp_path / "out"
    r = _run(["lift", str(bad), "--out", str(out), "--weights", str(tiny_weights)])
    _assert_clean_failure(r, out, "empty")


def test_zero_frame_video(tmp_path, tiny_weights):
    path = tmp_path / "zero.mp4"
    with av.open(str(path), "w") as c:  # a valid mp4 container holding no frame
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    assert path.is_file()
    out = tmp_path / "out"
    r = _run(["lift", str(path), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
    _assert_clean_failure(r, out, "has no video")


def test_video_with_no_person(tmp_path, tiny_weights):
    path = tmp_path / "wall.mp4"
    with VideoWriter(path, fps=30) as w:
        for i in range(8):
            w.write(np.full((240, 320, 3), 90 + i, np.uint8))
    out = tmp_path / "out"
    r = _run(["lift", str(path), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
    _assert_clean_failure(r, out, "no person")


def test_malformed_json(tmp_path, tiny_weights):
    bad = tmp_path / "kp.json"
    bad.write_text('{"format": "mbcli.motion", "version": 1, "people": [{"keypoints_2d": [[1, 2]]')
    out = tmp_path / "out"
    r = _run(["lift", str(bad), "--out", str(out), "--weights", str(tiny_weights)])
    _assert_clean_failure(r, out, "json")


def test_unknown_format_value(tmp_path, tiny_weights):
    out = tmp_path / "out"
    r = _run(["lift", str(SAMPLE), "--out", str(out), "--formats", "json,fbx", "--weights", str(tiny_weights)])
    _assert_clean_failure(r, out, "unknown output format 'fbx'")


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02garbage")
    out = tmp_path / "out"
    r = _run(["lift", str(SAMPLE), "--out", str(out), "--weights", str(bad)])
    _assert_clean_failure(r, out, "cannot read checkpoint")


def _minimal_motion_json(path: Path, T: int = 40) -> None:
    t = np.arange(T)[:, None]
    base = np.array([[0, 0], [-15, 0], [-15, 45], [-15, 90], [15, 0], [15, 45], [15, 90], [0, -25], [0, -50],
                     [0, -60], [0, -75], [20, -50], [35, -25], [45, 0], [-20, -50], [-35, -25], [-45, 0]], float)
    xy = base[None] * 2 + np.array([300, 200]) + t[..., None] * np.array([1.0, 0])
    kp = np.concatenate([xy, np.ones((T, 17, 1))], -1)
    doc = {"format": "mbcli.motion", "version": 1, "fps": 25, "image_size": [640, 480],
           "skeleton": {"name": "h36m17", "joints": list(H36M17.joints), "parents": list(H36M17.parents)},
           "people": [{"track_id": 3, "keypoints_2d": kp.round(2).tolist()}]}
    path.write_text(json.dumps(doc))


def test_minimal_keypoint_json_to_all_formats(tmp_path, tiny_weights):
    src = tmp_path / "walk.json"
    _minimal_motion_json(src)
    out = tmp_path / "out"
    r = _run(["lift", str(src), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["walk.manifest.json", "walk.motion.json", "walk.motion.npz", "walk.person3.bvh"]  # no overlay
    doc = json.loads((out / "walk.motion.json").read_text())
    assert doc["video"] is None and doc["image_size"] == [640, 480] and doc["fps"] == 25
    k3 = np.asarray(doc["people"][0]["keypoints_3d"])
    assert k3.shape == (40, 17, 3) and np.abs(k3[:, 0]).max() < 1e-4
    assert "no overlay video" in r.output


def test_lifting_twice_gives_identical_output(tmp_path, tiny_weights):
    src = tmp_path / "walk.json"
    _minimal_motion_json(src, 60)
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        r = _run(["lift", str(src), "--out", str(out), "--formats", "json", "--weights", str(tiny_weights)])
        assert r.exit_code == 0, r.output
        doc = json.loads((out / "walk.motion.json").read_text())
        outs.append(doc["people"][0]["keypoints_3d"])
    assert outs[0] == outs[1]


def test_bvh_and_json_agree_on_lifted_output(tmp_path, tiny_weights):
    """The JSON joints of a lift are the BVH skeleton's (both come from one solve): an independent reader (pybvh) of
    the BVH gives them back to the files' rounding (the default export; --raw-3d writes the network output as it
    is)."""
    pybvh = pytest.importorskip("pybvh")
    from mbcli.rig.h36m_rig import JOINT_NAMES, camera_to_bvh

    src = tmp_path / "walk.json"
    _minimal_motion_json(src, 50)
    out = tmp_path / "out"
    for in_place in (False, True):
        out = tmp_path / f"out{in_place}"
        r = _run(["lift", str(src), "--out", str(out), "--formats", "json,bvh", "--weights", str(tiny_weights),
                  *(["--in-place"] if in_place else [])])
        assert r.exit_code == 0, r.output
        person = json.loads((out / "walk.motion.json").read_text())["people"][0]
        bvh = pybvh.read_bvh_file(out / "walk.person3.bvh", world_up="+y")
        names = [n.name for n in bvh.nodes]
        pos = bvh.node_positions(centered="world")[:, [names.index(n) for n in JOINT_NAMES]]
        pos = pos[np.asarray(person["frame_indices"])]  # the BVH runs on the video's timeline
        if in_place:  # root-relative, camera frame turned Y up
            k3 = camera_to_bvh(np.asarray(person["keypoints_3d"]))
            pos = pos - pos[:, :1]
        else:  # the world motion, as in the JSON's world block
            k3 = np.asarray(person["world"]["keypoints_3d"])
        assert np.abs(k3 - pos).max() < 2e-5  # the file's 5 and 6 decimals


def test_bvh_moves_through_the_world_on_the_video_timeline(tmp_path, tiny_weights):
    """A person walking right across the image (1 px per frame, from frame 10 of a 60-frame video) gives a BVH of
    60 frames whose root moves along +X while the first pose is held for frames 0-9; --in-place keeps the root
    still; the JSON says where the camera and the floor are."""
    from mbcli.rig.bvh_io import read_bvh

    src = tmp_path / "walk.json"
    _minimal_motion_json(src, 50)
    doc = json.loads(src.read_text())
    doc["num_frames"] = 60
    doc["people"][0]["frame_indices"] = list(range(10, 60))
    src.write_text(json.dumps(doc))
    roots = {}
    for in_place in (False, True):
        out = tmp_path / f"out{in_place}"
        r = _run(["lift", str(src), "--out", str(out), "--formats", "json,bvh", "--weights", str(tiny_weights),
                  "--focal", "800", "--no-progress", *(["--in-place"] if in_place else [])])
        assert r.exit_code == 0, r.output
        m = read_bvh(out / "walk.person3.bvh")
        assert m.num_frames == 60 and m.frame_time == pytest.approx(1 / 25)
        roots[in_place] = m.frames[:, :3]
    world = roots[False]
    assert np.allclose(world[:10], world[10])  # held before the track starts
    assert world[59, 0] - world[10, 0] > 0.02  # walked right (+X) in the world (an untrained tiny lifter here)
    assert np.ptp(roots[True][:, [0, 2]], axis=0).max() < 1e-6  # in place: no horizontal root motion
    w = json.loads((tmp_path / "outFalse" / "walk.motion.json").read_text())
    assert w["version"] == 2 and w["world"]["camera"]["fx"] == 800 and w["world"]["camera"]["focal_source"] == "focal"
    assert np.asarray(w["people"][0]["world"]["keypoints_3d"]).shape == (50, 17, 3)


@pytest.mark.parametrize("case", ["close-up", "single-frame"])
def test_world_placement_degrades_with_a_note_on_real_video(tmp_path, case):
    """A close-up whose feet are below the frame (the detector's guessed ankles sit at the edge with low scores) and a
    one-frame clip: the real detector and lifter run, the floor falls back to a level camera and says so, nothing is
    NaN, and the BVH is on the video's timeline."""
    from mbcli.rig.bvh_io import read_bvh
    from mbcli.video import iter_frames

    clip = tmp_path / f"{case}.mp4"
    with VideoWriter(clip, 60.0) as w:
        for f, rgb in iter_frames(ROOT / "samples" / "pose2sim_single_360.mp4"):
            if case == "close-up" and f < 60:
                w.write(np.ascontiguousarray(rgb[60:360, 120:360]))  # chest up: the athlete's legs are cut
            elif case == "single-frame" and f == 30:
                w.write(rgb)
    out = tmp_path / "out"
    r = _run(["lift", str(clip), "--out", str(out), "--formats", "json,bvh", "--no-progress"])
    assert r.exit_code == 0, r.output
    doc = json.loads((out / f"{case}.motion.json").read_text())
    floor = doc["world"]["floor"]
    assert floor["method"] == "level-camera" and "assumed level" in floor["note"]
    assert "assumed level" in " ".join(r.output.split())  # the summary says it too
    for person in doc["people"]:
        k3 = np.asarray(person["world"]["keypoints_3d"], dtype=np.float64)
        assert np.isfinite(k3).all() and k3.shape[1:] == (17, 3)
        assert read_bvh(out / f"{case}.person{person['track_id']}.bvh").num_frames == doc["num_frames"]


def test_lift_never_writes_over_its_input_and_a_rerun_replaces_the_set(tmp_path, tiny_weights):
    out = tmp_path / "out"
    src = out / "walk.motion.json"
    out.mkdir()
    _minimal_motion_json(src)
    before = src.read_text()
    r = _run(["lift", str(src), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
    assert_one_line_error(r, "would overwrite the input")
    assert src.read_text() == before and sorted(p.name for p in out.iterdir()) == ["walk.motion.json"]
    moved = tmp_path / "walk.json"
    src.rename(moved)
    r = _run(["lift", str(moved), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
    assert r.exit_code == 0, r.output
    r = _run(["lift", str(moved), "--out", str(out), "--weights", str(tiny_weights), "--no-progress", "--formats",
              "json"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["walk.manifest.json", "walk.motion.json"]  # no stale BVH/NPZ
    blocker = tmp_path / "afile"
    blocker.write_text("")
    r = _run(["lift", str(moved), "--out", str(blocker), "--weights", str(tiny_weights), "--no-progress"])
    assert_one_line_error(r, "is a file, not a folder")


def test_lift_writes_into_another_filesystem(tmp_path, tiny_weights):
    """--out on a tmpfs (a mounted drive, a Docker volume): files are staged in their own folder, never renamed
    across filesystems (EXDEV)."""
    import os
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no writable /dev/shm on another filesystem than the test's temporary folder")
    src = tmp_path / "walk.json"
    _minimal_motion_json(src)
    out = Path(tempfile.mkdtemp(dir=shm)) / "out"
    try:
        r = _run(["lift", str(src), "--out", str(out), "--weights", str(tiny_weights), "--no-progress"])
        assert r.exit_code == 0, r.output
        assert sorted(p.name for p in out.iterdir()) == ["walk.manifest.json", "walk.motion.json", "walk.motion.npz",
                                                         "walk.person3.bvh"]
    finally:
        shutil.rmtree(out.parent)


def test_a_truncated_video_is_lifted_with_a_warning_and_exit_code_3(tmp_path):
    clip = tmp_path / "cut.mp4"
    data = SAMPLE.read_bytes()
    clip.write_bytes(data[: int(len(data) * 0.3)])  # the header states 230 frames; 63 decode
    out = tmp_path / "out"
    r = _run(["lift", str(clip), "--out", str(out), "--formats", "json", "--no-progress"])
    assert r.exit_code == 3, r.output
    assert "warning: the video ended early: 63 of the 230 frames" in " ".join(r.output.split())
    assert json.loads((out / "cut.motion.json").read_text())["num_frames"] == 63
    r = _run(["action", str(clip), "--no-progress"])  # the same rule in every command that reads a video
    assert r.exit_code == 3, r.output
    assert "warning: the video ended early" in " ".join(r.output.split())
    assert "left out: track of 25 frames is shorter than one action window" in " ".join(r.output.split())
