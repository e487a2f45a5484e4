"""The ONNX Runtime path of the lifter: one dynamic export per weights (any batch, any window up to maxlen) that
gives the PyTorch model's output to 1e-4, cached, and run without padding."""

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
onnx = pytest.importorskip("onnx", reason="--runtime onnx needs the onnx package (pip install -e '.[onnx]')")

from mbcli.inference.onnx_runtime import OnnxLifterModel  # noqa: E402  (needs onnx)


def _kp(T: int) -> Keypoints2D:
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 400, (T, 17, 2))
    return Keypoints2D(xy, rng.uniform(0.2, 1, (T, 17)), np.arange(T), H36M17, (640, 480), 30.0)


@pytest.fixture(scope="module")
def model() -> DSTformer:
    """A tiny DSTformer with weights large enough that its output varies by O(1) (the initialisation's are tiny)."""
    torch.manual_seed(0)
    m = DSTformer(preset("tiny", maxlen=27)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return m


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MBCLI_CACHE_DIR", str(tmp_path))
    return tmp_path / "onnx"


def test_one_export_serves_any_batch_and_length(model, cache):
    from mbcli.inference.onnx_runtime import export_path

    old = export_path(model).with_name(export_path(model).name.replace("dyn1", "b16-t27"))  # a fixed-shape export
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old")
    onnx_model = OnnxLifterModel(model)
    assert not old.exists()  # replaced by the dynamic one
    rng = np.random.default_rng(1)
    for B, T in ((1, 27), (3, 27), (2, 7), (1, 1)):
        x = rng.normal(size=(B, T, 17, 3)).astype(np.float32)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).numpy()
        y = onnx_model(x)
        assert y.shape == (B, T, 17, 3)
        assert np.abs(ref).max() > 0.1 and np.abs(y - ref).max() < 1e-4, (B, T)
    files = list(cache.glob("*.onnx"))
    assert files == [onnx_model.path]
    dims = onnx.load(str(files[0])).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:2]] == ["batch", "frames"] and [d.dim_value for d in dims[2:]] == [17, 3]
    with pytest.raises(ValueError, match="1..27 frames"):
        onnx_model(np.zeros((1, 28, 17, 3), np.float32))


def test_onnx_runtime_matches_torch_and_reuses_its_export(model, cache):
    kp = _kp(70)
    ref = Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=3)).lift(kp).xyz
    fast = Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=3, runtime="onnx")).lift(kp).xyz
    assert np.abs(ref - fast).max() < 1e-4
    cached = list(cache.glob("*.onnx"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime
    Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=5, runtime="onnx"))  # another batch: the same export
    assert list(cache.glob("*.onnx")) == cached and cached[0].stat().st_mtime == mtime


def test_onnx_runs_what_it_is_given_without_padding(model, cache):
    """A one-window clip runs one window (with its mirror), a short clip at its own length, whatever the batch size;
    both equal the torch path."""
    lifter = Lifter(model, "cpu", LiftOptions(27, 18, True, batch_size=8, runtime="onnx"))
    assert lifter._onnx is not None
    session = lifter._onnx.session
    shapes: list[tuple[int, ...]] = []

    class Spy:
        def run(self, names, feeds):
            shapes.append(feeds["x"].shape)
            return session.run(names, feeds)

    lifter._onnx.session = Spy()  # type: ignore[assignment]
    torch_lifter = Lifter(model, "cpu", LiftOptions(27, 18, True, batch_size=8))
    for T in (27, 10):
        out = lifter.lift(_kp(T)).xyz
        assert np.abs(out - torch_lifter.lift(_kp(T)).xyz).max() < 1e-4
    assert shapes == [(2, 27, 17, 3), (2, 10, 17, 3)]


def test_bench_times_the_onnx_lift_of_a_track(model, cache):
    from mbcli.bench.speed import video_fps

    assert video_fps(model, torch.device("cpu"), T=60, runtime="onnx") > 0
    assert len(list(cache.glob("*.onnx"))) == 1


def test_bad_runtime_options():
    with pytest.raises(ConfigError):
        LiftOptions(runtime="tensorrt")
    with pytest.raises(ConfigError):
        LiftOptions(runtime="onnx", precision="bf16")
