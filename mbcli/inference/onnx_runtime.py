"""Run a DSTformer through ONNX Runtime on the CPU (``--runtime onnx``): same float32 math, fused kernels.

The model is exported once per weights with ``torch.onnx.export`` (the TorchScript exporter, ``dynamo=False``) with
dynamic batch and time axes, from a small dummy input (2 windows of a few frames), and cached under
``$MBCLI_CACHE_DIR`` (default ``~/.cache/mbcli/onnx``), keyed by a hash of the weights and configuration only. One
export serves every batch size and every window length up to the model's maxlen, so nothing is padded at run time:
a one-window clip runs one window, a short clip runs at its own length.

Tracing records Python control flow as it ran, so the export switches the temporal attention to its batch-size
independent path (``Attention.max_view_batch`` = 0: one attention call on a (B*J, H, T, d) copy); the eager loop over
batch elements would otherwise be unrolled for the dummy's batch. That also keeps the export small: the fixed-shape
export of a 243-frame model for 16 windows had peaked at 22.3 GB RSS; this one peaks at 585 MB for the lite
architecture at 243 frames (about 9 s, 61 MB file) and 284 MB for the shipped 27-frame lifter (about 4 s), whole
process included.

ONNX Runtime's graph optimiser fuses LayerNorm, GELU and the attention arithmetic, which eager PyTorch runs as
separate passes; outputs match the PyTorch model to float32 rounding (tests/test_onnx_runtime.py checks 1e-4 for
batches of 1 and 3 and a short window).
"""

from __future__ import annotations

import copy
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

EXPORT_VERSION = "dyn1"  # in the cache file name: bump when the exported graph changes for the same weights
DUMMY_BATCH = 2
DUMMY_FRAMES = 5  # below every useful maxlen, so that the temporal-embedding slice is traced as a slice


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


def export_path(model: DSTformer) -> Path:
    """Where the export of these weights is cached (one file per weights, any batch and window)."""
    return cache_dir() / f"dstformer-{_weights_key(model)}-{EXPORT_VERSION}.onnx"


def export_dynamic(model: DSTformer, path: Path) -> None:
    """Export ``model`` (float32, eval) to ``path`` with dynamic batch and time axes, atomically."""
    from mbcli.model.dstformer import Attention

    m = copy.deepcopy(model).eval().float().cpu()
    for mod in m.modules():
        if isinstance(mod, Attention):
            mod.max_view_batch = 0  # the batch-independent temporal attention (module docstring)
    cfg = m.config
    x = torch.zeros(DUMMY_BATCH, min(DUMMY_FRAMES, cfg.maxlen), cfg.num_joints, cfg.dim_in)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes (they stay dynamic)
        # the stub types f as a path, but the TorchScript exporter (dynamo=False) writes to a file object too
        torch.onnx.export(m, (x,), buf, dynamo=False, opset_version=17,  # type: ignore[arg-type]
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 1: "frames"}, "y": {0: "batch", 1: "frames"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


class OnnxLifterModel:
    """A callable with the model's interface on numpy: (B, T, 17, 3) float32 -> (B, T, 17, 3), any B >= 1 and
    1 <= T <= maxlen, without padding."""

    def __init__(self, model: DSTformer, threads: int | None = None) -> None:
        try:
            import onnx  # noqa: F401  (torch.onnx.export needs it)
            import onnxruntime as ort
        except ImportError:
            raise DependencyError('--runtime onnx needs onnx and onnxruntime: pip install -e ".[onnx]"') from None
        self.maxlen = model.config.maxlen
        path = export_path(model)
        if not path.is_file():
            export_dynamic(model, path)
            for old in path.parent.glob(path.name.replace(EXPORT_VERSION, "b*-t*")):  # fixed-shape exports of before
                old.unlink(missing_ok=True)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads or torch.get_num_threads()
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.path = path

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[0] < 1 or not 1 <= x.shape[1] <= self.maxlen:
            raise ValueError(f"ONNX lifter takes (batch, 1..{self.maxlen} frames, joints, channels), got {x.shape}")
        return self.session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]
