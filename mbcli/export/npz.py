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
  coords, world (with a scene), generator), see mbcli.export.json_motion.
World (when the clip was placed in the world, ``scene`` given; the frame of mbcli.types.Floor: Y up, metres, floor
at y = 0, camera at (0, height, 0); see json_motion's docstring):
- ``camera_K`` (3,3) float64 intrinsics [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] px; ``camera_R_cam_to_world`` (3,3)
  and ``camera_position_world`` (3,) float64: a camera-frame point X is R @ X + position in the world;
  ``floor_up_camera`` (3,) float64 unit up in the camera frame; ``floor_camera_height_m`` () float64;
  ``floor_method`` () unicode (the focal length's source, the floor's note and tilt are in meta_json's "world").
- per person with world data: ``person{id}_keypoints_3d_world`` (T,J,3) float32 metres, world frame, not
  root-relative; ``person{id}_root_camera`` (T,3) float32 the root in the camera frame, metres;
  ``person{id}_root_flags`` (T,) uint8 bit mask (1 few joints seen, 2 cut by the image edge, 4 far away);
  ``person{id}_foot_contact`` (T,2) bool, left and right foot planted; ``person{id}_world_scale`` () float64.
The layout mirrors the mbcli.motion JSON document without the rounding. The format version stays 1: version 1 files
are these without the world keys.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from mbcli.errors import ExportError
from mbcli.export.json_motion import checked_world, motion_header
from mbcli.fsutil import atomic_path
from mbcli.skeletons import SKELETONS
from mbcli.types import MotionResult, Scene, VideoInfo
from mbcli.units import TO_METRES

FORMAT = "mbcli.motion.npz"
VERSION = 1


def write_npz(
    results: Sequence[MotionResult],
    video: VideoInfo | None,
    path: str | os.PathLike,
    *,
    weights: str | None = None,
    scene: Scene | None = None,
) -> Path:
    """Write every person of ``results`` to one compressed .npz (atomically); return its Path. ``scene``: the clip's
    camera and floor, written with each person's ``MotionResult.world`` (people with world data need a scene).

    The file is what ``np.savez_compressed`` makes (a deflated zip of ``key.npy`` entries), written one array at a
    time straight into the staged file: a long clip never holds every array, or the compressed file, in memory."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for key, array in motion_arrays(results, video, weights=weights, scene=scene):
                with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                    write_npy(f, array)
                del array  # not held while the next one is made
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from e
    return path


BLOCK_BYTES = 1 << 20  # bytes of an array's data handed to the compressor at a time


class Joined:
    """``np.concatenate(parts, axis=-1).astype(float32)`` of (T, ...) parts, made a block of rows at a time as it is
    written (write_npy) instead of whole beside its parts."""

    def __init__(self, *parts: np.ndarray) -> None:
        self.parts = parts
        self.shape = (*parts[0].shape[:-1], sum(p.shape[-1] for p in parts))
        self.dtype = np.dtype(np.float32)

    def rows(self, lo: int, hi: int) -> np.ndarray:
        return np.concatenate([p[lo:hi] for p in self.parts], axis=-1).astype(np.float32, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:  # (np.asarray of the whole, for tests and small uses)
        out = self.rows(0, self.shape[0])
        return out if dtype is None else out.astype(dtype)


def write_npy(f: IO[bytes], array: np.ndarray | Joined) -> None:
    """The bytes ``np.lib.format.write_array(f, array, allow_pickle=False)`` writes (a version 1.0 header, then the
    data), with a big C-ordered array's data handed over BLOCK_BYTES at a time straight from the array (numpy copies
    it in 16 MB pieces first) and a Joined made a block of rows at a time."""
    if not isinstance(array, Joined):
        array = np.asanyarray(array)
        if array.dtype.hasobject or array.nbytes <= BLOCK_BYTES or not array.flags.c_contiguous:
            np.lib.format.write_array(f, array, allow_pickle=False)
            return
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": array.shape}
    np.lib.format.write_array_header_1_0(f, header)
    if isinstance(array, Joined):
        step = max(1, BLOCK_BYTES // max(1, array.dtype.itemsize * int(np.prod(array.shape[1:]))))
        for lo in range(0, array.shape[0], step):
            f.write(np.ascontiguousarray(array.rows(lo, lo + step)).reshape(-1).view(np.uint8).data)
        return
    data = array.reshape(-1).view(np.uint8).data
    for lo in range(0, len(data), BLOCK_BYTES):
        f.write(data[lo:lo + BLOCK_BYTES])


def motion_arrays(
    results: Sequence[MotionResult], video: VideoInfo | None, *, weights: str | None = None,
    scene: Scene | None = None,
) -> Iterator[tuple[str, np.ndarray | Joined]]:
    """The (key, array) pairs written by ``write_npz``, made one at a time (the 2D keypoints as a Joined)."""
    header = motion_header(results, video, weights=weights, scene=scene)
    header["format"], header["version"] = FORMAT, VERSION
    sk = SKELETONS[header["skeleton"]["name"]]
    sk2d = SKELETONS[header.get("keypoints_2d_skeleton", header["skeleton"])["name"]]
    size = header["image_size"] if header["video"] is None else [header["video"]["width"], header["video"]["height"]]
    yield from {
        "track_ids": np.array([r.track_id for r in results], dtype=np.int64),
        "joint_names": np.array(sk.joints, dtype=str),
        "parents": np.array(sk.parents, dtype=np.int64),
        "joint_names_2d": np.array(sk2d.joints, dtype=str),
        "parents_2d": np.array(sk2d.parents, dtype=np.int64),
        "fps": np.array(header["fps"], dtype=np.float64),
        "image_size": np.array(size, dtype=np.int64),
        "num_frames": np.array(header["num_frames"], dtype=np.int64),
        "meta_json": np.array(json.dumps(header)),
    }.items()
    if scene is not None:
        yield from scene_arrays(scene).items()
    for r in results:
        yield from _person_arrays(r)


def scene_arrays(scene: Scene) -> dict[str, np.ndarray]:
    """The clip's camera and floor as plain arrays (module docstring)."""
    c, f = scene.camera, scene.floor
    return {
        "camera_K": np.array([[c.fx, 0.0, c.cx], [0.0, c.fy, c.cy], [0.0, 0.0, 1.0]], dtype=np.float64),
        "camera_R_cam_to_world": f.R_cam_to_world.astype(np.float64),
        "camera_position_world": f.camera_position.astype(np.float64),
        "floor_up_camera": f.up.astype(np.float64),
        "floor_camera_height_m": np.array(f.height_m, dtype=np.float64),
        "floor_method": np.array(f.method, dtype=str),
    }


def _person_arrays(r: MotionResult) -> Iterator[tuple[str, np.ndarray | Joined]]:
    """One person's (key, array) pairs (module docstring), made one at a time."""
    k = r.keypoints_2d
    key = f"person{r.track_id}"
    p = r.pose_3d
    if p is not None:
        if not np.array_equal(p.frame_indices, k.frame_indices):
            raise ExportError(f"track {r.track_id}: 2D and 3D frame_indices differ")
        if p.units not in TO_METRES:
            raise ExportError(f"track {r.track_id}: unknown 3D units {p.units!r}")
    w = checked_world(r) if r.world is not None else None
    # (copy=False: an array already of the written type is written as it is, not copied first)
    yield f"{key}_keypoints_2d", Joined(k.xy, k.scores[..., None])
    yield f"{key}_frame_indices", k.frame_indices.astype(np.int64, copy=False)
    if p is not None:
        scale = TO_METRES[p.units]
        yield f"{key}_keypoints_3d", (p.xyz if scale == 1.0 else p.xyz * scale).astype(np.float32, copy=False)
    if w is not None:
        yield f"{key}_keypoints_3d_world", w.joints_world.astype(np.float32, copy=False)
        yield f"{key}_root_camera", w.root_cam.astype(np.float32, copy=False)
        yield f"{key}_root_flags", w.root_flags.astype(np.uint8, copy=False)
        yield f"{key}_foot_contact", w.contacts.astype(bool, copy=False)
        yield f"{key}_world_scale", np.array(w.scale, dtype=np.float64)
