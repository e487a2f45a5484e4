"""The ``mbcli.motion`` JSON format (version 1): writer, reader and validation.

One file holds every tracked person of one video (../shared/design/FORMATS.md section 3, "Export"); its JSON Schema
is mbcli/export/motion.schema.json. Arrays are frame-major nested lists, so ``np.asarray`` loads each in one call.

    {"format": "mbcli.motion", "version": 1, "fps": 30.0, "num_frames": N,
     "video": {"path": str, "width": W, "height": H} | null,    # null when the input was a keypoint file,
     "image_size": [W, H],                                      #   and then this key is present instead
     "skeleton": {"name": "h36m17", "joints": [J names], "parents": [J ints]},
     "keypoints_2d_skeleton": {"name": ..., "joints": [...]},   # only when the 2D skeleton differs
     "coords": {"units": "m", "frame": "camera", "up": "-y", "forward": "+z", "handedness": "right",
                "root_relative": true},
     "people": [{"track_id": 0, "frame_indices": [T ints],
                 "keypoints_2d": [T][J2][x px, y px, score],    # x, y null where unknown (then score 0)
                 "keypoints_3d": [T][J][x, y, z]}],            # metres; absent when the person has no 3D
     "generator": {"name": "mbcli", "version": str, "weights": str | null}}

Conventions: num_frames counts video frames (a person's frame_indices index into them); ``skeleton`` names the 3D
joints, or the 2D joints when no person has 3D; coords describe keypoints_3d: OpenCV camera frame (x right, y down,
z forward away from the camera, so up is -y), metres, root joint at the origin in every frame. Rounding keeps files
small: pixels to 0.01, metres to 1e-5, scores to 1e-3 (a score under 5e-4 reads back as 0, i.e. missing).

The reader also takes hand-written minimal files: format, version, image_size (or video) and people with
keypoints_2d, the 2D skeleton named by ``keypoints_2d_skeleton`` or ``skeleton`` (any mbcli skeleton, e.g.
h36m17 or coco17); fps defaults to 30, frame_indices to 0..T-1, track_id to the person's position. Anything
malformed raises KeypointFileError with a one-line message naming the file and the key.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import mbcli
from mbcli.errors import ExportError, KeypointFileError
from mbcli.export import write_atomic
from mbcli.skeletons import H36M17, SKELETONS, Skeleton
from mbcli.types import Keypoints2D, MotionResult, Pose3D, VideoInfo
from mbcli.units import TO_METRES

log = logging.getLogger(__name__)

FORMAT = "mbcli.motion"
VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("motion.schema.json")  # JSON Schema of the document
DEFAULT_FPS = 30.0
COORDS_CAMERA: dict[str, Any] = {
    "units": "m",
    "frame": "camera",
    "up": "-y",
    "forward": "+z",
    "handedness": "right",
    "root_relative": True,
}


# ----------------------------------------------------------------------------------------------- writing


def write_motion_json(
    results: Sequence[MotionResult],
    video: VideoInfo | None,
    path: str | os.PathLike,
    *,
    weights: str | None = None,
) -> Path:
    """Write every person of ``results`` to one mbcli.motion JSON file (atomically); return its Path.

    ``video`` None means the input was a keypoint file (or use the results' own VideoInfo, if they carry one);
    ``weights`` names the lifter weights for the generator block.
    """
    doc = motion_to_dict(results, video, weights=weights)
    return write_atomic(path, json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")


def motion_to_dict(
    results: Sequence[MotionResult], video: VideoInfo | None, *, weights: str | None = None
) -> dict[str, Any]:
    """The mbcli.motion document (a JSON-ready dict) for ``results``."""
    doc = motion_header(results, video, weights=weights)
    doc["people"] = [_person_dict(r) for r in results]
    return doc


def motion_header(
    results: Sequence[MotionResult], video: VideoInfo | None, *, weights: str | None = None
) -> dict[str, Any]:
    """Everything of the document but ``people``: format, fps, frames, video or image_size, skeletons, coords,
    generator. Shared with the NPZ exporter's meta_json."""
    video = video if video is not None else next((r.video for r in results if r.video is not None), None)
    if video is None and not results:
        raise ExportError("nothing to export: no people and no video information")
    ids = [int(r.track_id) for r in results]
    if len(set(ids)) != len(ids):
        raise ExportError(f"track ids must be unique, got {ids}")
    sk2d = _one_skeleton([r.keypoints_2d.skeleton for r in results], "2D")
    poses = [r.pose_3d for r in results if r.pose_3d is not None]
    sk3d = _one_skeleton([p.skeleton for p in poses], "3D")
    main = sk3d or sk2d or H36M17  # no people at all: name mbcli's 3D skeleton
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    if video is not None:
        doc["fps"] = float(video.fps)
        doc["num_frames"] = int(video.num_frames)
        doc["video"] = {"path": str(video.path), "width": int(video.width), "height": int(video.height)}
    else:
        k = results[0].keypoints_2d
        doc["fps"] = float(k.fps)
        doc["num_frames"] = max((int(r.keypoints_2d.frame_indices.max()) + 1 for r in results if
                                 r.keypoints_2d.num_frames), default=0)
        doc["video"] = None
        doc["image_size"] = [int(k.image_size[0]), int(k.image_size[1])]
    doc["skeleton"] = _skeleton_dict(main)
    if sk2d is not None and sk2d.name != main.name:
        doc["keypoints_2d_skeleton"] = {"name": sk2d.name, "joints": list(sk2d.joints)}
    doc["coords"] = _coords(poses)
    doc["generator"] = {"name": "mbcli", "version": mbcli.__version__, "weights": weights}
    return doc


def _one_skeleton(skeletons: list[Skeleton], what: str) -> Skeleton | None:
    names = {s.name for s in skeletons}
    if len(names) > 1:
        raise ExportError(f"all people must share one {what} skeleton, got {', '.join(sorted(names))}")
    return skeletons[0] if skeletons else None


def _skeleton_dict(sk: Skeleton) -> dict[str, Any]:
    return {"name": sk.name, "joints": list(sk.joints), "parents": list(sk.parents)}


def _coords(poses: list[Pose3D]) -> dict[str, Any]:
    frames = {p.frame for p in poses} or {"camera"}
    relative = {p.root_relative for p in poses} or {True}
    if len(frames) > 1 or len(relative) > 1:
        raise ExportError("all 3D poses must share one coordinate frame and root_relative setting")
    coords = dict(COORDS_CAMERA, root_relative=relative.pop())
    frame = frames.pop()
    if frame != "camera":  # mbcli defines no world axes yet: say so rather than guess
        coords.update(frame=frame, up=None, forward=None)
    return coords


def _person_dict(r: MotionResult) -> dict[str, Any]:
    k = r.keypoints_2d
    person: dict[str, Any] = {
        "track_id": int(r.track_id),
        "frame_indices": k.frame_indices.tolist(),
        "keypoints_2d": _nested(np.concatenate([np.round(k.xy.astype(np.float64), 2),
                                                np.round(k.scores.astype(np.float64), 3)[..., None]], axis=-1)),
    }
    p = r.pose_3d
    if p is not None:
        if p.units not in TO_METRES:
            raise ExportError(f"track {r.track_id}: unknown 3D units {p.units!r}")
        if not np.array_equal(p.frame_indices, k.frame_indices):
            raise ExportError(f"track {r.track_id}: 2D and 3D frame_indices differ")
        if not np.all(np.isfinite(p.xyz)):
            raise ExportError(f"track {r.track_id}: the 3D pose has non-finite values")
        person["keypoints_3d"] = np.round(p.xyz.astype(np.float64) * TO_METRES[p.units], 5).tolist()
    return person


def _nested(a: np.ndarray) -> list:
    """float array -> nested lists, non-finite values as None (JSON null)."""
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if not bad.any():
        return a.tolist()
    obj = a.astype(object)
    obj[bad] = None
    return obj.tolist()


# ----------------------------------------------------------------------------------------------- reading


def read_motion_json(path: str | os.PathLike) -> tuple[list[Keypoints2D], list[Pose3D | None], dict[str, Any]]:
    """Read an mbcli.motion file -> (2D per person, 3D per person or None, meta).

    meta: fps, num_frames, video (dict or None), image_size (w, h), skeleton (3D/main name), keypoints_2d_skeleton
    (name), coords, track_ids, generator. Raises KeypointFileError on anything malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from e
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise KeypointFileError(f"{path}: not valid JSON ({e})") from e
    return parse_motion_dict(doc, source=str(path))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed; write null for unknown values")


def parse_motion_dict(
    doc: Any, *, source: str = "<document>"
) -> tuple[list[Keypoints2D], list[Pose3D | None], dict[str, Any]]:
    """Validate an already-parsed mbcli.motion document; see ``read_motion_json``."""
    v = _Validator(source)
    v.check(isinstance(doc, dict), "the top level must be a JSON object")
    v.check(doc.get("format") == FORMAT, f'"format" must be "{FORMAT}", got {doc.get("format")!r}')
    v.check(doc.get("version") == VERSION, f'unsupported "version" {doc.get("version")!r}; this mbcli reads {VERSION}')
    fps = v.number(doc.get("fps", DEFAULT_FPS), "fps", positive=True)
    if "fps" not in doc:
        log.warning("%s has no fps; assuming %s", source, DEFAULT_FPS)
    video, image_size = _read_video(v, doc)
    sk_main, sk2d = _read_skeletons(v, doc)
    people = doc.get("people")
    v.check(isinstance(people, list), '"people" must be a list')
    coords = _read_coords(v, doc, any(isinstance(p, dict) and "keypoints_3d" in p for p in people))
    kps, poses, ids = [], [], []
    for i, person in enumerate(people):
        k, p, tid = _read_person(v, person, i, sk2d, sk_main, fps, image_size, coords)
        v.check(tid not in ids, f"people[{i}].track_id {tid} is used twice")
        kps.append(k)
        poses.append(p)
        ids.append(tid)
    last = max((int(k.frame_indices[-1]) + 1 for k in kps if k.num_frames), default=0)
    num_frames = v.integer(doc.get("num_frames", last), "num_frames", minimum=last)
    meta = {
        "fps": fps,
        "num_frames": num_frames,
        "video": video,
        "image_size": image_size,
        "skeleton": sk_main.name if sk_main is not None else sk2d.name,
        "keypoints_2d_skeleton": sk2d.name,
        "coords": coords,
        "track_ids": ids,
        "generator": doc.get("generator"),
    }
    return kps, poses, meta


def _read_skeletons(v: _Validator, doc: dict[str, Any]) -> tuple[Skeleton | None, Skeleton]:
    """The 3D "skeleton" (may be null when "keypoints_2d_skeleton" is given) and the 2D one (that, else "skeleton")."""
    if "keypoints_2d_skeleton" not in doc:
        sk = v.skeleton(doc.get("skeleton"), "skeleton")
        return sk, sk
    sk_main = None if doc.get("skeleton") is None else v.skeleton(doc["skeleton"], "skeleton")
    return sk_main, v.skeleton(doc["keypoints_2d_skeleton"], "keypoints_2d_skeleton")


def _read_video(v: _Validator, doc: dict) -> tuple[dict | None, tuple[int, int]]:
    video = doc.get("video")
    if video is not None:
        v.check(isinstance(video, dict), '"video" must be an object or null')
        v.check(isinstance(video.get("path"), str), '"video.path" must be a string')
        w = v.integer(video.get("width"), "video.width", minimum=1)
        h = v.integer(video.get("height"), "video.height", minimum=1)
        return {"path": video["path"], "width": w, "height": h}, (w, h)
    size = doc.get("image_size")
    if not (isinstance(size, list) and len(size) == 2):
        v.fail('"image_size" [width, height] is required when "video" is null')
    return None, (v.integer(size[0], "image_size[0]", minimum=1), v.integer(size[1], "image_size[1]", minimum=1))


def _read_coords(v: _Validator, doc: dict, has_3d: bool) -> dict | None:
    coords = doc.get("coords")
    if coords is None:
        v.check(not has_3d, '"coords" is required when any person has keypoints_3d')
        return None
    v.check(isinstance(coords, dict), '"coords" must be an object')
    v.check(coords.get("units") in TO_METRES, f'"coords.units" must be one of {", ".join(TO_METRES)}')
    v.check(coords.get("frame") in ("camera", "world"), '"coords.frame" must be "camera" or "world"')
    v.check(isinstance(coords.get("root_relative"), bool), '"coords.root_relative" must be true or false')
    return dict(coords)


def _read_person(
    v: _Validator, person: Any, i: int, sk2d: Skeleton, sk3d: Skeleton | None, fps: float,
    image_size: tuple[int, int], coords: dict | None,
) -> tuple[Keypoints2D, Pose3D | None, int]:
    where = f"people[{i}]"
    v.check(isinstance(person, dict), f"{where} must be an object")
    v.check("keypoints_2d" in person, f"{where} has no keypoints_2d")
    kp = v.array(person["keypoints_2d"], f"{where}.keypoints_2d", (None, sk2d.num_joints, 3))
    T = kp.shape[0]
    scores = kp[..., 2]
    v.check(bool(np.all(np.isfinite(scores))), f"{where}.keypoints_2d has a null or non-finite score")
    bad_xy = ~np.all(np.isfinite(kp[..., :2]), axis=-1)
    v.check(not np.any(bad_xy & (scores > 0)), f"{where}.keypoints_2d has null x/y with a score above 0")
    xy = np.where(bad_xy[..., None], np.nan, kp[..., :2])
    fi = person.get("frame_indices", list(range(T)))
    frames = v.array(fi, f"{where}.frame_indices", (T,))
    v.check(bool(np.all(frames == np.round(frames)) and np.all(frames >= 0)),
            f"{where}.frame_indices must be non-negative integers")
    v.check(bool(np.all(np.diff(frames) > 0)), f"{where}.frame_indices must be strictly increasing")
    tid = v.integer(person.get("track_id", i), f"{where}.track_id", minimum=0)
    k2d = Keypoints2D(xy, scores, frames.astype(np.int64), sk2d, image_size, fps)
    if "keypoints_3d" not in person:
        return k2d, None, tid
    if sk3d is None:
        v.fail(f'{where} has keypoints_3d but the file names no 3D "skeleton"')
    assert coords is not None  # _read_coords requires "coords" once a person has keypoints_3d
    xyz = v.array(person["keypoints_3d"], f"{where}.keypoints_3d", (T, sk3d.num_joints, 3))
    v.check(bool(np.all(np.isfinite(xyz))), f"{where}.keypoints_3d has null or non-finite values")
    pose = Pose3D(xyz, sk3d, frames.astype(np.int64), fps, frame=coords["frame"], units=coords["units"],
                  root_relative=coords["root_relative"])
    return k2d, pose, tid


class _Validator:
    """Small checks that raise KeypointFileError('<source>: <problem>')."""

    def __init__(self, source: str) -> None:
        self.source = source

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.fail(problem)

    def fail(self, problem: str) -> NoReturn:
        raise KeypointFileError(f"{self.source}: {problem}")

    def number(self, x: Any, key: str, *, positive: bool = False) -> float:
        ok = isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and (x > 0 or not positive)
        self.check(ok, f'"{key}" must be a {"positive " if positive else ""}number, got {x!r}')
        return float(x)

    def integer(self, x: Any, key: str, *, minimum: int = 0) -> int:
        ok = isinstance(x, int) and not isinstance(x, bool) and x >= minimum
        self.check(ok, f'"{key}" must be an integer >= {minimum}, got {x!r}')
        return int(x)

    def array(self, x: Any, key: str, shape: tuple[int | None, ...]) -> np.ndarray:
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        a: np.ndarray | None
        try:
            a = np.asarray(x, dtype=np.float64)
        except (ValueError, TypeError):
            a = None
        if a is None or a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            got = "a ragged or non-numeric list" if a is None else f"shape {a.shape}"
            self.fail(f'"{key}" must be an array of shape {want}, got {got}')
        return a

    def skeleton(self, s: Any, key: str) -> Skeleton:
        self.check(isinstance(s, dict) and isinstance(s.get("name"), str), f'"{key}" must be an object with a "name"')
        self.check(s["name"] in SKELETONS, f'"{key}.name" {s["name"]!r} is unknown; known: {", ".join(SKELETONS)}')
        sk = SKELETONS[s["name"]]
        self.check(s.get("joints", list(sk.joints)) == list(sk.joints), f'"{key}.joints" differ from the {sk.name} table')
        self.check(s.get("parents", list(sk.parents)) == list(sk.parents),
                   f'"{key}.parents" differ from the {sk.name} table')
        return sk
