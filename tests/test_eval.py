"""The Human3.6M evaluation (mbcli.train.evaluate) and ``mbcli eval`` on the synthetic folder of tests/h36m_fixture.py:
result schema, frame and sequence counts, per-action averaging with known errors, and the CLI's error paths."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_error
from h36m_fixture import MISSING_SH, TEST_SEQS
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.errors import ConfigError
from mbcli.inference.predictors import Lifter, LiftOptions
from mbcli.skeletons import H36M17
from mbcli.train import evaluate as evaluate_module
from mbcli.train.data import TEST_SUBJECTS, base_action, load_h36m
from mbcli.train.evaluate import QUICK_CAMERA, evaluate
from mbcli.types import Keypoints2D, Pose3D

KEYS = {"input", "quick", "sequences", "frames", "protocol1_mpjpe_mm", "protocol2_pmpjpe_mm", "per_action"}
ACTIONS = {"Directions", "TakingPhoto", "WalkingDog"}  # "Directions 1" -> Directions, Photo, WalkDog aliases
FULL_FRAMES = 4 * sum(T for _, _, T in TEST_SEQS)
SH_FRAMES = FULL_FRAMES - sum(T for s, a, T in TEST_SEQS if any(m[:2] == (s, a) for m in MISSING_SH))
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")




class GroundTruthLifter:
    """A stand-in lifter that looks the input up among the test sequences and returns their 3D times ``scale``."""

    def __init__(self, data_dir: Path, scale: float = 1.0) -> None:
        self.scale = scale
        self.table: dict[bytes, np.ndarray] = {}
        for seq in load_h36m(data_dir, TEST_SUBJECTS, with_sh=True) + load_h36m(data_dir, TEST_SUBJECTS):
            rel = seq.xyz_camera - seq.xyz_camera[:, :1]
            for xy in (seq.xy_gt, seq.xy_sh):
                if xy is not None:
                    self.table[np.asarray(xy[0], np.float32).tobytes()] = rel

    def lift(self, kp: Keypoints2D) -> Pose3D:
        xyz = self.table[kp.xy[0].tobytes()][:kp.num_frames] * self.scale
        return Pose3D(xyz, H36M17, kp.frame_indices, kp.fps)


def test_tiny_model_result_schema_and_averages(h36m, tiny_weights):
    from mbcli.model import load_model

    model = load_model(tiny_weights)
    lifter = Lifter(model, "cpu", LiftOptions(window=27, stride=9, flip=True, batch_size=16))
    calls = []
    res = evaluate(lifter, "gt", data_dir=str(h36m), on_progress=lambda d, t: calls.append((d, t)))
    d = res.to_dict()
    assert set(d) == KEYS
    assert (d["input"], d["quick"], d["sequences"], d["frames"]) == ("gt", False, 4 * len(TEST_SEQS), FULL_FRAMES)
    assert set(d["per_action"]) == ACTIONS
    for v in d["per_action"].values():
        assert set(v) == {"mpjpe_mm", "pmpjpe_mm"}
        assert 0 < v["pmpjpe_mm"] < v["mpjpe_mm"] < 2000  # an untrained model: large but finite errors
    assert res.protocol1_mpjpe_mm == pytest.approx(np.mean([v["mpjpe_mm"] for v in res.per_action.values()]))
    assert res.protocol2_pmpjpe_mm == pytest.approx(np.mean([v["pmpjpe_mm"] for v in res.per_action.values()]))
    assert d["protocol1_mpjpe_mm"] == round(res.protocol1_mpjpe_mm, 2)
    json.dumps(d)  # plain JSON types only
    assert calls == [(i + 1, 4 * len(TEST_SEQS)) for i in range(4 * len(TEST_SEQS))]


@pytest.mark.parametrize("input", ["gt", "sh"])
def test_perfect_lifter_scores_zero(h36m, input):
    res = evaluate(GroundTruthLifter(h36m), input, data_dir=str(h36m))
    assert res.frames == (FULL_FRAMES if input == "gt" else SH_FRAMES)
    assert res.sequences == 4 * len(TEST_SEQS) - (len(MISSING_SH) if input == "sh" else 0)
    assert res.protocol1_mpjpe_mm == pytest.approx(0.0, abs=1e-3)
    assert res.protocol2_pmpjpe_mm == pytest.approx(0.0, abs=1e-3)
    assert set(res.per_action) == ACTIONS


def test_scaled_prediction_errors_are_averaged_per_action(h36m):
    """A prediction 10% too large: P-MPJPE (which aligns scale) is 0, MPJPE is 10% of each joint's distance to the
    root, averaged over the frames of each action and then over the actions (not over all frames)."""
    res = evaluate(GroundTruthLifter(h36m, scale=1.1), "gt", data_dir=str(h36m))
    per_frame: dict[str, list[np.ndarray]] = defaultdict(list)
    for seq in load_h36m(h36m, TEST_SUBJECTS):
        rel = (seq.xyz_camera - seq.xyz_camera[:, :1]).astype(np.float64) * 1000.0
        per_frame[base_action(seq.action)].append(0.1 * np.linalg.norm(rel, axis=-1).mean(-1))
    expected = {a: np.concatenate(v).mean() for a, v in per_frame.items()}
    assert res.per_action.keys() == expected.keys()
    for a, v in expected.items():
        assert res.per_action[a]["mpjpe_mm"] == pytest.approx(v, rel=1e-4)
        assert res.per_action[a]["pmpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert res.protocol1_mpjpe_mm == pytest.approx(np.mean(list(expected.values())), rel=1e-4)
    frame_mean = np.concatenate([np.concatenate(v) for v in per_frame.values()]).mean()
    assert abs(res.protocol1_mpjpe_mm - frame_mean) > 1e-3  # the two averages differ on this data


@pytest.mark.parametrize("input", ["gt", "sh"])
def test_quick_subset_counts(h36m, monkeypatch, input):
    monkeypatch.setattr(evaluate_module, "QUICK_FRAMES", 45)  # shorter than some fixture sequences
    res = evaluate(GroundTruthLifter(h36m), input, quick=True, data_dir=str(h36m))
    assert res.quick and res.sequences == len(TEST_SEQS)  # one camera, every test sequence
    assert res.frames == sum(min(T, 45) for _, _, T in TEST_SEQS)
    assert res.protocol1_mpjpe_mm == pytest.approx(0.0, abs=1e-3)
    assert QUICK_CAMERA not in {m[2] for m in MISSING_SH}


def test_bad_input_and_missing_data(h36m, tmp_path):
    with pytest.raises(ConfigError, match="sh or gt"):
        evaluate(GroundTruthLifter(h36m), "xx", data_dir=str(h36m))
    with pytest.raises(ConfigError, match="not found"):
        evaluate(GroundTruthLifter(h36m), "gt", data_dir=str(tmp_path))


# ----------------------------------------------------------------------------------------------------- CLI


def _run(args: list[str]):
    return runner.invoke(app, ["eval", *args], catch_exceptions=False)


def test_cli_eval_writes_json(h36m, tiny_weights, tmp_path):
    out = tmp_path / "res" / "out.json"
    r = _run(["--weights", str(tiny_weights), "--data", str(h36m), "--input", "gt", "--json", str(out),
              "--device", "cpu"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert set(d) == KEYS and set(d["per_action"]) == ACTIONS
    assert all(set(v) == {"mpjpe_mm", "pmpjpe_mm"} for v in d["per_action"].values())
    assert (d["input"], d["quick"], d["sequences"], d["frames"]) == ("gt", False, 4 * len(TEST_SEQS), FULL_FRAMES)
    assert d["protocol1_mpjpe_mm"] == pytest.approx(np.mean([v["mpjpe_mm"] for v in d["per_action"].values()]),
                                                    abs=0.01)
    assert [p.name for p in out.parent.iterdir()] == ["out.json"]  # no temporary file left beside it
    assert "average" in r.output and "TakingPhoto" in r.output


def test_cli_eval_bad_input_value(h36m, tiny_weights, tmp_path):
    out = tmp_path / "out.json"
    r = _run(["--weights", str(tiny_weights), "--data", str(h36m), "--input", "xx", "--json", str(out)])
    assert_one_line_error(r, "--input must be sh or gt")
    assert list(tmp_path.iterdir()) == []


def test_cli_eval_empty_data_folder(tiny_weights, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out.json"
    r = _run(["--weights", str(tiny_weights), "--data", str(empty), "--input", "gt", "--json", str(out)])
    assert_one_line_error(r, "Human3.6M data not found")
    assert not out.exists()


def test_cli_eval_unwritable_json_is_one_line_and_leaves_nothing(h36m, tiny_weights, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = _run(["--weights", str(tiny_weights), "--data", str(h36m), "--input", "gt", "--quick",
              "--json", str(blocker / "out.json"), "--device", "cpu"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    err = r.stderr.strip().splitlines()  # the progress bar and the table came before the write failed
    assert [line for line in err if "error:" in line] == err[-1:] and "cannot write" in err[-1], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_eval_action_task(h36m, tiny_weights, tmp_path, one_thread):
    import dataclasses

    from mbcli.train.loop import train
    from mbcli.train.recipe import load_recipe

    r = dataclasses.replace(load_recipe("smoke"), data_dir=str(h36m), task="action", steps=2, batch_size=4,
                            checkpoint_minutes=0.0, eval_every=2, text_hidden=8)
    ckpt = train(r, tmp_path / "act", device="cpu")
    out = tmp_path / "act.json"
    res = _run(["--task", "action", "--weights", str(ckpt), "--data", str(h36m), "--input", "sh", "--json", str(out),
                "--device", "cpu"])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["input"] == "sh" and d["sequences"] > 0 and 0 <= d["top1_percent"] <= d["top5_percent"] <= 100
    assert "top-5" in res.output
    # a plain lifter has no action head: one line, exit 1
    bad = _run(["--task", "action", "--weights", str(tiny_weights), "--data", str(h36m)])
    assert_one_line_error(bad, "has no action head")
    bad = _run(["--task", "dance", "--weights", str(tiny_weights), "--data", str(h36m)])
    assert_one_line_error(bad, "--task must be pose, world, action or zeroshot")
    # zero-shot needs the text-space head (this checkpoint was trained without text alignment)
    assert_one_line_error(_run(["--task", "zeroshot", "--weights", str(ckpt)]), "no text-space embedding")
    assert_one_line_error(_run(["--task", "zeroshot", "--weights", str(tiny_weights)]), "has no action head")


def test_cli_eval_world_task(h36m, tiny_weights, tmp_path):
    """mbcli eval --task world on the synthetic Human3.6M folder: every figure is there and finite (the tiny lifter is
    untrained, so the values themselves say nothing; tests/test_world.py checks the solver on known motion)."""
    out = tmp_path / "world.json"
    r = _run(["--task", "world", "--weights", str(tiny_weights), "--data", str(h36m), "--input", "gt", "--json",
              str(out), "--device", "cpu", "--quick"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["input"] == "gt" and d["quick"] and d["sequences"] > 0
    for key in ("root_error_mm", "root_error_prior_mm", "abs_mpjpe_mm", "floor_angle_deg", "contact_precision",
                "skate_mm_per_frame", "skate_after_mm_per_frame", "penetration_after_mm"):
        assert np.isfinite(d[key]), key
    assert d["penetration_after_mm"] == 0.0  # foot locking never leaves an ankle under the floor
    assert "root position" in r.output and "floor" in r.output
