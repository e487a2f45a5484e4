"""The ``mbcli.motion`` JSON format (version 2): writer, reader and validation.

One file holds every tracked person of one video (../shared/design/FORMATS.md section 3, "Export"); its JSON Schema
is mbcli/export/motion.schema.json. Arrays are frame-major nested lists, so ``np.asarray`` loads each in one call.

    {"format": "mbcli.motion", "version": 2, "fps": 30.0, "num_frames": N,
     "video": {"path": str, "width": W, "height": H} | null,    # null when the input was a keypoint file,
     "image_size": [W, H],                                      #   and then this key is present instead
     "skeleton": {"name": "h36m17", "joints": [J names], "parents": [J ints]},
     "keypoints_2d_skeleton": {"name": ..., "joints": [...]},   # only when the 2D skeleton differs
     "coords": {"units": "m", "frame": "camera", "up": "-y", "forward": "+z", "handedness": "right",
                "root_relative": true},
     "world": {"frame": WORLD_FRAME,                            # only when the clip was placed in the world
               "camera": {"fx", "fy", "cx", "cy": px, "focal_source": str,
                          "R_cam_to_world": [3][3], "position_world": [3]},
               "floor": {"up_camera": [3], "camera_height_m", "method": str, "note": str, "tilt_deg"}},
     "people": [{"track_id": 0, "frame_indices": [T ints],
                 "keypoints_2d": [T][J2][x px, y px, score],    # x, y null where unknown (then score 0)
                 "keypoints_3d": [T][J][x, y, z],              # metres; absent when the person has no 3D
                 "world": {"keypoints_3d": [T][J][x, y, z],    # only with the top-level "world"
                           "root_camera": [T][3], "root_flags": [T ints], "foot_contact": [T][left, right],
                           "scale": s}}],
     "generator": {"name": "mbcli", "version": str, "weights": str | null}}

Conventions: num_frames counts video frames (a person's frame_indices index into them); ``skeleton`` names the 3D
joints, or the 2D joints when no person has 3D; coords describe keypoints_3d: OpenCV camera frame (x right, y down,
z forward away from the camera, so up is -y), metres, root joint at the origin in every frame. Rounding keeps files
small: pixels to 0.01, metres to 1e-5, scores to 1e-3 (a score under 5e-4 reads back as 0, i.e. missing).

World (version 2; written when a Scene is given, mbcli.types.Scene, Floor, WorldPose). The world frame is the
clip's: Y up, metres, the floor at y = 0, the camera's centre at (0, camera_height_m, 0), X the camera's right made
horizontal, Z = X x Y (right-handed, towards the camera). ``R_cam_to_world`` (rows: the world's axes in camera
coordinates) and ``position_world`` map a camera-frame point X to R @ X + position. Per person: ``keypoints_3d`` the
joints in that frame (not root-relative, rounded like keypoints_3d), ``root_camera`` the root joint in the camera
frame (metres), ``root_flags`` a bit mask per frame (ROOT_FLAGS: 1 few joints seen, position interpolated; 2 cut by
the image edge; 4 far away), ``foot_contact`` 0/1 for the left and right foot planted, ``scale`` the factor that
gave the lifted skeleton adult size before it was placed. Camera-frame ``keypoints_3d`` and ``coords`` are as in
version 1, which the reader still takes (version 1 files have no world blocks).

The reader also takes hand-written minimal files: format, version, image_size (or video) and people with
keypoints_2d, the 2D skeleton named by ``keypoints_2d_skeleton`` or ``skeleton`` (any mbcli skeleton, e.g.
h36m17 or coco17); fps defaults to 30, frame_indices to 0..T-1, track_id to the person's position. Anything
malformed raises KeypointFileError with a one-line message naming the file and the key. ``read_motion_json``
returns the world blocks through its meta dict: meta["world"] (the validated top-level block, or None),
meta["scene"] (a Scene, or None) and meta["world_people"] (one WorldPose or None per person).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import mbcli
from mbcli.errors import ExportError, KeypointFileError
from mbcli.export import write_atomic_chunks
from mbcli.skeletons import H36M17, SKELETONS, Skeleton
from mbcli.types import FPS_RANGE, Floor, Intrinsics, Keypoints2D, MotionResult, Pose3D, Scene, VideoInfo, WorldPose
from mbcli.units import TO_METRES

log = logging.getLogger(__name__)

FORMAT = "mbcli.motion"
VERSION = 2  # what the writer writes
READ_VERSIONS = (1, 2)  # what the reader takes; version 1 has no world blocks
SCHEMA_PATH = Path(__file__).with_name("motion.schema.json")  # JSON Schema of the document
DEFAULT_FPS = 30.0
MAX_FRAMES = 10**7  # frame indices and num_frames above this are refused (92 hours at 30 fps)
_F32_MAX = float(np.finfo(np.float32).max)  # the stage objects hold float32: a number beyond is as unusable as inf
WORLD_FRAME = "Y up, metres, floor at y = 0, camera at (0, height, 0)"
# root_flags bits (mbcli.world.trajectory FEW_JOINTS, AT_EDGE, FAR); the schema's root_flags description lists them
ROOT_FLAGS = {1: "few joints seen: position interpolated", 2: "cut by the image edge", 4: "far away"}
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
    scene: Scene | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write every person of ``results`` to one mbcli.motion JSON file (atomically); return its Path.
    ``notes``: what the run told the user about its input and results (a partial decode, frames nobody was seen in, a
    floor fallback), written as the top-level "notes" list when there are any.

    ``video`` None means the input was a keypoint file (or use the results' own VideoInfo, if they carry one);
    ``weights`` names the lifter weights for the generator block; ``scene`` the clip's camera and floor, written as
    the "world" block with each person's ``MotionResult.world`` (people with world data need a scene). The text is
    streamed a block of frames at a time (``json_chunks``): a long clip never becomes one string in memory.
    """
    doc = motion_header(results, video, weights=weights, scene=scene)
    if notes:
        doc["notes"] = [str(n) for n in notes]
    doc["people"] = [_person_fields(r) for r in results]
    return write_atomic_chunks(path, _chained(json_chunks(doc), "\n"))


def motion_to_dict(
    results: Sequence[MotionResult], video: VideoInfo | None, *, weights: str | None = None,
    scene: Scene | None = None,
) -> dict[str, Any]:
    """The mbcli.motion document (a JSON-ready dict) for ``results``."""
    doc = motion_header(results, video, weights=weights, scene=scene)
    doc["people"] = [_materialised(_person_fields(r)) for r in results]
    return doc


@dataclass(frozen=True)
class _Rows:
    """A per-frame array of ``n`` rows in a document, made ready for JSON a block at a time: ``make(lo, hi)``
    gives rows [lo, hi) as nested lists (rounded, non-finite values as None where the format allows null)."""

    n: int
    make: Callable[[int, int], list]


ROWS_PER_CHUNK = 2048  # frames turned into JSON text at a time


def _materialised(obj: Any) -> Any:
    """``obj`` with every _Rows made into its nested lists."""
    if isinstance(obj, _Rows):
        return obj.make(0, obj.n)
    if isinstance(obj, dict):
        return {k: _materialised(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialised(v) for v in obj]
    return obj


def json_chunks(obj: Any) -> Iterator[str]:
    """The compact JSON text (``json.dumps(obj, separators=(",", ":"), allow_nan=False)``, byte for byte) of a
    document whose per-frame arrays are _Rows, in pieces of at most ROWS_PER_CHUNK frames."""
    if isinstance(obj, _Rows):
        yield "["
        for lo in range(0, obj.n, ROWS_PER_CHUNK):
            text = _dumps(obj.make(lo, min(lo + ROWS_PER_CHUNK, obj.n)))
            yield ("," if lo else "") + text[1:-1]
        yield "]"
    elif isinstance(obj, dict):
        yield "{"
        for i, (k, v) in enumerate(obj.items()):
            yield ("," if i else "") + _dumps(k) + ":"
            yield from json_chunks(v)
        yield "}"
    elif isinstance(obj, list):
        yield "["
        for i, v in enumerate(obj):
            if i:
                yield ","
            yield from json_chunks(v)
        yield "]"
    else:
        yield _dumps(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _chained(chunks: Iterator[str], tail: str) -> Iterator[str]:
    yield from chunks
    yield tail


def motion_header(
    results: Sequence[MotionResult], video: VideoInfo | None, *, weights: str | None = None,
    scene: Scene | None = None,
) -> dict[str, Any]:
    """Everything of the document but ``people``: format, fps, frames, video or image_size, skeletons, coords,
    world (with a scene), generator. Shared with the NPZ exporter's meta_json."""
    video = video if video is not None else next((r.video for r in results if r.video is not None), None)
    if video is None and not results:
        raise ExportError("nothing to export: no people and no video information")
    ids = [int(r.track_id) for r in results]
    if len(set(ids)) != len(ids):
        raise ExportError(f"track ids must be unique, got {ids}")
    placed = [int(r.track_id) for r in results if r.world is not None]
    if placed and scene is None:
        raise ExportError(f"tracks {placed} have world data but no scene (camera and floor) was given")
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
    if scene is not None:
        doc["world"] = scene_dict(scene)
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


def scene_dict(scene: Scene) -> dict[str, Any]:
    """The top-level "world" block: the world frame, the camera (intrinsics and pose) and the floor."""
    c, f = scene.camera, scene.floor
    numbers = [c.fx, c.fy, c.cx, c.cy, f.height_m, *f.up]
    if not np.all(np.isfinite(numbers)):
        raise ExportError("the scene's camera or floor has non-finite values")
    camera = {"fx": float(c.fx), "fy": float(c.fy), "cx": float(c.cx), "cy": float(c.cy), "focal_source": c.source,
              "R_cam_to_world": f.R_cam_to_world.tolist(), "position_world": f.camera_position.tolist()}
    floor = {"up_camera": f.up.tolist(), "camera_height_m": float(f.height_m), "method": f.method, "note": f.note,
             "tilt_deg": round(f.tilt_deg, 3)}
    return {"frame": WORLD_FRAME, "camera": camera, "floor": floor}


def checked_world(r: MotionResult) -> WorldPose:
    """``r.world`` (not None), checked against the person's 3D pose: one world joint per 3D joint and frame, a
    finite scale. Shared with the NPZ exporter."""
    w, p = r.world, r.pose_3d
    assert w is not None
    if p is None:
        raise ExportError(f"track {r.track_id}: world data without a 3D pose")
    if w.joints_world.shape != p.xyz.shape:
        raise ExportError(f"track {r.track_id}: world joints {w.joints_world.shape} do not match the 3D pose "
                          f"{p.xyz.shape}")
    if not np.isfinite(w.scale):
        raise ExportError(f"track {r.track_id}: the world scale is not finite")
    return w


def _person_world(r: MotionResult) -> dict[str, Any]:
    """A person's "world" block (r.world is not None)."""
    w = checked_world(r)
    return {
        "keypoints_3d": _rows(w.joints_world, 5),
        "root_camera": _rows(w.root_cam, 5),
        "root_flags": _Rows(len(w.root_flags), lambda lo, hi: w.root_flags[lo:hi].astype(int).tolist()),
        "foot_contact": _Rows(len(w.contacts), lambda lo, hi: w.contacts[lo:hi].astype(int).tolist()),
        "scale": float(w.scale),
    }


def _rows(a: np.ndarray, decimals: int, factor: float = 1.0) -> _Rows:
    """_Rows of ``a`` (T, ...) as float64, times ``factor`` (when not 1), rounded to ``decimals``."""
    if factor == 1.0:
        return _Rows(len(a), lambda lo, hi: np.round(a[lo:hi].astype(np.float64), decimals).tolist())
    return _Rows(len(a), lambda lo, hi: np.round(a[lo:hi].astype(np.float64) * factor, decimals).tolist())


def _person_fields(r: MotionResult) -> dict[str, Any]:
    """A person's entry of ``people``, its per-frame arrays as _Rows (checked now, made when written)."""
    k = r.keypoints_2d
    person: dict[str, Any] = {
        "track_id": int(r.track_id),
        "frame_indices": _Rows(len(k.frame_indices), lambda lo, hi: k.frame_indices[lo:hi].tolist()),
        "keypoints_2d": _Rows(k.num_frames, lambda lo, hi: _nested(np.concatenate(
            [np.round(k.xy[lo:hi].astype(np.float64), 2),
             np.round(k.scores[lo:hi].astype(np.float64), 3)[..., None]], axis=-1))),
    }
    p = r.pose_3d
    if p is not None:
        if p.units not in TO_METRES:
            raise ExportError(f"track {r.track_id}: unknown 3D units {p.units!r}")
        if not np.array_equal(p.frame_indices, k.frame_indices):
            raise ExportError(f"track {r.track_id}: 2D and 3D frame_indices differ")
        if not np.all(np.isfinite(p.xyz)):
            raise ExportError(f"track {r.track_id}: the 3D pose has non-finite values")
        person["keypoints_3d"] = _rows(p.xyz, 5, TO_METRES[p.units])
    if r.world is not None:
        person["world"] = _person_world(r)
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
    (name), coords, track_ids, generator, world (the top-level "world" block or None), scene (Scene or None),
    world_people (per person a WorldPose or None). Reads versions 1 and 2. Raises KeypointFileError on anything
    malformed. A long file costs about its text and its arrays: each person's per-frame arrays are parsed a block of
    frames at a time straight into numpy (``_FrameArrays``), never held whole as Python lists.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a byte order mark is allowed)
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from e
    try:
        doc = _FrameArrays(text).document()
    except _NotPlain:  # malformed JSON: json.loads finds the same fault and says what and where
        doc = _load_json(text, path)
    del text
    return parse_motion_dict(doc, source=str(path))


def _load_json(text: str, path: Path) -> Any:
    """``text`` parsed as a whole by json.loads (NaN and Infinity refused); KeypointFileError when it is not JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as e:
        raise KeypointFileError(f"{path}: not valid JSON ({e})") from e


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed; write null for unknown values")


def parse_motion_dict(
    doc: Any, *, source: str = "<document>"
) -> tuple[list[Keypoints2D], list[Pose3D | None], dict[str, Any]]:
    """Validate an already-parsed mbcli.motion document; see ``read_motion_json``."""
    v = _Validator(source)
    v.check(isinstance(doc, dict), "the top level must be a JSON object")
    v.check(doc.get("format") == FORMAT, f'"format" must be "{FORMAT}", got {doc.get("format")!r}')
    version = doc.get("version", 1)  # a hand-written minimal file may leave it out: the first version's layout
    v.check(isinstance(version, int) and not isinstance(version, bool) and version in READ_VERSIONS,
            f'unsupported "version" {version!r}; this mbcli reads versions {", ".join(map(str, READ_VERSIONS))}')
    fps = v.number(doc.get("fps", DEFAULT_FPS), "fps", positive=True)
    v.check(FPS_RANGE[0] <= fps <= FPS_RANGE[1], f'"fps" must be from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g}, got {fps}')
    if "fps" not in doc:
        log.warning("%s has no fps; assuming %s", source, DEFAULT_FPS)
    video, image_size = _read_video(v, doc)
    sk_main, sk2d = _read_skeletons(v, doc)
    people = doc.get("people")
    v.check(isinstance(people, list), '"people" must be a list')
    coords = _read_coords(v, doc, any(isinstance(p, dict) and "keypoints_3d" in p for p in people))
    world, scene = _read_world(v, doc, version)
    kps, poses, ids, placed = [], [], [], []
    for i, person in enumerate(people):
        k, p, tid = _read_person(v, person, i, sk2d, sk_main, fps, image_size, coords)
        v.check(tid not in ids, f"people[{i}].track_id {tid} is used twice")
        kps.append(k)
        poses.append(p)
        ids.append(tid)
        placed.append(_read_person_world(v, person, i, p, scene is not None))
    last = max((int(k.frame_indices[-1]) + 1 for k in kps if k.num_frames), default=0)
    num_frames = v.integer(doc.get("num_frames", last), "num_frames", minimum=last, maximum=MAX_FRAMES)
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
        "world": world,
        "scene": scene,
        "world_people": placed,
        "notes": _read_notes(v, doc),
    }
    return kps, poses, meta


def _read_notes(v: _Validator, doc: dict[str, Any]) -> list[str]:
    notes = doc.get("notes", [])
    v.check(isinstance(notes, list) and all(isinstance(n, str) for n in notes), '"notes" must be a list of strings')
    return list(notes)


def _read_skeletons(v: _Validator, doc: dict[str, Any]) -> tuple[Skeleton | None, Skeleton]:
    """The 3D "skeleton" (may be null when "keypoints_2d_skeleton" is given) and the 2D one (that, else "skeleton")."""
    if "keypoints_2d_skeleton" not in doc:
        sk = v.skeleton(doc.get("skeleton", {"name": H36M17.name}), "skeleton")  # minimal files: h36m17
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
    scores = kp[..., 2].copy()  # not a view: kp (T,J,3) is freed once xy is taken
    v.check(bool(np.all(np.isfinite(scores))), f"{where}.keypoints_2d has a null or non-finite score")
    bad_xy = ~np.all(np.isfinite(kp[..., :2]), axis=-1)
    v.check(not np.any(bad_xy & (scores > 0)), f"{where}.keypoints_2d has null x/y with a score above 0")
    xy = np.where(bad_xy[..., None], np.nan, kp[..., :2])
    fi = person.get("frame_indices", list(range(T)))
    frames = v.array(fi, f"{where}.frame_indices", (T,))
    v.check(bool(np.all(frames == np.round(frames)) and np.all((frames >= 0) & (frames < MAX_FRAMES))),
            f"{where}.frame_indices must be non-negative integers below {MAX_FRAMES}")
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


def _read_world(v: _Validator, doc: dict, version: int) -> tuple[dict | None, Scene | None]:
    """The top-level "world" block (version 2) -> (the block, its Scene); (None, None) when absent or null."""
    world = doc.get("world")
    if world is None:
        return None, None
    v.check(version >= 2, '"world" needs "version" 2')
    v.check(isinstance(world, dict), '"world" must be an object')
    cam, fl = world.get("camera"), world.get("floor")
    v.check(isinstance(world.get("frame"), str), '"world.frame" must be a string')
    v.check(isinstance(cam, dict), '"world.camera" must be an object')
    v.check(isinstance(fl, dict), '"world.floor" must be an object')
    fx, fy = (v.number(cam.get(k), f"world.camera.{k}", positive=True) for k in ("fx", "fy"))
    cx, cy = (v.number(cam.get(k), f"world.camera.{k}") for k in ("cx", "cy"))
    for block, key, name in ((cam, "focal_source", "camera"), (fl, "method", "floor"), (fl, "note", "floor")):
        v.check(isinstance(block.get(key), str), f'"world.{name}.{key}" must be a string')
    up = v.array(fl.get("up_camera"), "world.floor.up_camera", (3,), finite=True)
    v.check(abs(float(np.linalg.norm(up)) - 1.0) < 1e-6, '"world.floor.up_camera" must be a unit vector')
    floor = Floor(up, v.number(fl.get("camera_height_m"), "world.floor.camera_height_m"), fl["method"],
                  note=fl["note"])
    v.number(fl.get("tilt_deg"), "world.floor.tilt_deg")
    R = v.array(cam.get("R_cam_to_world"), "world.camera.R_cam_to_world", (3, 3), finite=True)
    v.check(bool(np.allclose(R, floor.R_cam_to_world, rtol=0, atol=1e-6)),
            '"world.camera.R_cam_to_world" does not match "world.floor.up_camera"')
    position = v.array(cam.get("position_world"), "world.camera.position_world", (3,), finite=True)
    v.check(bool(np.allclose(position, floor.camera_position, rtol=0, atol=1e-6)),
            '"world.camera.position_world" must be [0, camera_height_m, 0]')
    scene = Scene(Intrinsics(fx, fy, cx, cy, cam["focal_source"]), floor)
    return dict(world), scene


def _read_person_world(
    v: _Validator, person: dict, i: int, pose: Pose3D | None, has_scene: bool
) -> WorldPose | None:
    """A person's "world" block -> WorldPose (None when absent or null); it needs the top-level block and the
    person's keypoints_3d, whose shape it shares."""
    w = person.get("world")
    if w is None:
        return None
    where = f"people[{i}].world"
    v.check(has_scene, f'{where} needs the top-level "world" block')
    v.check(isinstance(w, dict), f"{where} must be an object")
    if pose is None:
        v.fail(f"{where} needs the person's keypoints_3d")
    T = pose.num_frames
    joints = v.array(w.get("keypoints_3d"), f"{where}.keypoints_3d", pose.xyz.shape, finite=True)
    root = v.array(w.get("root_camera"), f"{where}.root_camera", (T, 3), finite=True)
    flags = v.array(w.get("root_flags"), f"{where}.root_flags", (T,), finite=True)
    v.check(bool(np.all(flags == np.round(flags)) and np.all((flags >= 0) & (flags < 256))),
            f"{where}.root_flags must be integers from 0 to 255")
    contact = v.array(w.get("foot_contact"), f"{where}.foot_contact", (T, 2), finite=True)
    v.check(bool(np.all((contact == 0) | (contact == 1))), f"{where}.foot_contact must be 0 or 1")
    scale = v.number(w.get("scale"), f"{where}.scale", positive=True)
    return WorldPose(joints, root, flags.astype(np.uint8), contact.astype(bool), scale)


FRAME_ARRAY_KEYS = frozenset({"keypoints_2d", "keypoints_3d", "frame_indices", "root_camera", "root_flags",
                              "foot_contact"})  # a person's (and its world block's) per-frame arrays
ROWS_PER_BLOCK = 2048  # frames of one array parsed into Python objects at a time
_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


@dataclass(frozen=True)
class _Parsed:
    """A per-frame array converted while the file was parsed: what ``_float_array`` makes of its list (None: ragged
    or not numbers)."""

    array: np.ndarray | None


class _NotPlain(Exception):
    """The text is not JSON (or not as _FrameArrays walks it): parse it whole to learn why."""


class _FrameArrays:
    """One JSON text -> the document json.loads would give, except that the per-frame arrays of each person
    (FRAME_ARRAY_KEYS in people[i] and people[i].world) are _Parsed: their rows are scanned ROWS_PER_BLOCK at a time
    by json's own scanner and converted to float64 at once, so a long file never holds millions of Python floats.
    The top level, ``people`` and the person objects are walked here; every other value is json's scanner's. Any
    fault of syntax raises _NotPlain (the caller reparses with json.loads for its message)."""

    def __init__(self, text: str) -> None:
        self.s = text
        decoder = json.JSONDecoder(parse_constant=_reject_constant)
        self.scan = decoder.scan_once  # type: ignore[attr-defined]  # (json's C scanner)

    def document(self) -> Any:
        try:
            i = self._ws(0)
            doc, i = self._object(i, "top") if self.s.startswith("{", i) else self._value(i)
            if self._ws(i) != len(self.s):
                raise _NotPlain  # extra data after the document
            return doc
        except (StopIteration, ValueError, RecursionError) as e:  # (json.JSONDecodeError is a ValueError)
            raise _NotPlain from e

    def _ws(self, i: int) -> int:
        m = _WS.match(self.s, i)
        assert m is not None  # (the pattern matches the empty string)
        return m.end()

    def _value(self, i: int) -> tuple[Any, int]:
        return self.scan(self.s, i)  # StopIteration: no value at i

    def _expect(self, i: int, char: str) -> int:
        """The index after ``char`` at i (after whitespace), else _NotPlain."""
        i = self._ws(i)
        if not self.s.startswith(char, i):
            raise _NotPlain
        return self._ws(i + 1)

    def _child(self, i: int, level: str, key: str | None) -> tuple[Any, int]:
        """The value at i of ``key`` (None: a list item) in an object of ``level``."""
        c = self.s[i:i + 1]
        if level == "top" and key == "people" and c == "[":
            return self._items(i, "people")
        if level == "people" and c == "{":
            return self._object(i, "person")
        if level == "person" and key == "world" and c == "{":
            return self._object(i, "person world")
        if level in ("person", "person world") and key in FRAME_ARRAY_KEYS and c == "[":
            return self._rows(i)
        return self._value(i)

    def _object(self, i: int, level: str) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        i = self._ws(i + 1)
        if self.s.startswith("}", i):
            return out, i + 1
        while True:
            if not self.s.startswith('"', i):
                raise _NotPlain
            key, i = json.decoder.scanstring(self.s, i + 1)  # type: ignore[attr-defined]
            i = self._expect(i, ":")
            out[key], i = self._child(i, level, key)  # (a repeated key: the last wins, as in json.loads)
            i = self._ws(i)
            if self.s.startswith("}", i):
                return out, i + 1
            i = self._expect(i, ",")

    def _items(self, i: int, level: str) -> tuple[list[Any], int]:
        out: list[Any] = []
        i = self._ws(i + 1)
        if self.s.startswith("]", i):
            return out, i + 1
        while True:
            item, i = self._child(i, level, None)
            out.append(item)
            i = self._ws(i)
            if self.s.startswith("]", i):
                return out, i + 1
            i = self._expect(i, ",")

    def _rows(self, i: int) -> tuple[_Parsed, int]:
        blocks: list[np.ndarray] | None = []  # None once the rows are found ragged or not numbers
        rows: list[Any] = []
        i = self._ws(i + 1)
        done = self.s.startswith("]", i)
        while not done:
            row, i = self._value(i)
            rows.append(row)
            i = self._ws(i)
            done = self.s.startswith("]", i)
            if not done:
                i = self._expect(i, ",")
            if len(rows) == ROWS_PER_BLOCK or done:
                blocks = _joined_block(blocks, rows)
                rows = []
        if blocks is None:
            return _Parsed(None), i + 1
        return _Parsed(np.concatenate(blocks) if blocks else _float_array([])), i + 1


def _joined_block(blocks: list[np.ndarray] | None, rows: list[Any]) -> list[np.ndarray] | None:
    """``blocks`` with ``rows`` converted appended; None when they (or the blocks before) are ragged or not numbers:
    rows of one shape across every block are what np.asarray of the whole list needs."""
    if blocks is None:
        return None
    a = _float_array(rows)
    if a is None or (blocks and a.shape[1:] != blocks[0].shape[1:]):
        return None
    blocks.append(a)
    return blocks


def _float_array(x: Any) -> np.ndarray | None:
    """``x`` as a float64 array, values beyond float32 (the stage objects' type) and nan as inf; None when ``x`` is
    ragged or not numbers."""
    try:
        a = np.asarray(x, dtype=np.float64)
        return np.where(np.abs(a) <= _F32_MAX, a, np.inf)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None


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
        ok = (isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) <= _F32_MAX
              and (x > 0 or not positive))  # (nan fails the bound)
        self.check(ok, f'"{key}" must be a {"positive " if positive else ""}number, got {x!r}')
        return float(x)

    def integer(self, x: Any, key: str, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
        ok = isinstance(x, int) and not isinstance(x, bool) and minimum <= x <= maximum
        self.check(ok, f'"{key}" must be an integer from {minimum} to {maximum}, got {x!r}')
        return int(x)

    def array(self, x: Any, key: str, shape: tuple[int | None, ...], *, finite: bool = False) -> np.ndarray:
        """``x`` as a float64 array of ``shape`` (None: any length); finite: no null or non-finite values."""
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        a = x.array if isinstance(x, _Parsed) else _float_array(x)
        if a is None or a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            got = "a ragged or non-numeric list" if a is None else f"shape {a.shape}"
            self.fail(f'"{key}" must be an array of shape {want}, got {got}')
        self.check(not finite or bool(np.all(np.isfinite(a))), f'"{key}" has null or non-finite values')
        return a

    def skeleton(self, s: Any, key: str) -> Skeleton:
        if isinstance(s, str):  # a bare name ("coco17") stands for {"name": ...}
            s = {"name": s}
        self.check(isinstance(s, dict) and isinstance(s.get("name"), str), f'"{key}" must be an object with a "name"')
        self.check(s["name"] in SKELETONS, f'"{key}.name" {s["name"]!r} is unknown; known: {", ".join(SKELETONS)}')
        sk = SKELETONS[s["name"]]
        self.check(s.get("joints", list(sk.joints)) == list(sk.joints), f'"{key}.joints" differ from the {sk.name} table')
        self.check(s.get("parents", list(sk.parents)) == list(sk.parents),
                   f'"{key}.parents" differ from the {sk.name} table')
        return sk
