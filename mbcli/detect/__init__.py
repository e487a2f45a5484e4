"""2D keypoint detectors: one PoseDetector protocol (base.py), one module per backend, and ``load_detector``.

Backends (ARCHITECTURE.md convention 10: a plain dict of lazy factories over explicit names, failing loudly):
- "default": RTMDet-nano person boxes + BlazePose 33 landmarks on onnxruntime (onnx_blazepose.py), skeleton
  blazepose33, fully offline from the files in weights/. Keyword options go to BlazePoseDetector (model="full"|
  "lite"|"heavy", detect_every, num_threads, ...); "blazepose-lite" / "blazepose-heavy" pick the other landmark models.
- "mmpose": an adapter over an installed mmpose/mmdet (mmpose_backend.py), skeleton coco17; needs config= and
  checkpoint=.
Heavy backends are imported only when their factory runs.
"""

from __future__ import annotations

from collections.abc import Callable

from mbcli.detect.base import PoseDetector, weights_dir, weights_path
from mbcli.errors import ConfigError


def _default(**kw) -> PoseDetector:
    from mbcli.detect.onnx_blazepose import BlazePoseDetector

    return BlazePoseDetector(**kw)


def _blazepose(model: str) -> Callable[..., PoseDetector]:
    def factory(**kw) -> PoseDetector:
        from mbcli.detect.onnx_blazepose import BlazePoseDetector

        return BlazePoseDetector(model=model, **kw)

    return factory


def _mmpose(**kw) -> PoseDetector:
    from mbcli.detect.mmpose_backend import MMPoseDetector

    return MMPoseDetector(**kw)


DETECTORS: dict[str, Callable[..., PoseDetector]] = {
    "default": _default,
    "blazepose-lite": _blazepose("lite"),
    "blazepose-full": _blazepose("full"),
    "blazepose-heavy": _blazepose("heavy"),
    "mmpose": _mmpose,
}


def check_detector(name: str) -> None:
    """ConfigError naming the valid detectors when ``name`` is not one (flows call it before loading any model)."""
    if not isinstance(name, str) or name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}; valid detectors: {', '.join(DETECTORS)}")


def load_detector(name: str = "default", **kw) -> PoseDetector:
    """Build the detector called ``name`` with backend options ``kw``; unknown names raise ConfigError."""
    check_detector(name)
    factory = DETECTORS[name]
    try:
        return factory(**kw)
    except TypeError as e:  # an option the backend does not take
        if "unexpected keyword argument" not in str(e):
            raise
        raise ConfigError(f"bad option for detector {name!r}: {e}") from None


__all__ = ["DETECTORS", "PoseDetector", "check_detector", "load_detector", "weights_dir", "weights_path"]
