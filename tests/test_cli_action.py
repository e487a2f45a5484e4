"""``mbcli action`` end to end on keypoint files with a tiny trained action model: the JSON schema, built-in and
open-vocabulary label sets, and the error paths (one line, exit 1, no file written)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_error
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.export.json_motion import write_motion_json
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D, MotionResult

runner = CliRunner()


class _FakeEncoder:
    def encode(self, sentences):
        out = np.stack([np.random.default_rng(sum(map(ord, s))).normal(size=12) for s in sentences])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def action_ckpt(h36m, tmp_path_factory) -> Path:
    import torch

    import mbcli.text
    from mbcli.train.loop import train
    from mbcli.train.recipe import load_recipe

    real = mbcli.text.load_text_encoder
    mbcli.text.load_text_encoder = lambda path=None: _FakeEncoder()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = dataclasses.replace(load_recipe("smoke"), data_dir=str(h36m), task="action", text_align=0.5,
                                text_hidden=8, steps=2, batch_size=4, checkpoint_minutes=0.0, eval_every=2)
        return train(r, tmp_path_factory.mktemp("act"), device="cpu")
    finally:
        mbcli.text.load_text_encoder = real
        torch.set_num_threads(threads)


@pytest.fixture
def fake_text(monkeypatch):
    import mbcli.text

    monkeypatch.setattr(mbcli.text, "load_text_encoder", lambda path=None: _FakeEncoder())


def _keypoints(path: Path, T: int = 200, people: int = 2) -> Path:
    rng = np.random.default_rng(0)
    res = []
    for tid in range(people):
        base = rng.uniform(200, 400, (17, 2))
        xy = base + 5 * np.sin(np.linspace(0, 6, T))[:, None, None] + rng.normal(0, 1, (T, 17, 2))
        kp = Keypoints2D(xy, np.ones((T, 17)), np.arange(T) + 10 * tid, H36M17, (640, 480), 25.0)
        res.append(MotionResult(None, tid, kp, None))
    return write_motion_json(res, None, path)


def _run(args):
    return runner.invoke(app, ["action", *args], catch_exceptions=False)


def test_json_schema_with_the_models_classes(action_ckpt, tmp_path, one_thread):
    src = _keypoints(tmp_path / "kp.motion.json")
    out = tmp_path / "acts.json"
    r = _run([str(src), "--weights", str(action_ckpt), "--json", str(out), "--top-k", "3", "--no-progress"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert len(d["labels"]) == 15 and "walking" in d["labels"]
    assert [p["track_id"] for p in d["people"]] == [0, 1]
    for p in d["people"]:
        probs = [e["prob"] for e in p["overall"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and all(e["label"] in d["labels"]
                                                                                 for e in p["overall"])
        assert p["segments"] and all(s["start_frame"] < s["end_frame"] and len(s["top"]) == 3 for s in p["segments"])
    # the tiny model: windows of 81 frames at step 1 (25 fps), every 40 frames, plus one ending at the last frame
    seg = d["people"][0]["segments"]
    assert [s["start_frame"] for s in seg] == [0, 40, 80, 119] and seg[-1]["end_frame"] == 200
    assert d["people"][1]["segments"][0]["start_frame"] == 10  # the second track starts at frame 10
    assert "overall" in r.output


def test_open_vocabulary_and_builtin_sets(action_ckpt, tmp_path, fake_text, one_thread):
    src = _keypoints(tmp_path / "kp.motion.json", people=1)
    out = tmp_path / "a.json"
    r = _run([str(src), "--weights", str(action_ckpt), "--labels", "walking, jumping jacks,waving", "--json",
              str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["labels"] == ["walking", "jumping jacks", "waving"]
    assert sum(e["prob"] for e in d["people"][0]["overall"]) == pytest.approx(1.0, abs=1e-3)  # all 3 listed
    r = _run([str(src), "--weights", str(action_ckpt), "--labels", "ntu60", "--json", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(out.read_text())["labels"]) == 60


def test_errors(action_ckpt, tiny_weights, tmp_path):
    src = _keypoints(tmp_path / "kp.motion.json", people=1)
    short = _keypoints(tmp_path / "short.motion.json", T=12, people=1)
    out = tmp_path / "x.json"
    assert_one_line_error(_run([str(src), "--weights", "no-such-model", "--json", str(out)]), "no model named")
    assert_one_line_error(_run([str(src), "--weights", str(tiny_weights), "--json", str(out)]), "has no action head")
    assert_one_line_error(_run([str(short), "--weights", str(action_ckpt), "--json", str(out)]), "shorter than one")
    assert_one_line_error(_run([str(src), "--weights", str(action_ckpt), "--top-k", "0"]), "--top-k")
    assert_one_line_error(_run([str(src), "--weights", str(action_ckpt), "--json", str(tmp_path / "x.txt")]), ".json")
    assert_one_line_error(_run([str(src), "--weights", str(action_ckpt), "--labels", " , "]), "--labels is empty")
    assert not out.exists() and not (tmp_path / "x.txt").exists()


@pytest.mark.slow
def test_shipped_model_says_walking_for_the_walker_in_the_sample(tmp_path, one_thread):
    """The real chain on the real sample clip: detector, tracker, the shipped action model (action-default). In
    samples/sports2d_640.mp4 one person walks across the scene the whole time; whichever track id the tracker
    gives her, some person's overall top-1 must be walking, and its corrupt twin must fail cleanly."""
    from mbcli.weights import DEFAULT_ACTION, resolve

    resolve(DEFAULT_ACTION)  # the shipped file must be there and match its sha256
    clip = Path(__file__).resolve().parents[1] / "samples" / "sports2d_640.mp4"
    out = tmp_path / "acts.json"
    r = _run([str(clip), "--json", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert len(d["labels"]) == 15
    assert "walking" in [p["overall"][0]["label"] for p in d["people"]], d["people"]
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(resolve(DEFAULT_ACTION)[0].read_bytes()[:5000])
    assert_one_line_error(_run([str(clip), "--weights", str(bad), "--json", str(tmp_path / "b.json")]), "cannot read checkpoint")
    assert not (tmp_path / "b.json").exists()
