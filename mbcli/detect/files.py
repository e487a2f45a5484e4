"""Read 2D keypoint files written by other tools into per-frame detections (FORMATS.md section 3).

Owns format auto-detection and the readers of four foreign formats; mbcli's own ``mbcli.motion`` JSON is only
*detected* here (its reader lives in export/, a higher layer; the pipeline dispatches it).

Formats (K = keypoints per person):
- ``coco``: COCO keypoint *results* (a JSON list of ``{image_id, category_id, keypoints: [x, y, score]*K, score}``)
  or COCO *ground truth* (a dict with ``images`` and ``annotations``; visibility v > 0 becomes score 1, crowd and
  unlabelled annotations are skipped; ``image_size`` comes from ``images`` when all share one size).
- ``alphapose``: the COCO-like list AlphaPose writes, recognised by ``box`` [x, y, w, h] or ``idx`` (track id);
  ``image_id`` is a string such as ``"0.jpg"``.
- ``openpose``: a directory of ``<name>_<12-digit frame>_keypoints.json`` files, or one such file (frame 0); each
  holds ``{"people": [{"person_id", "pose_keypoints_2d": [x, y, c]*K}]}``. Missing joints are (0, 0, 0).
- ``mmpose``: ``--save-predictions`` output. The demo script writes ``{"meta_info", "instance_info": [{"frame_id",
  "instances": [...]}]}`` with frame ids counted **from 1** (shifted here to start at 0); the inferencer writes a
  list of ``{"frame_id", "instances"}`` counted from 0, or a bare list of instances for one image. An instance holds
  ``keypoints`` [[x, y]]*K, ``keypoint_scores``, ``bbox`` [[x1, y1, x2, y2]] (nested one level deeper than it
  looks) and ``bbox_score``.

Keypoint layouts, chosen by K: 17 -> coco17; 26 -> halpe26; 133 (COCO-WholeBody) -> its first 17 = coco17;
136 (Halpe-136) -> its first 26 = halpe26. OpenPose BODY_25 (75 numbers) maps by joint name to halpe26, with
``head_top`` estimated from the ears and shoulders exactly as skeletons.RECIPES does for coco17 -> h36m17 (score =
the lowest of its sources); OpenPose COCO-18 (54 numbers) maps by name to coco17 (its neck is dropped; the h36m17
recipes rebuild the thorax from the shoulders).

Every value is read back unchanged (scores are not clipped: AlphaPose and MMPose scores may exceed 1), except that a
coordinate or score that is not finite or beyond +-1e6 (``MAX_VALUE``: no image is a million pixels wide, no tool
scores that high) becomes (0, 0) with score 0; a box with such a number, or with no width or height, is not used.
Boxes come from the file when it has them, otherwise from the bounding box of the joints with score > 0 (at least
1 px wide and high); a person with neither is dropped. The box score is the file's person score when it has one,
otherwise the mean score of the joints with score > 0 (OpenPose). A UTF-8 byte order mark is allowed; JSON nested
too deeply or numbers too large for a float are malformed (KeypointFileError).

Frame numbers come from ``image_id`` (an int, or the last run of digits in a string: ``"frame_000012.png"`` -> 12),
``frame_id``, or the OpenPose file name. ``KeypointFile.frames`` holds every frame from 0 to the largest present;
frames where nothing was detected are empty. Track ids from the file (AlphaPose ``idx``, OpenPose ``person_id``,
MMPose ``track_id``) are kept only when every person has one, they are >= 0 and unique within each frame.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbcli.errors import KeypointFileError
from mbcli.skeletons import RECIPES, Skeleton, get_skeleton
from mbcli.types import FramePoses

log = logging.getLogger(__name__)

KEYPOINT_FORMATS = ("mbcli.motion", "coco", "alphapose", "openpose", "mmpose")

# K -> (skeleton name, number of leading keypoints kept)
_LAYOUT_BY_K: dict[int, tuple[str, int]] = {
    17: ("coco17", 17),
    26: ("halpe26", 26),
    133: ("coco17", 17),
    136: ("halpe26", 26),
}
_K_HELP = "17 (COCO), 26 (Halpe26), 133 (COCO-WholeBody) or 136 (Halpe136)"

# OpenPose output orders (doc/02_output.md), in mbcli's joint names.
OPENPOSE_BODY25 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
    "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
    "right_small_toe", "right_heel",
)  # fmt: skip
OPENPOSE_COCO18 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear",
)  # fmt: skip
_OPENPOSE_LAYOUTS = {75: (OPENPOSE_BODY25, "halpe26"), 54: (OPENPOSE_COCO18, "coco17")}

_MAX_EMPTY_FRAMES = 100_000  # sparse ids above this many frames are image ids, not frame numbers
MAX_VALUE = 1e6  # a coordinate (px), score or image size beyond this is junk: read as unknown (module docstring)
_MAX_ID = 2**63 - 1  # track ids are int64


@dataclass(frozen=True)
class KeypointFile:
    """A keypoint file read into per-frame detections.

    frames[i] is the FramePoses of frame i (i = 0 .. largest frame present; empty where nothing was detected);
    track_ids[i] (N_i,) int64 are the file's own track ids of frame i's people, or track_ids is None when the file
    has none; image_size (width, height) px when the file states it; fps when the file states it.
    """

    path: str
    format: str
    frames: list[FramePoses]
    track_ids: list[np.ndarray] | None
    skeleton: Skeleton
    image_size: tuple[int, int] | None = None
    fps: float | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frames)


@dataclass
class _Det:
    frame: int
    xy: np.ndarray  # (K,2)
    scores: np.ndarray  # (K,)
    box_xyxy: np.ndarray | None
    box_score: float | None
    track_id: int | None


# ----------------------------------------------------------------------------------------------------------- detection


def detect_keypoint_format(path: str | os.PathLike) -> str:
    """Return the kind of keypoint file at ``path``: one of KEYPOINT_FORMATS. Raises KeypointFileError."""
    p = Path(path)
    if p.is_dir():
        _openpose_files(p)  # raises when there are none
        return "openpose"
    return _classify(p, _load_json(p))


def _load_json(p: Path) -> Any:
    if not p.exists():
        raise KeypointFileError(f"{p}: keypoint file does not exist")
    try:
        with open(p, encoding="utf-8-sig") as f:  # (a byte order mark, as Windows tools write, is allowed)
            return json.load(f)
    except json.JSONDecodeError as e:
        raise KeypointFileError(f"{p}: malformed JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise KeypointFileError(f"{p}: not a text JSON file") from None
    except RecursionError:
        raise KeypointFileError(f"{p}: JSON nested too deeply to be a keypoint file") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise KeypointFileError(f"{p}: malformed JSON ({e})") from None
    except OSError as e:
        raise KeypointFileError(f"{p}: cannot read ({e.strerror})") from None


def _classify(p: Path, data: Any) -> str:
    if isinstance(data, dict):
        if data.get("format") == "mbcli.motion":
            return "mbcli.motion"
        if "people" in data:
            return "openpose"
        if "instance_info" in data:
            return "mmpose"
        if "annotations" in data:
            return "coco"
        keys = ", ".join(sorted(map(str, data))[:6]) or "none"
        raise KeypointFileError(
            f"{p}: unknown keypoint format (a JSON object with keys {keys}); expected COCO, AlphaPose, OpenPose, "
            "MMPose or mbcli.motion JSON"
        )
    if isinstance(data, list):
        if not data:
            raise KeypointFileError(f"{p}: empty list, no detections to read")
        first = data[0]
        if isinstance(first, dict):
            kp = first.get("keypoints")
            if isinstance(kp, list):
                if kp and isinstance(kp[0], list):
                    return "mmpose"  # the inferencer's single-image output: a bare list of instances
                if any(isinstance(d, dict) and ("idx" in d or "box" in d) for d in data):
                    return "alphapose"
                return "coco"
            if "instances" in first and "frame_id" in first:
                return "mmpose"
        raise KeypointFileError(
            f"{p}: unknown keypoint format (a JSON list whose items are not COCO/AlphaPose/MMPose detections)"
        )
    raise KeypointFileError(f"{p}: unknown keypoint format (top-level JSON {type(data).__name__})")


# ------------------------------------------------------------------------------------------------------------- reading


def read_keypoint_file(path: str | os.PathLike) -> KeypointFile:
    """Read a COCO, AlphaPose, OpenPose or MMPose keypoint file (or OpenPose directory) into a KeypointFile.

    mbcli.motion files are detected but not read here (their reader is mbcli.export.json_motion): passing one raises
    KeypointFileError. Every problem raises KeypointFileError with a one-line message naming the file.
    """
    p = Path(path)
    if p.is_dir():
        fmt = detect_keypoint_format(p)
        dets, skel = _read_openpose_dir(p)
        return _assemble(p, fmt, dets, skel)
    data = _load_json(p)
    fmt = _classify(p, data)
    image_size = None
    if fmt == "mbcli.motion":
        raise KeypointFileError(
            f"{p}: an mbcli.motion file; read it with mbcli.export.json_motion, not as 2D detections"
        )
    if fmt == "openpose":
        dets, found = _read_openpose_frame(p, data, 0)
        skel = found or "halpe26"  # a file with no people: the default a directory of such files gets
    elif fmt == "mmpose":
        dets, skel = _read_mmpose(p, data)
    elif isinstance(data, dict):  # COCO ground truth
        dets, skel, image_size = _read_coco_gt(p, data)
    else:
        dets, skel = _read_coco_list(p, data, fmt)
    return _assemble(p, fmt, dets, skel, image_size)


def infer_image_size(frames: list[FramePoses]) -> tuple[int, int]:
    """A fallback (width, height) px for files that do not state their image size: the extent of every box and of
    every joint with score > 0, rounded up (at least 1). Use the video's real size whenever there is one."""
    w = h = 1.0
    for fp in frames:
        if fp.num_people:
            w = max(w, float(fp.boxes_xyxy[:, 2].max()))
            h = max(h, float(fp.boxes_xyxy[:, 3].max()))
            vis = fp.keypoint_scores > 0
            if vis.any():
                w = max(w, float(fp.keypoints_xy[..., 0][vis].max()))
                h = max(h, float(fp.keypoints_xy[..., 1][vis].max()))
    return int(math.ceil(w)), int(math.ceil(h))


def _layout_for_k(p: Path, K: int, where: str) -> tuple[str, int]:
    if K not in _LAYOUT_BY_K:
        raise KeypointFileError(f"{p}: {where} has {K} keypoints; expected {_K_HELP}")
    return _LAYOUT_BY_K[K]


def _frame_number(p: Path, value: Any, where: str) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:  # (inf and nan are not)
        return int(value)
    if isinstance(value, str):
        runs = re.findall(r"\d+", os.path.splitext(os.path.basename(value))[0])
        if runs:
            return int(runs[-1])
    raise KeypointFileError(f"{p}: {where} has image/frame id {value!r}, which holds no frame number")


def _floats(p: Path, value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise KeypointFileError(f"{p}: {where} holds non-numeric values") from None
    return arr


def _score_or_none(p: Path, value: Any, where: str) -> float | None:
    if value is None:
        return None
    arr = _floats(p, value, where).reshape(-1)
    if arr.size != 1:
        raise KeypointFileError(f"{p}: {where} should be one number, got {arr.size}")
    return float(arr[0])


def _track_id(value: Any) -> int | None:
    if isinstance(value, list | tuple):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= _MAX_ID:
        return None  # (nan and inf fail the range)
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _xywh_box(p: Path, value: Any, where: str) -> np.ndarray | None:
    if value is None:
        return None
    b = _floats(p, value, where).reshape(-1)
    if b.size != 4:
        raise KeypointFileError(f"{p}: {where} box should have 4 numbers, got {b.size}")
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]])


def _read_coco_list(p: Path, data: list, fmt: str) -> tuple[list[_Det], str]:
    dets: list[_Det] = []
    layout: tuple[str, int] | None = None
    for i, d in enumerate(data):
        where = f"entry {i}"
        if not isinstance(d, dict) or "keypoints" not in d:
            raise KeypointFileError(f"{p}: {where} is not a detection with 'keypoints'")
        if "image_id" not in d:
            raise KeypointFileError(f"{p}: {where} has no image_id")
        flat = _floats(p, d["keypoints"], where).reshape(-1)
        if flat.size % 3:
            raise KeypointFileError(f"{p}: {where} has {flat.size} keypoint numbers, not a multiple of 3 (x, y, score)")
        this = _layout_for_k(p, flat.size // 3, where)
        if layout is None:
            layout = this
        elif this != layout:
            raise KeypointFileError(f"{p}: {where} has {flat.size // 3} keypoints, unlike the entries before it")
        kp = flat.reshape(-1, 3)[: layout[1]]
        box = _xywh_box(p, d.get("box", d.get("bbox")), where)
        dets.append(
            _Det(
                frame=_frame_number(p, d["image_id"], where),
                xy=kp[:, :2],
                scores=kp[:, 2],
                box_xyxy=box,
                box_score=_score_or_none(p, d.get("score"), where + " score"),
                track_id=_track_id(d.get("idx")) if "idx" in d else None,
            )
        )
    assert layout is not None
    return dets, layout[0]


def _positive_size(v: Any) -> bool:
    """A usable image width or height: a number from 1 to MAX_VALUE px (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and 1 <= v <= MAX_VALUE


def _read_coco_gt(p: Path, data: dict) -> tuple[list[_Det], str, tuple[int, int] | None]:
    anns = data.get("annotations")
    if not isinstance(anns, list):
        raise KeypointFileError(f"{p}: COCO ground truth 'annotations' is not a list")
    images = data.get("images")
    sizes = {(float(im["width"]), float(im["height"])) for im in (images if isinstance(images, list) else [])
             if isinstance(im, dict) and all(_positive_size(im.get(k)) for k in ("width", "height"))}
    image_size = None
    if len(sizes) == 1:
        w, h = next(iter(sizes))
        image_size = (int(w), int(h))
    dets: list[_Det] = []
    layout: tuple[str, int] | None = None
    for i, a in enumerate(anns):
        where = f"annotation {i}"
        if not isinstance(a, dict) or "keypoints" not in a:
            raise KeypointFileError(f"{p}: {where} has no 'keypoints'")
        flat = _floats(p, a["keypoints"], where).reshape(-1)
        if flat.size % 3:
            raise KeypointFileError(f"{p}: {where} has {flat.size} keypoint numbers, not a multiple of 3 (x, y, v)")
        this = _layout_for_k(p, flat.size // 3, where)
        if layout is None:
            layout = this
        elif this != layout:
            raise KeypointFileError(f"{p}: {where} has {flat.size // 3} keypoints, unlike the annotations before it")
        kp = flat.reshape(-1, 3)[: layout[1]]
        if a.get("iscrowd") or not (kp[:, 2] > 0).any():
            continue
        dets.append(
            _Det(
                frame=_frame_number(p, a.get("image_id"), where),
                xy=kp[:, :2],
                scores=(kp[:, 2] > 0).astype(np.float64),
                box_xyxy=_xywh_box(p, a.get("bbox"), where),
                box_score=1.0,
                track_id=_track_id(a.get("track_id")) if "track_id" in a else None,
            )
        )
    if layout is None:
        raise KeypointFileError(f"{p}: COCO ground truth has no annotations")
    return dets, layout[0], image_size


def _openpose_files(d: Path) -> list[Path]:
    files = sorted(f for f in d.iterdir() if f.name.endswith("_keypoints.json") and f.is_file())
    if not files:
        raise KeypointFileError(f"{d}: a directory of keypoints must hold OpenPose *_keypoints.json files; found none")
    return files


def _read_openpose_dir(d: Path) -> tuple[list[_Det], str]:
    files = _openpose_files(d)
    numbers = [re.findall(r"\d+", f.name[: -len("_keypoints.json")]) for f in files]
    if all(numbers):
        frames = [int(n[-1]) for n in numbers]
        if len(set(frames)) != len(frames):
            raise KeypointFileError(f"{d}: several OpenPose files share one frame number")
    else:  # named after images without numbers: take the sorted order
        frames = list(range(len(files)))
    dets: list[_Det] = []
    skel = None
    for f, frame in zip(files, frames):
        data = _load_json(f)
        if not isinstance(data, dict) or "people" not in data:
            raise KeypointFileError(f"{f}: not an OpenPose keypoint file (no 'people')")
        these, s = _read_openpose_frame(f, data, frame)
        if s is not None:
            if skel is not None and s != skel:
                raise KeypointFileError(f"{f}: OpenPose body model differs from the files before it")
            skel = s
        dets.extend(these)
    return dets, skel or "halpe26"


def _read_openpose_frame(p: Path, data: dict, frame: int) -> tuple[list[_Det], str | None]:
    people = data.get("people")
    if not isinstance(people, list):
        raise KeypointFileError(f"{p}: OpenPose 'people' is not a list")
    dets: list[_Det] = []
    skel = None
    for i, person in enumerate(people):
        where = f"person {i}"
        if not isinstance(person, dict):
            raise KeypointFileError(f"{p}: {where} is not an object")
        raw = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
        if raw is None:
            raise KeypointFileError(f"{p}: {where} has no pose_keypoints_2d")
        flat = _floats(p, raw, where).reshape(-1)
        if flat.size == 0:
            continue
        if flat.size not in _OPENPOSE_LAYOUTS:
            raise KeypointFileError(
                f"{p}: {where} has {flat.size} pose_keypoints_2d numbers; expected 75 (BODY_25) or 54 (COCO-18)"
            )
        names, tgt = _OPENPOSE_LAYOUTS[flat.size]
        if skel is not None and tgt != skel:
            raise KeypointFileError(f"{p}: {where} uses a different OpenPose body model than the people before it")
        skel = tgt
        kp = flat.reshape(-1, 3)
        xy, sc = _openpose_to(kp[:, :2], kp[:, 2], names, get_skeleton(tgt))
        dets.append(_Det(frame, xy, sc, None, None, _track_id(person.get("person_id"))))
    return dets, skel


def _openpose_to(
    xy: np.ndarray, sc: np.ndarray, names: tuple[str, ...], tgt: Skeleton
) -> tuple[np.ndarray, np.ndarray]:
    """Map OpenPose joints to ``tgt`` by name; joints it lacks follow the skeletons.RECIPES entry for h36m17."""
    src = {n: i for i, n in enumerate(names)}
    recipes = RECIPES[("coco17", "h36m17")]
    out_xy = np.zeros((tgt.num_joints, 2))
    out_sc = np.zeros(tgt.num_joints)
    for j, name in enumerate(tgt.joints):
        if name in src:
            out_xy[j], out_sc[j] = xy[src[name]], sc[src[name]]
        else:  # head_top for halpe26
            recipe = recipes[name]
            idx = [src[n] for n, _ in recipe]
            w = np.array([w for _, w in recipe])
            out_xy[j] = w @ xy[idx]
            out_sc[j] = sc[idx].min()
            if out_sc[j] <= 0:
                out_xy[j] = 0.0
    return out_xy, out_sc


def _read_mmpose(p: Path, data: Any) -> tuple[list[_Det], str]:
    shift = 0
    if isinstance(data, dict):
        info = data.get("instance_info")
        if not isinstance(info, list):
            raise KeypointFileError(f"{p}: MMPose 'instance_info' is not a list")
        if info and all(isinstance(f, dict) and "frame_id" in f for f in info):
            ids = [f["frame_id"] for f in info]
            if all(isinstance(i, int) for i in ids) and ids and min(ids) >= 1:
                shift = 1  # demo/topdown_demo_with_mmdet.py counts video frames from 1
            frames_list = info
        else:  # a single image: a bare list of instances
            frames_list = [{"frame_id": 0, "instances": info}]
    elif data and isinstance(data[0], dict) and "instances" in data[0]:
        frames_list = data
    else:
        frames_list = [{"frame_id": 0, "instances": data}]
    dets: list[_Det] = []
    layout: tuple[str, int] | None = None
    for fi, fr in enumerate(frames_list):
        if not isinstance(fr, dict) or not isinstance(fr.get("instances"), list):
            raise KeypointFileError(f"{p}: frame entry {fi} has no 'instances' list")
        frame = _frame_number(p, fr.get("frame_id"), f"frame entry {fi}") - shift
        for ii, inst in enumerate(fr["instances"]):
            where = f"frame {frame + shift} instance {ii}"
            if not isinstance(inst, dict) or "keypoints" not in inst:
                raise KeypointFileError(f"{p}: {where} has no 'keypoints'")
            kp = _floats(p, inst["keypoints"], where)
            if kp.ndim != 2 or kp.shape[1] not in (2, 3):
                raise KeypointFileError(f"{p}: {where} keypoints should be a list of [x, y], got shape {kp.shape}")
            this = _layout_for_k(p, kp.shape[0], where)
            if layout is None:
                layout = this
            elif this != layout:
                raise KeypointFileError(f"{p}: {where} has {kp.shape[0]} keypoints, unlike the instances before it")
            if "keypoint_scores" in inst:
                sc = _floats(p, inst["keypoint_scores"], where + " keypoint_scores").reshape(-1)
            elif kp.shape[1] == 3:
                sc = kp[:, 2]
            else:
                raise KeypointFileError(f"{p}: {where} has no keypoint_scores")
            if sc.size != kp.shape[0]:
                raise KeypointFileError(f"{p}: {where} has {kp.shape[0]} keypoints but {sc.size} keypoint_scores")
            box = None
            if inst.get("bbox") is not None:
                box = _floats(p, inst["bbox"], where + " bbox").reshape(-1)
                if box.size != 4:
                    raise KeypointFileError(f"{p}: {where} bbox should have 4 numbers, got {box.size}")
            n = layout[1]
            dets.append(
                _Det(frame, kp[:n, :2], sc[:n], box, _score_or_none(p, inst.get("bbox_score"), where + " bbox_score"),
                     _track_id(inst.get("track_id")) if "track_id" in inst else None)
            )  # fmt: skip
    return dets, (layout or ("coco17", 17))[0]


# ------------------------------------------------------------------------------------------------------------ assembly


def _usable(a: np.ndarray) -> np.ndarray:
    """Element-wise: finite and within +-MAX_VALUE (module docstring)."""
    return np.isfinite(a) & (np.abs(a) <= MAX_VALUE)


def _usable_box(box: np.ndarray) -> bool:
    """A (4,) x1, y1, x2, y2 box that is usable and has a width and a height (as the float32 it is kept in)."""
    if not _usable(box).all():
        return False
    b = box.astype(np.float32)
    return bool(b[2] > b[0] and b[3] > b[1])


def _kept_box(d: _Det) -> np.ndarray:
    """The (4,) box of a detection _assemble kept: it always gave it one."""
    assert d.box_xyxy is not None
    return d.box_xyxy


def _assemble(
    p: Path, fmt: str, dets: list[_Det], skel_name: str, image_size: tuple[int, int] | None = None
) -> KeypointFile:
    skeleton = get_skeleton(skel_name)
    K = skeleton.num_joints
    for d in dets:
        if d.frame < 0:
            raise KeypointFileError(f"{p}: negative frame number {d.frame}")
    present = sorted({d.frame for d in dets})
    num_frames = (present[-1] + 1) if present else 0
    if num_frames > _MAX_EMPTY_FRAMES and num_frames > 100 * len(present):
        raise KeypointFileError(
            f"{p}: image ids run up to {present[-1]} over only {len(present)} images; they are not frame numbers"
        )
    by_frame: dict[int, list[_Det]] = {}
    for d in dets:
        xy = np.array(d.xy, dtype=np.float64)
        sc = np.array(d.scores, dtype=np.float64)
        bad = ~_usable(xy).all(axis=1) | ~_usable(sc)
        xy[bad] = 0.0
        sc[bad] = 0.0
        vis = sc > 0
        box = d.box_xyxy
        if box is not None and not _usable_box(box):
            box = None
        if box is None:
            if not vis.any():
                log.debug("%s: frame %d: dropped a person with no box and no joint scored above 0", p, d.frame)
                continue
            lo, hi = xy[vis].min(axis=0), xy[vis].max(axis=0)
            pad = np.maximum(1.0 - (hi - lo), 0.0) / 2  # at least 1 px wide and high (one joint: the px around it)
            box = np.concatenate([lo - pad, hi + pad])
        score = d.box_score
        if score is None or not _usable(np.asarray(score)):
            score = float(sc[vis].mean()) if vis.any() else 0.0
        by_frame.setdefault(d.frame, []).append(_Det(d.frame, xy, sc, box, score, d.track_id))

    frames: list[FramePoses] = []
    ids: list[np.ndarray] = []
    ids_ok = any(by_frame.values())
    for f in range(num_frames):
        people = by_frame.get(f, [])
        if not people:
            frames.append(FramePoses.empty(f, skeleton))
            ids.append(np.zeros(0, dtype=np.int64))
            continue
        frames.append(
            FramePoses(
                frame_index=f,
                boxes_xyxy=np.stack([_kept_box(d) for d in people]),
                box_scores=np.array([d.box_score for d in people]),
                keypoints_xy=np.stack([d.xy for d in people]).reshape(len(people), K, 2),
                keypoint_scores=np.stack([d.scores for d in people]).reshape(len(people), K),
                skeleton=skeleton,
            )
        )
        tid = [d.track_id for d in people]
        if ids_ok and (any(t is None for t in tid) or len(set(tid)) != len(tid)):
            if any(t is not None for t in tid):
                log.warning("%s: frame %d: track ids missing or repeated; ignoring the file's track ids", p, f)
            ids_ok = False
        ids.append(np.array([-1 if t is None else t for t in tid], dtype=np.int64))
    return KeypointFile(
        path=str(p),
        format=fmt,
        frames=frames,
        track_ids=ids if ids_ok else None,
        skeleton=skeleton,
        image_size=image_size,
        fps=None,
    )
