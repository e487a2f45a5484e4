"""The PoseDetector protocol every 2D keypoint backend follows, and where backends find their model files.

A PoseDetector (ARCHITECTURE.md, "The objects that flow between stages") has a ``skeleton`` and turns one RGB uint8
frame (H,W,3) into a :class:`mbcli.types.FramePoses` (N people, K = skeleton.num_joints keypoints, pixel coordinates
with the origin at the top-left pixel corner, scores in [0,1]). Detectors may keep state between consecutive frames
(landmark tracking); ``reset()`` forgets it, and a frame index that does not follow the previous one resets it too.

Model files live in ``weights_dir()`` (the checkout's ``weights/`` folder, an installed wheel's copy of it, or the
environment variable MBCLI_WEIGHTS_DIR; see mbcli.weights) and are listed with their sha256 in its
``manifest.toml``; ``weights_path()`` checks that a
file is there and is the file the manifest names (a git-lfs pointer or a truncated download fails loudly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from mbcli.skeletons import Skeleton
from mbcli.types import FramePoses
from mbcli.weights import WEIGHTS_ENV, weights_dir
from mbcli.weights import file_path as weights_path
from mbcli.weights import sha256 as sha256_file

__all__ = ["WEIGHTS_ENV", "DetectorBase", "PoseDetector", "check_frame", "sha256_file", "weights_dir", "weights_path"]


def check_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """Validate one RGB uint8 frame (H,W,3) and return it C-contiguous."""
    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB frame of shape (H, W, 3), got {getattr(frame_rgb, 'shape', type(frame_rgb))}")
    if frame_rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame_rgb.dtype}")
    if frame_rgb.shape[0] < 2 or frame_rgb.shape[1] < 2:
        raise ValueError(f"frame too small: {frame_rgb.shape}")
    return np.ascontiguousarray(frame_rgb)


@runtime_checkable
class PoseDetector(Protocol):
    """One frame in, all people in it out. ``skeleton`` names the K keypoints of every FramePoses it returns."""

    skeleton: Skeleton

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> FramePoses:
        """frame_rgb (H,W,3) uint8 RGB -> FramePoses in pixels of that frame."""
        ...

    def detect_many(self, frames: Iterable[np.ndarray], indices: Sequence[int]) -> list[FramePoses]:
        """Consecutive frames in order (backends may batch); same results as calling the detector per frame."""
        ...

    def reset(self) -> None:
        """Forget any state carried between frames (call between videos)."""
        ...


class DetectorBase:
    """Default ``detect_many`` and ``reset`` for backends that work one frame at a time."""

    skeleton: Skeleton

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> FramePoses:  # pragma: no cover - abstract
        raise NotImplementedError

    def detect_many(self, frames: Iterable[np.ndarray], indices: Sequence[int]) -> list[FramePoses]:
        out = []
        frames = list(frames)
        if len(frames) != len(indices):
            raise ValueError(f"{len(frames)} frames but {len(indices)} indices")
        for frame, index in zip(frames, indices):
            out.append(self(frame, int(index)))
        return out

    def reset(self) -> None:
        return None
