"""Fuzz tier, bad-input table: each row of issue 14's list of bad input runs the real console entry
(``mbcli.cli.entry.run``) in a subprocess and checks the exit code, the one line on stderr and that nothing was left
in the output place. Rows that would need long work are left out (the truncated video decodes 63 frames)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # about 2 s of start-up per row (torch), 28 rows

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sports2d_640.mp4"


def _keypoints(folder: Path) -> Path:
    """A small valid COCO keypoint results file (one person, 30 frames): input that needs no detection."""
    dets = [{"image_id": f, "category_id": 1, "score": 0.9,
             "keypoints": [v for j in range(17) for v in (300.0 + 3 * j + f, 100.0 + 15 * j, 0.9)]} for f in range(30)]
    path = folder / "walk.json"
    path.write_text(json.dumps(dets))
    return path


@dataclass(frozen=True)
class Row:
    """One bad input: ``make(tmp)`` prepares it and returns the arguments after ``mbcli``; the expected exit code and
    the stderr line (a regular expression). Nothing may change under tmp (the output place is in it)."""

    make: Callable[[Path], list[str]]
    code: int
    line: str


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    return make


def _lift(input_: Callable[[Path], Path], *extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["lift", str(input_(tmp)), "--out", str(tmp / "out"), "--no-progress", *extra]


def _sample(tmp: Path) -> Path:
    return SAMPLE


def _motion_into_its_folder(tmp: Path) -> list[str]:
    (tmp / "out").mkdir()
    src = tmp / "out" / "walk.motion.json"
    src.write_text(json.dumps({"format": "mbcli.motion", "version": 2, "fps": 30, "image_size": [640, 480],
                               "skeleton": {"name": "h36m17"},
                               "people": [{"keypoints_2d": [[[300.0 + j, 200.0, 0.9] for j in range(17)]] * 5}]}))
    return ["lift", str(src), "--out", str(tmp / "out"), "--formats", "json", "--no-progress"]


def _empty_recipe(tmp: Path) -> list[str]:
    (tmp / "empty.yaml").write_text("")
    return ["train", "--config", str(tmp / "empty.yaml"), "--out", str(tmp / "out")]


def _out_is_a_file(tmp: Path) -> list[str]:
    (tmp / "taken").write_text("mine")
    return ["lift", str(_keypoints(tmp)), "--out", str(tmp / "taken"), "--no-progress"]


ROWS: dict[str, Row] = {
    "missing video": Row(_lift(lambda t: t / "nope.mp4"), 1, r"nope\.mp4: no such file"),
    "empty video": Row(_lift(_file("empty.mp4", b"")), 1, r"empty file"),
    "text renamed .mp4": Row(_lift(_file("notes.mp4", b"not a video\n" * 50)), 1, r"not a readable video"),
    "corrupt video": Row(_lift(_file("bad.mp4", SAMPLE.read_bytes()[:64] + bytes(range(256)) * 16)), 1, r"video"),
    "malformed keypoint JSON": Row(_lift(_file("kp.json", b'[{"image_id": 0, "keypoints": [1, 2')), 1,
                                   r"malformed JSON"),
    "keypoint JSON of the wrong shape": Row(_lift(_file("kp.json", b'[{"image_id": 0, "keypoints": [1, 2, 3]}]')), 1,
                                            r"has 1 keypoints; expected 17"),
    "wrong --formats": Row(_lift(_sample, "--formats", "json,gif"), 1, r"unknown output format 'gif'"),
    "corrupt checkpoint": Row(lambda t: _lift(_keypoints, "--weights", str(_file("w.pt", b"PK\x03\x04junk")(t)))(t),
                              1, r"w\.pt"),
    "--person abc": Row(_lift(_sample, "--person", "abc"), 1, r"person"),
    "--bvh-units km": Row(_lift(_sample, "--bvh-units", "km"), 1, r"--bvh-units must be one of m, cm, got 'km'"),
    "--window 0": Row(_lift(_sample, "--window", "0"), 1, r"--window must be at least 1, got 0"),
    "--stride 0": Row(_lift(_sample, "--stride", "0"), 1, r"--stride must be at least 1, got 0"),
    "output over the input (lift)": Row(_motion_into_its_folder, 1, r"walk\.motion\.json.*input"),
    "output over the input (mesh --overlay)": Row(
        lambda t: ["mesh", str(SAMPLE), "--body-model", "anny", "--out", str(t / "out" / "b.npz"), "--overlay",
                   str(SAMPLE), "--no-progress"], 1, r"input"),
    "--out naming a file": Row(_out_is_a_file, 1, r"taken.*(not a folder|is a file)"),
    "bench --batch 0": Row(lambda t: ["bench", "--no-e2e", "--batch", "0"], 1, r"--batch must be from 1 to"),
    "bench --clip nope.mp4": Row(lambda t: ["bench", "--clip", str(t / "nope.mp4")], 1, r"clip not found"),
    "train --max-steps 0": Row(lambda t: ["train", "--config", "smoke", "--out", str(t / "out"), "--max-steps", "0"],
                               1, r"--max-steps must be at least 1, got 0"),
    "empty recipe": Row(_empty_recipe, 1, r"empty"),
    "--batch-size 0 (lift)": Row(_lift(_sample, "--batch-size", "0"), 1, r"--batch-size must be at least 1, got 0"),
    "--batch-size too large (lift)": Row(_lift(_sample, "--batch-size", "100000"), 1, r"--batch-size must be from 1"),
    "--runtime tf (lift)": Row(_lift(_sample, "--runtime", "tf"), 1, r"--runtime must be torch or onnx, got 'tf'"),
    "--step 0 (action)": Row(lambda t: ["action", str(SAMPLE), "--step", "0", "--no-progress"], 1,
                             r"--step must be at least 1, got 0"),
    "--iterations 0 (mesh)": Row(lambda t: ["mesh", str(SAMPLE), "--iterations", "0", "--out", str(t / "out" / "b.npz"),
                                            "--no-progress"], 1, r"--iterations must be from 1 to 10000, got 0"),
    "train --max-steps -1": Row(lambda t: ["train", "--config", "smoke", "--out", str(t / "out"), "--max-steps", "-1"],
                                1, r"--max-steps must be at least 1, got -1"),
    "eval --stride 0": Row(lambda t: ["eval", "--quick", "--stride", "0"], 1, r"--stride must be at least 1, got 0"),
    "eval --json under a file": Row(lambda t: ["eval", "--quick", "--json", str(_keypoints(t) / "x.json")], 1,
                                    r"walk\.json is a file, not a folder"),
    "--resume without checkpoint": Row(lambda t: ["train", "--config", "smoke", "--out", str(t / "out"), "--resume"],
                                       1, r"--resume: there is no .*last\.pt"),
}


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MBCLI_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", "from mbcli.cli.entry import run; run()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_input(name, tmp_path):
    row = ROWS[name]
    args = row.make(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = _run(args, tmp_path)
    err = r.stderr.strip()
    assert r.returncode == row.code, (r.returncode, err, r.stdout[-2000:])
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert re.search(row.line, err), err
    assert "Traceback" not in r.stdout + r.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, f"left behind: {sorted(set(after) - set(before))}"  # nothing written, not even a folder


def test_truncated_video_is_a_warning_and_exit_code_3(tmp_path):
    clip = tmp_path / "cut.mp4"
    data = SAMPLE.read_bytes()
    clip.write_bytes(data[: int(len(data) * 0.3)])  # the header states 230 frames; 63 decode
    r = _run(["lift", str(clip), "--out", str(tmp_path / "out"), "--formats", "json", "--no-progress"], tmp_path, 600)
    assert r.returncode == 3, r.stderr
    assert re.fullmatch(r"warning: the video ended early: 63 of the 230 frames .*", " ".join(r.stderr.split())), r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads((tmp_path / "out" / "cut.motion.json").read_text())["num_frames"] == 63
