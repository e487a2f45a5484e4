"""Preflight: a bad option value is one line and exit 1 before anything is loaded, decoded or written."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_checks import assert_one_line_error
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.pipeline import lift as lift_flow

runner = CliRunner()
SAMPLE = str(Path(__file__).resolve().parents[1] / "samples" / "sports2d_640.mp4")


@pytest.mark.parametrize(("args", "message"), [
    (["--stride", "0"], "--stride must be at least 1, got 0"),
    (["--window", "0"], "--window must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--bvh-units", "km"], "--bvh-units must be one of m, cm"),
    (["--fps", "0"], "--fps must be a positive number"),
    (["--fps", "nan"], "--fps must be a positive number"),
    (["--detect-max-width", "3"], "--detect-max-width must be at least 32"),
    (["--precision", "fp8"], "precision must be fp32 or bf16"),
    (["--runtime", "tpu"], "runtime must be torch or onnx"),
    (["--person", "abc"], "person"),
    (["--focal", "-3"], "focal"),
    (["--formats", "gif"], "unknown output format"),
])
def test_lift_rejects_bad_options_before_any_work(monkeypatch, tmp_path, args, message):
    def no_work(*a, **k):
        raise AssertionError("the lift started")
    monkeypatch.setattr(lift_flow, "lift_people", no_work)
    out = tmp_path / "out"
    result = runner.invoke(app, ["lift", SAMPLE, "--out", str(out), "--no-progress", *args], catch_exceptions=False)
    assert_one_line_error(result, message)
    assert not out.exists()


@pytest.mark.parametrize("command", [["eval", "--quick"], ["bench", "--no-e2e"]])
def test_json_destination_checked_before_the_work(tmp_path, command):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, [*command, "--json", str(blocker / "x.json")], catch_exceptions=False)
    assert_one_line_error(result, "is a file, not a folder")
    result = runner.invoke(app, [*command, "--json", str(tmp_path / "x.txt")], catch_exceptions=False)
    assert_one_line_error(result, "--json must name a .json file")
