"""Run a DSTformer through ONNX Runtime on the CPU (``--runtime onnx``): same float32 math, fewer passes over memory.

The model is exported once per (weights, batch, window) with ``torch.onnx.export`` at fixed shapes and cached under
``$MBCLI_CACHE_DIR`` (default ``~/.cache/mbcli/onnx``), keyed by a hash of the weights. ONNX Runtime's graph
optimiser fuses LayerNorm, GELU and the attention arithmetic, which eager PyTorch runs as separate passes; outputs
match the PyTorch model to float32 rounding (tests/test_onnx_runtime.py checks 1e-4).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from mbcli.errors import DependencyError
from mbcli.fsutil import atomic_path

if TYPE_CHECKING:
    from mbcli.model.dstformer import DSTformer


def cache_dir() -> Path:
    env = os.environ.get("MBCLI_CACHE_DIR")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "mbcli"
    return base / "onnx"


def _weights_key(model: DSTformer) -> str:
    h = hashlib.sha256()
    h.update(repr(model.config.to_dict()).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


class OnnxLifterModel:
    """A callable with the model's interface for fixed-shape batches: (batch, window, 17, 3) float32 numpy."""

    def __init__(self, model: DSTformer, batch: int, window: int, threads: int | None = None) -> None:
        try:
            import onnx  # noqa: F401  (torch.onnx.export needs it)
            import onnxruntime as ort
        except ImportError:
            raise DependencyError('--runtime onnx needs onnx and onnxruntime: pip install -e ".[onnx]"') from None
        self.batch, self.window = batch, window
        path = cache_dir() / f"dstformer-{_weights_key(model)}-b{batch}-t{window}.onnx"
        if not path.is_file():
            self._export(model, path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads or torch.get_num_threads()
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.path = path

    def _export(self, model: DSTformer, path: Path) -> None:
        x = torch.zeros(self.batch, self.window, model.config.num_joints, model.config.dim_in)
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the stub types f as a path, but the TorchScript exporter (dynamo=False) writes to a file object too
            torch.onnx.export(model.eval().float(), (x,), buf, dynamo=False, opset_version=17,  # type: ignore[arg-type]
                              input_names=["x"], output_names=["y"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if n > self.batch or x.shape[1] != self.window:
            raise ValueError(f"ONNX lifter takes at most {self.batch} windows of {self.window} frames, got {x.shape}")
        if n < self.batch:  # fixed shapes: pad the last batch
            x = np.concatenate([x, np.zeros((self.batch - n,) + x.shape[1:], x.dtype)])
        return self.session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0][:n]
