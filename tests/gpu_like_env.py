"""Run a module or script as on the GPU machine, without PyAV (absent there), ONNX Runtime or OpenCV:
``python tests/gpu_like_env.py -m mbcli train ...``, ``python tests/gpu_like_env.py tools/campaign.py round ...``
or ``-c CODE``. A ``None`` entry in sys.modules makes ``import av`` raise ImportError and
``importlib.util.find_spec("av")`` answer None, exactly as for a package that is not installed."""

from __future__ import annotations

import runpy
import sys

BLOCKED = ("av", "onnxruntime", "cv2")

if __name__ == "__main__":
    for name in BLOCKED:
        sys.modules[name] = None  # type: ignore[assignment]
    if sys.argv[1] == "-c":
        exec(sys.argv[2])
    elif sys.argv[1] == "-m":
        mod = sys.argv[2]
        sys.argv = [mod, *sys.argv[3:]]
        runpy.run_module(mod, run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
