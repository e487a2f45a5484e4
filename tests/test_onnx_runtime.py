"""The ONNX Runtime path of the lifter gives the PyTorch model's output to 1e-4 and caches its export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbcli.errors import ConfigError
from mbcli.inference.predictors import Lifter, LiftOptions
from mbcli.model import DSTformer, preset
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx", reason="--runtime onnx needs the onnx package (pip install -e '.[onnx]')")


def _kp(T: int) -> Keypoints2D:
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 400, (T, 17, 2))
    return Keypoints2D(xy, rng.uniform(0.2, 1, (T, 17)), np.arange(T), H36M17, (640, 480), 30.0)


def test_onnx_runtime_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("MBCLI_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = DSTformer(preset("tiny", maxlen=27)).eval()
    kp = _kp(70)
    ref = Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=3)).lift(kp).xyz
    fast = Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=3, runtime="onnx")).lift(kp).xyz
    assert np.abs(ref - fast).max() < 1e-4
    cached = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime
    Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=3, runtime="onnx"))  # reuses the export
    assert cached[0].stat().st_mtime == mtime


def test_bad_runtime_options():
    with pytest.raises(ConfigError):
        LiftOptions(runtime="tensorrt")
    with pytest.raises(ConfigError):
        LiftOptions(runtime="onnx", precision="bf16")
