"""mbcli bench --train: the recipe's real training steps timed, before (--baseline) and after, with the FLOP count
and the share of the measured peak; and the lifting speed figure (video frames/s with default windows and flip)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.model import DSTformer, preset
from mbcli.train.bench import bench_training
from mbcli.train.recipe import load_recipe, with_overrides

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_training_times_the_recipe_and_its_baseline(h36m):
    recipe = with_overrides(load_recipe("smoke"), [f"data_dir={h36m}", "batch_size=4"])
    cache: dict = {}
    new = bench_training(recipe, "cpu", steps=2, warmup=1, cache=cache)
    old = bench_training(recipe, "cpu", steps=2, warmup=1, baseline=True, cache=cache)
    assert new["sampler"] == "device" and new["fused_adamw"] and not new["baseline"]
    assert old["sampler"] == "numpy" and not old["fused_adamw"] and old["baseline"]
    cfg = preset("tiny")
    for r in (new, old):
        assert r["train_frames_per_s"] > 0 and r["step_ms"] > 0 and r["model_ms"] > 0 and r["sampler_ms"] > 0
        assert r["train_gflop_per_frame"] == pytest.approx(3 * cfg.forward_flops(27) / 27 / 1e9)
        assert 0 < r["share_of_bf16_peak"] < 1 and r["peak_bf16_tflops"] > 0 and "share_of_fp32_peak" in r
    assert len(cache) == 2  # one data load per sampler kind


def test_forward_flops_count_the_linear_layers_and_attention():
    """The analytic count agrees with torch's FLOP counter on the matrix products of one forward pass (the counter
    does not see the CPU attention kernel, so attention is added by hand here)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = preset("tiny", maxlen=27)
    model = DSTformer(cfg).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.randn(2, 27, 17, 3))
    counted = fc.get_total_flops() / 2
    T, J, C = 27, 17, cfg.dim_feat
    attention = cfg.depth * 2 * (T * J * J * C * 2 + J * T * T * C * 2) * 2  # not seen by the counter on CPU
    assert counted == pytest.approx(cfg.forward_flops(27) - attention, rel=0.01)  # (fusion logits: matvecs)


def test_cli_bench_train_writes_json_and_rejects_bad_values(h36m, tmp_path):
    out = tmp_path / "b.json"
    r = CliRunner().invoke(app, ["bench", "--train", "smoke", "--data", str(h36m), "--set", "batch_size=2",
                                 "--train-steps", "1", "--device", "cpu", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["batch"] == 2 and "share of the measured bf16 peak" in r.output
    r = CliRunner().invoke(app, ["bench", "--train", "smoke", "--set", "batch_sise=2"])
    assert r.exit_code == 1 and "unknown recipe key batch_sise" in r.output


def test_video_fps_lifts_a_track_with_default_windows():
    from mbcli.bench.speed import video_fps

    assert video_fps(DSTformer(preset("tiny", maxlen=27)).eval(), torch.device("cpu"), T=200) > 0


def test_bench_with_a_missing_clip_is_a_one_line_error(tmp_path):
    """An explicit --clip that is not there stops with one line and exit 1 (it used to print "error:" and exit 0);
    bad counts are refused the same way."""
    from cli_checks import assert_one_line_error

    quiet = ["--models", "", "--no-fit", "--no-action", "--no-bf16", "--no-onnx"]
    r = CliRunner().invoke(app, ["bench", "--clip", str(tmp_path / "nope.mp4"), *quiet])
    assert_one_line_error(r, "clip not found")
    r = CliRunner().invoke(app, ["bench", "--no-e2e", "--batch", "0", *quiet])
    assert_one_line_error(r, "--batch must be from 1 to")
