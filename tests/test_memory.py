"""Flat memory (issue 14): peak RSS of the real lift stages (read, lift, retarget, world, JSON/NPZ/BVH export) on
a long synthetic 2D input grows by little more than its outputs, measured in fresh processes (mbcli/bench/memory.py),
and the streaming pieces give what the whole-array ones gave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbcli.bench.memory import measure, synthetic_people
from mbcli.export.json_motion import json_chunks, motion_to_dict
from mbcli.inference.windows import Blender, blend, plan_windows
from mbcli.rig.bvh_io import format_bvh
from mbcli.rig.h36m_rig import retarget, retarget_baked
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


def test_blender_gives_blend_exactly_and_needs_order():
    T, L, S = 100, 27, 18
    wins = plan_windows(T, L, S)
    rng = np.random.default_rng(0)
    preds = [rng.normal(size=(w.length, 17, 3)).astype(np.float32) for w in wins]
    b = Blender(wins, T)
    for i, p in enumerate(preds):
        b.add(i, p)
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
    start, total = int(pose.frame_indices[0]) + 7, int(pose.frame_indices[-1]) + 20
    assert format_bvh(baked.held(start, total)) == format_bvh(hold_timeline(whole.motion, start, total))
    assert format_bvh(whole.motion.bake(chunk=50)) == format_bvh(whole.motion)


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
