"""Flat memory (issue 14): peak RSS of the real lift stages (read, lift, retarget, world, JSON/NPZ/BVH export) on
a long synthetic 2D input grows by little more than its outputs, and reading a long mbcli.motion file costs about its
text and arrays, measured in fresh processes (mbcli/bench/memory.py); the streaming pieces give what the whole-array
ones gave."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbcli.bench.memory import measure, read_peak, synthetic_people
from mbcli.export.json_motion import json_chunks, motion_to_dict
from mbcli.inference.windows import Blender, blend, plan_windows, window_weight
from mbcli.rig.bvh_io import format_bvh
from mbcli.rig.h36m_rig import consistent_pose, retarget, retarget_baked
from mbcli.rig.kinematics import hold_timeline
from mbcli.types import MotionResult, Pose3D


@pytest.mark.slow
def test_peak_memory_hardly_grows_with_length(tiny_weights):
    short, long = measure(500, str(tiny_weights)), measure(8000, str(tiny_weights))
    assert short.frames == 500 and long.frames == 8000
    per_person_frame_kb = (long.peak_mb - short.peak_mb) * 1024 / (long.person_frames - short.person_frames)
    # the outputs (2D, 3D, world joints, BVH channels) and the input's JSON parse cost about 4 KB a person-frame;
    # before the lift stages streamed, the heap grew by about 60 KB a person-frame
    assert per_person_frame_kb < 8, per_person_frame_kb


@pytest.mark.slow
def test_reading_a_long_motion_file_costs_about_its_text_and_arrays():
    short, long = read_peak(500), read_peak(40_000)
    assert (short.person_frames, long.person_frames) == (1000, 80_000)
    per_person_frame_kb = (long.peak_mb - short.peak_mb) * 1024 / (long.person_frames - short.person_frames)
    # the text (0.38 KB a person-frame), the float64 arrays as parsed (0.4 KB) and the float32 stage objects: about
    # 1 KB; parsed whole by json.loads into Python lists first, the file cost 4.6 KB a person-frame
    assert per_person_frame_kb < 2, per_person_frame_kb


def test_blender_gives_blend_exactly_and_needs_order():
    T, L, S = 100, 27, 18
    wins = plan_windows(T, L, S)
    rng = np.random.default_rng(0)
    preds = [rng.normal(size=(w.length, 17, 3)).astype(np.float32) for w in wins]
    b = Blender(wins, T)
    for i, p in enumerate(preds):
        b.add(i, p)
    # the reference: the whole-sequence weighted mean, every window summed into full-length float64 arrays in order
    # (blend itself runs a Blender now, so it cannot be the reference)
    ref, wsum = np.zeros((T, 17, 3)), np.zeros(T)
    for i, (w, p) in enumerate(zip(wins, preds)):
        wt = window_weight(wins, i)
        ref[w.start:w.stop] += wt[:, None, None] * p
        wsum[w.start:w.stop] += wt
    assert np.array_equal(b.result(), (ref / wsum[:, None, None]).astype(np.float32))
    assert np.array_equal(b.result(), blend(wins, preds, T))
    with pytest.raises(ValueError):
        Blender(wins, T).add(1, preds[1])
    with pytest.raises(ValueError):
        Blender(wins, T).result()


def _walker_pose(T: int) -> Pose3D:
    kp = synthetic_people(T, 1)[0]
    rng = np.random.default_rng(1)
    xyz = np.concatenate([(kp.xy - kp.xy[:, :1]) / 200.0, rng.normal(0, 0.02, (T, 17, 1))], axis=-1)
    fi = np.delete(np.arange(T + 5), [3, 40, 41, 42, 90])  # gaps, filled by the rig
    return Pose3D(xyz.astype(np.float32), kp.skeleton, fi, 25.0, frame="camera", units="m", root_relative=True)


def test_chunked_retarget_matches_the_whole_clip_solve():
    pose = _walker_pose(300)
    whole = retarget(pose)
    baked, consistent = retarget_baked(pose, chunk=64)
    assert np.array_equal(consistent.xyz, whole.pose.xyz)
    assert np.array_equal(consistent_pose(pose, chunk=37).xyz, whole.pose.xyz)
    start, total = int(pose.frame_indices[0]) + 7, int(pose.frame_indices[-1]) + 20
    assert format_bvh(baked.held(start, total)) == format_bvh(hold_timeline(whole.motion, start, total))
    assert format_bvh(whole.motion.bake(chunk=50)) == format_bvh(whole.motion)


@pytest.mark.parametrize("frame,floor,units", [("camera", "frame", "mm"), ("world", "clip", "m")])
def test_chunked_targets_are_the_whole_clips_to_the_bit(frame, floor, units):
    # the targets are made a span at a time (gaps interpolated from the samples either side of each span, the floor
    # found in a first pass): every chunk size gives the same solve, bit for bit
    pose = _walker_pose(200)
    xyz = pose.xyz * (1000.0 if units == "mm" else 1.0)
    if frame == "world":
        xyz = xyz * np.array([1, -1, -1], np.float32) + np.array([0.5, 1.0, 3.0], np.float32)
    pose = Pose3D(xyz, pose.skeleton, pose.frame_indices, pose.fps, frame=frame, units=units,
                  root_relative=frame == "camera")
    (ref, ref_pose), (got, got_pose) = (retarget_baked(pose, floor=floor, chunk=c) for c in (10_000, 13))
    for a, b in ((ref.euler_deg, got.euler_deg), (ref.root_position, got.root_position), (ref.offsets, got.offsets),
                 (ref_pose.xyz, got_pose.xyz)):
        assert np.array_equal(a, b)


def test_retarget_memory_is_its_outputs_plus_a_chunk():
    import tracemalloc

    T = 20_000
    kp = synthetic_people(T, 1)[0]
    xyz = np.concatenate([(kp.xy - kp.xy[:, :1]) / 200.0, np.zeros((T, 17, 1), np.float32)], axis=-1)
    pose = Pose3D(xyz, kp.skeleton, kp.frame_indices, 25.0)
    for solve in (retarget_baked, consistent_pose):
        tracemalloc.start()
        try:
            out = solve(pose)
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        del out
        # outputs: 13.8 MB with the BVH's angles, 4.1 MB without; one 1,024-frame chunk's temporaries and the rest
        # pose's per-frame bone lengths add about 7.5 MB. Whole-clip float64 targets (8.2 MB) and consistent pose
        # (8.2 MB) and 4,096-frame chunks (+20 MB) went over.
        assert peak - held < 10e6, (solve.__name__, held / 1e6, peak / 1e6)


def test_streamed_json_is_json_dumps_byte_for_byte(monkeypatch):
    import mbcli.export.json_motion as jm

    monkeypatch.setattr(jm, "ROWS_PER_CHUNK", 7)  # many chunks
    kp = synthetic_people(30, 1)[0]
    kp.xy[3, 2] = np.nan  # an unknown joint: null
    xyz = np.random.default_rng(2).normal(0, 0.3, (30, 17, 3))
    results = [MotionResult(None, 0, kp, Pose3D(xyz, kp.skeleton, kp.frame_indices, 25.0), None),
               MotionResult(None, 4, kp, None, None)]
    doc = jm.motion_header(results, None)
    doc["people"] = [jm._person_fields(r) for r in results]
    text = "".join(json_chunks(doc))
    assert text == json.dumps(motion_to_dict(results, None), separators=(",", ":"), allow_nan=False)
    assert json.loads(text)["people"][0]["keypoints_2d"][3][2][0] is None
    assert len(json.loads(text)["people"][0]["keypoints_3d"]) == 30


@pytest.mark.parametrize("value", ["abc", "0", ","])
def test_bench_memory_rejects_bad_frame_counts(value):
    from cli_checks import assert_one_line_error
    from typer.testing import CliRunner

    from mbcli.cli.main import app

    assert_one_line_error(CliRunner().invoke(app, ["bench", "--memory", value]), "--memory takes")


def _fake_video_bench(monkeypatch, tmp_path):
    """The --memory --video wiring with the detector pass and the measured children replaced: calls are recorded."""
    import mbcli.bench.memory as mem

    calls: dict[str, list] = {"cache": [], "measure": []}

    def cache(clip, path, detector="default"):
        calls["cache"].append((clip, path))
        np.savez(path, frame_indices=np.arange(4))
        return 4

    def measure_video(frames, weights, detections, timeout=None):
        calls["measure"].append((frames, Path(detections).is_file()))
        return mem.MemoryRun(frames, 2 * frames, 300.0, 310.0 + frames, 0.5, 305.0)

    monkeypatch.setattr(mem, "cache_detections", cache)
    monkeypatch.setattr(mem, "measure_video", measure_video)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not decoded here")
    return calls, clip


def test_bench_memory_video_detects_once_and_says_what_is_replayed(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from mbcli.cli.main import app

    calls, clip = _fake_video_bench(monkeypatch, tmp_path)
    out = tmp_path / "m.json"
    res = CliRunner().invoke(app, ["bench", "--memory", "5,7", "--video", str(clip), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert [c[0] for c in calls["cache"]] == [clip]
    assert calls["measure"] == [(5, True), (7, True)]
    text = " ".join(res.output.split())
    assert "detections replayed" in text and "NOT run" in text and "4-frame clip" in text
    figures = json.loads(out.read_text())
    assert figures["input"] == "video, detections replayed" and figures["clip_frames"] == 4
    assert [m["frames"] for m in figures["memory"]] == [5, 7]


def test_bench_memory_replays_a_given_cache_without_detecting(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from mbcli.cli.main import app

    calls, clip = _fake_video_bench(monkeypatch, tmp_path)
    cache = tmp_path / "dets.npz"
    np.savez(cache, frame_indices=np.arange(9))
    res = CliRunner().invoke(app, ["bench", "--memory", "3", "--detections", str(cache)])
    assert res.exit_code == 0, res.output
    assert calls["cache"] == [] and calls["measure"] == [(3, True)]
    made = tmp_path / "new.npz"  # named but missing: made from --video and kept
    res = CliRunner().invoke(app, ["bench", "--memory", "3", "--video", str(clip), "--detections", str(made)])
    assert res.exit_code == 0, res.output
    assert calls["cache"] == [(clip, made)] and made.is_file()


@pytest.mark.parametrize(("args", "pattern"), [
    (["--memory", "5", "--video", "nope.mp4"], "no such file"),
    (["--video", "CLIP"], "go with --memory"),
    (["--memory", "5", "--detections", "nope.npz"], "give --video"),
    (["--memory", "5", "--detections", "BAD"], "not a cache of detections"),
])  # fmt: skip
def test_bench_memory_video_options_fail_before_any_work(monkeypatch, tmp_path, args, pattern):
    from cli_checks import assert_one_line_error
    from typer.testing import CliRunner

    from mbcli.cli.main import app

    calls, clip = _fake_video_bench(monkeypatch, tmp_path)
    bad = tmp_path / "bad.npz"
    bad.write_text("not an npz")
    args = [str(clip) if a == "CLIP" else str(bad) if a == "BAD" else a for a in args]
    assert_one_line_error(CliRunner().invoke(app, ["bench", *args]), pattern)
    assert calls == {"cache": [], "measure": []}


@pytest.mark.slow
def test_replayed_video_runs_the_real_stages_in_a_child(monkeypatch, tmp_path, tiny_weights):
    """A tiny clip's detections (synthetic here: two people with their appearance) cached as ``cache_detections``
    saves them, then a replayed 40-frame video (the clip looped) lifted in a fresh process."""
    import mbcli.video
    from mbcli.bench.memory import cache_detections, measure_video
    from mbcli.pipeline import inputs
    from mbcli.skeletons import H36M17
    from mbcli.types import FramePoses, VideoInfo

    people = synthetic_people(15)
    looks = np.random.default_rng(0).normal(size=(2, 54)).astype(np.float32)

    def detected(clip, info, detector, max_width, on_progress=None):
        for i in range(15):
            xy = np.stack([p.xy[i] for p in people])  # (2,17,2)
            boxes = np.concatenate([xy.min(1), xy.max(1)], axis=1)
            yield FramePoses(i, boxes, np.ones(2), xy, np.stack([p.scores[i] for p in people]), H36M17, looks)

    monkeypatch.setattr(mbcli.video, "probe", lambda p: VideoInfo(str(p), 640, 360, 25.0, 15))
    monkeypatch.setattr(inputs, "detected_frames", detected)
    cache = tmp_path / "dets.npz"
    assert cache_detections(tmp_path / "clip.mp4", cache) == 15
    run = measure_video(40, str(tiny_weights), cache, timeout=120)
    assert run.frames == 40 and run.person_frames == 80
    assert run.peak_mb >= run.read_mb >= run.start_mb > 0
