"""NumPy ``.npz`` export of 2D and 3D keypoints: plain arrays only, so ``np.load(path, allow_pickle=False)`` works.

Keys (T frames of that person, J joints of ``joint_names``, J2 of ``joint_names_2d``):
- ``person{id}_keypoints_3d`` (T,J,3) float32, metres, in the frame ``meta_json`` states (OpenCV camera frame:
  x right, y down, z forward; root-relative); absent for a person without 3D.
- ``person{id}_keypoints_2d`` (T,J2,3) float32: x px, y px, score (0 = missing; x, y NaN where unknown).
- ``person{id}_frame_indices`` (T,) int64: video frame of each row.
- ``track_ids`` (N,) int64; ``joint_names`` (J,) and ``joint_names_2d`` (J2,) unicode; ``parents`` (J,) and
  ``parents_2d`` (J2,) int64 (-1 for the root); ``fps`` () float64; ``image_size`` (2,) int64 [width, height];
  ``num_frames`` () int64 (video frames).
- ``meta_json`` () unicode: the mbcli.motion header as JSON (format "mbcli.motion.npz", version, video, skeletons,
  coords, generator), see mbcli.export.json_motion.
The layout mirrors the mbcli.motion JSON document without the rounding.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbcli.errors import ExportError
from mbcli.export import write_atomic
from mbcli.export.json_motion import motion_header
from mbcli.skeletons import SKELETONS
from mbcli.types import MotionResult, VideoInfo
from mbcli.units import TO_METRES

FORMAT = "mbcli.motion.npz"
VERSION = 1


def write_npz(
    results: Sequence[MotionResult],
    video: VideoInfo | None,
    path: str | os.PathLike,
    *,
    weights: str | None = None,
) -> Path:
    """Write every person of ``results`` to one compressed .npz (atomically); return its Path."""
    arrays = motion_arrays(results, video, weights=weights)
    buf = io.BytesIO()
    # numpy's stub types the arrays as **kwds: ArrayLike beside allow_pickle: bool, and mypy checks a **dict against
    # every keyword, so it wants each array to be a bool too; no key here is "allow_pickle" (track keys are person*)
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return write_atomic(path, buf.getvalue())


def motion_arrays(
    results: Sequence[MotionResult], video: VideoInfo | None, *, weights: str | None = None
) -> dict[str, np.ndarray]:
    """The arrays written by ``write_npz``, by key."""
    header = motion_header(results, video, weights=weights)
    header["format"], header["version"] = FORMAT, VERSION
    sk = SKELETONS[header["skeleton"]["name"]]
    sk2d = SKELETONS[header.get("keypoints_2d_skeleton", header["skeleton"])["name"]]
    size = header["image_size"] if header["video"] is None else [header["video"]["width"], header["video"]["height"]]
    out: dict[str, np.ndarray] = {
        "track_ids": np.array([r.track_id for r in results], dtype=np.int64),
        "joint_names": np.array(sk.joints, dtype=str),
        "parents": np.array(sk.parents, dtype=np.int64),
        "joint_names_2d": np.array(sk2d.joints, dtype=str),
        "parents_2d": np.array(sk2d.parents, dtype=np.int64),
        "fps": np.array(header["fps"], dtype=np.float64),
        "image_size": np.array(size, dtype=np.int64),
        "num_frames": np.array(header["num_frames"], dtype=np.int64),
        "meta_json": np.array(json.dumps(header)),
    }
    for r in results:
        out.update(_person_arrays(r))
    return out


def _person_arrays(r: MotionResult) -> dict[str, np.ndarray]:
    k = r.keypoints_2d
    key = f"person{r.track_id}"
    out: dict[str, np.ndarray] = {
        f"{key}_keypoints_2d": np.concatenate([k.xy, k.scores[..., None]], axis=-1).astype(np.float32),
        f"{key}_frame_indices": k.frame_indices.astype(np.int64),
    }
    p = r.pose_3d
    if p is not None:
        if not np.array_equal(p.frame_indices, k.frame_indices):
            raise ExportError(f"track {r.track_id}: 2D and 3D frame_indices differ")
        if p.units not in TO_METRES:
            raise ExportError(f"track {r.track_id}: unknown 3D units {p.units!r}")
        out[f"{key}_keypoints_3d"] = (p.xyz * TO_METRES[p.units]).astype(np.float32)
    return out
