"""BVH export (mbcli/export/bvh.py): write_bvh takes a Pose3D, a MotionResult or a solved RigMotion, writes
atomically and fails in one line writing nothing; world-frame poses and held timelines; Blender's own importer (bpy
in its own venv) reads the file. The solver and the text are tested in tests/test_rig_h36m.py and
tests/test_rig_bvh_io.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rig_fixture import bad_poses, synthetic_motion, world_walk

from mbcli.errors import ExportError
from mbcli.export import bvh as B
from mbcli.rig.bvh_io import format_bvh, read_bvh
from mbcli.rig.h36m_rig import JOINT_NAMES, pose_to_rig, retarget
from mbcli.rig.kinematics import hold_timeline
from mbcli.types import Keypoints2D, MotionResult

ROOT = Path(__file__).resolve().parents[1]
BLENDER_PY = ROOT / ".venv-blender" / "bin" / "python"


def _k2d(T: int = 5) -> Keypoints2D:
    return Keypoints2D(np.zeros((T, 17, 2)), np.ones((T, 17)), np.arange(T), "h36m17", (640, 480), 30.0)


def test_pose_motion_result_and_rig_motion_are_accepted(tmp_path):
    pose, _ = synthetic_motion(T=5)
    path = B.write_bvh(MotionResult(None, 0, _k2d(), pose), tmp_path / "out" / "p0.bvh")
    assert path == tmp_path / "out" / "p0.bvh" and path.read_text().startswith("HIERARCHY\nROOT Hips\n")
    assert B.write_bvh(pose, tmp_path / "pose.bvh", floor="frame").read_text() == \
        format_bvh(pose_to_rig(pose, floor="frame"))
    solved = retarget(pose).motion
    assert B.write_bvh(solved, tmp_path / "rig.bvh", units="cm").read_text() == format_bvh(solved, units="cm")


def test_world_pose_and_held_timeline(tmp_path):
    """A world-frame pose is written with its trajectory; a retargeted world motion on the video's 80 frames."""
    pose, _ = world_walk(T=60)
    assert B.write_bvh(pose, tmp_path / "w.bvh").read_text() == format_bvh(pose_to_rig(pose))
    motion = hold_timeline(retarget(pose).motion, int(pose.frame_indices[0]), 80)
    parsed = read_bvh(B.write_bvh(motion, tmp_path / "held.bvh"))
    assert parsed.frames.shape[0] == 80
    assert parsed.frames[-1, 0] - parsed.frames[0, 0] == pytest.approx(2.0, abs=1e-5)  # Xposition


def test_error_paths(tmp_path):
    pose, _ = synthetic_motion(T=5)
    for p, message in bad_poses():
        with pytest.raises(ExportError, match=message):
            B.write_bvh(p, tmp_path / "bad.bvh")
    with pytest.raises(ExportError, match="no 3D pose"):
        B.write_bvh(MotionResult(None, 4, _k2d(), None), tmp_path / "none.bvh")
    for motion in (pose, retarget(pose).motion):
        with pytest.raises(ExportError, match="units"):
            B.write_bvh(motion, tmp_path / "x.bvh", units="in")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.blender
@pytest.mark.skipif(not BLENDER_PY.exists(), reason="no Blender venv: python3 -m venv .venv-blender && "
                    ".venv-blender/bin/pip install bpy==4.5.15")
def test_blender_import_matches_joints(tmp_path):
    """Blender's own BVH importer (operator defaults, FORMATS.md 1.4): bone heads equal our joints mapped
    BVH (x, y, z) -> Blender (x, -z, y), at 30 fps, frames 1..T."""
    pose, _ = synthetic_motion(T=120, seed=5)
    motion = pose_to_rig(pose)
    path = B.write_bvh(pose, tmp_path / "synth.bvh")
    out = tmp_path / "blender.json"
    proc = subprocess.run([str(BLENDER_PY), str(ROOT / "tests" / "blender_check.py"), str(path), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["fps"] == pytest.approx(30.0, abs=1e-4)
    assert result["frame_range"] == [1, pose.num_frames]
    heads = np.array(result["heads"])[:, [result["bones"].index(n) for n in JOINT_NAMES]]
    expected = motion.targets[..., [0, 2, 1]] * [1, -1, 1]
    err = np.abs(heads - expected).max()
    print(f"Blender max joint error {err:.2e} m", file=sys.stderr)
    assert err < 1e-3
