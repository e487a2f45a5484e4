"""``mbcli mesh`` end to end with a synthetic SMPL-structured model: outputs and the error paths (one line, exit 1,
no file left behind)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import assert_one_line_error
from smpl_fixture import build_model, write_npz
from typer.testing import CliRunner

from mbcli.body.smpl import SMPLBody, axis_angle_to_matrix_torch
from mbcli.body.smpl_file import load_smpl
from mbcli.cli.main import app
from mbcli.export.json_motion import write_motion_json
from mbcli.geometry import project
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D, MotionResult, Pose3D
from mbcli.world.camera import intrinsics

runner = CliRunner()


def _run(args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def smpl_file(tmp_path_factory) -> Path:
    return write_npz(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz", build_model(0))


def _motion_json(path: Path, smpl_file: Path, with_3d: bool = True, T: int = 40) -> Path:
    """A lift-like motion.json for one person: h36m17 3D (root-relative, camera frame) and 2D of an SMPL motion."""
    body = SMPLBody(load_smpl(smpl_file))
    rng = np.random.default_rng(0)
    aa = rng.normal(0, 0.15, (T, 24, 3))
    aa[:, 0] = [np.pi, 0, 0]
    transl = np.stack([np.linspace(-0.2, 0.2, T), np.zeros(T), np.full(T, 4.0)], axis=1)
    with torch.no_grad():
        P = body.h36m_from_params(torch.zeros(10), axis_angle_to_matrix_torch(torch.tensor(aa, dtype=torch.float32)),
                                  torch.tensor(transl, dtype=torch.float32)).double().numpy()
    cam = intrinsics(640, 480)  # the 60 degree prior mbcli mesh uses
    xy = project(P, np.array([cam.fx, cam.fy]), np.array([cam.cx, cam.cy]))
    kp = Keypoints2D(xy, np.ones((T, 17)), np.arange(T), H36M17, (640, 480), 25.0)
    pose = Pose3D(P - P[:, :1], H36M17, np.arange(T), 25.0) if with_3d else None
    return write_motion_json([MotionResult(None, 0, kp, pose)], None, path)


def _assert_clean_failure(result, folder: Path, pattern: str) -> None:
    assert_one_line_error(result, pattern)
    assert not [p for p in folder.iterdir() if p.suffix in (".npz", ".mp4", ".glb") or "partial" in p.name]


def test_mesh_from_motion_json(tmp_path, smpl_file):
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file)
    out = tmp_path / "res" / "smpl.npz"
    r = _run(["mesh", str(src), "--out", str(out), "--smpl-model", str(smpl_file), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "fit error" in r.output and "frames/s" in r.output
    d = np.load(out, allow_pickle=False)
    assert d["poses"].shape == (40, 156) and float(d["mocap_framerate"]) == 25.0
    assert list(d["frame_indices"]) == list(range(40))
    # the 2D keypoints placed the body about 4 m in front of the camera
    assert np.abs(d["transl_cam"][:, 2] + 0.0).mean() == pytest.approx(4.0, abs=0.3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["smpl.npz"]  # no video from a keypoint input


def test_mesh_with_glb(tmp_path, smpl_file):
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file, T=12)
    out = tmp_path / "smpl.npz"
    r = _run(["mesh", str(src), "--out", str(out), "--smpl-model", str(smpl_file), "--glb", str(tmp_path / "a.glb"),
              "--no-progress", "--iterations", "5"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.glb").read_bytes()[:4] == b"glTF"


def test_missing_smpl_model(tmp_path, smpl_file, monkeypatch):
    monkeypatch.delenv("MBCLI_SMPL_MODEL", raising=False)
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file)
    r = _run(["mesh", str(src), "--out", str(tmp_path / "smpl.npz"), "--no-progress"])
    _assert_clean_failure(r, tmp_path, "smpl.is.tue.mpg.de")
    r = _run(["mesh", str(src), "--out", str(tmp_path / "smpl.npz"), "--smpl-model", str(tmp_path / "nope.pkl")])
    _assert_clean_failure(r, tmp_path, "nope.pkl")


def test_wrong_model_file(tmp_path, smpl_file):
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file)
    (tmp_path / "models").mkdir()
    wrong = tmp_path / "models" / "MANO_RIGHT.npz"
    np.savez(wrong, v_template=np.zeros((778, 3)), J_regressor=np.zeros((16, 778)))
    r = _run(["mesh", str(src), "--out", str(tmp_path / "smpl.npz"), "--smpl-model", str(wrong), "--no-progress"])
    _assert_clean_failure(r, tmp_path, "not an SMPL body model")


def test_motion_json_with_2d_only_is_lifted_as_mbcli_lift_would(tmp_path, smpl_file):
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file, with_3d=False)
    r = _run(["mesh", str(src), "--out", str(tmp_path / "smpl.npz"), "--smpl-model", str(smpl_file),
              "--no-progress", "--iterations", "3"])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "smpl.npz") as z:
        assert z["poses"].shape[0] == 40 and np.isfinite(z["poses"]).all()


def test_bad_output_names(tmp_path, smpl_file):
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file)
    r = _run(["mesh", str(src), "--out", str(tmp_path / "smpl.json"), "--smpl-model", str(smpl_file)])
    _assert_clean_failure(r, tmp_path, ".npz")
    r = _run(["mesh", str(src), "--out", str(tmp_path / "s.npz"), "--smpl-model", str(smpl_file), "--body-model",
              "star"])
    _assert_clean_failure(r, tmp_path, "unknown body model")
    r = _run(["mesh", str(src), "--out", str(tmp_path / "s.npz"), "--smpl-model", str(smpl_file), "--iterations",
              "0"])
    _assert_clean_failure(r, tmp_path, "--iterations must be from 1 to")


def test_mesh_never_writes_over_its_input(tmp_path, smpl_file):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"the user's video")
    r = _run(["mesh", str(video), "--out", str(tmp_path / "s.npz"), "--overlay", str(video), "--smpl-model",
              str(smpl_file), "--no-progress"])
    assert_one_line_error(r, "would overwrite the input")
    assert video.read_bytes() == b"the user's video" and sorted(tmp_path.iterdir()) == [video]


def test_failing_second_output_leaves_nothing(tmp_path, smpl_file, monkeypatch):
    """The npz is staged first; when the GLB then fails, neither file appears."""
    import mbcli.export.glb as glb

    def boom(*a, **k):
        from mbcli.errors import ExportError
        raise ExportError("disk full (simulated)")

    monkeypatch.setattr(glb, "write_skinned_glb", boom)
    src = _motion_json(tmp_path / "clip.motion.json", smpl_file, T=8)
    r = _run(["mesh", str(src), "--out", str(tmp_path / "smpl.npz"), "--smpl-model", str(smpl_file), "--glb",
              str(tmp_path / "a.glb"), "--no-progress", "--iterations", "2"])
    _assert_clean_failure(r, tmp_path, "simulated")


def test_first_anny_run_shows_the_cache_build_as_a_stage(tmp_path, monkeypatch):
    import mbcli.body as body
    from mbcli.errors import DependencyError
    from mbcli.pipeline.mesh import MeshConfig, run_mesh

    monkeypatch.setenv("MBCLI_CACHE_DIR", str(tmp_path / "empty-cache"))
    seen: list[tuple[str, int, int]] = []

    def building(*a, **k):
        assert seen == [("anny cache", 0, 1)]  # announced before the minute of work starts
        raise DependencyError("stop here")

    monkeypatch.setattr(body, "load_body_model", building)
    clip = tmp_path / "in.json"
    clip.write_text("{}")
    with pytest.raises(DependencyError, match="stop here"):
        run_mesh(clip, MeshConfig(out=str(tmp_path / "b.npz"), body_model="anny"),
                 on_progress=lambda *a: seen.append(a))
