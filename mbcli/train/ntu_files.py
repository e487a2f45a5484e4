"""NTU RGB+D files: the raw Kinect ``.skeleton`` text (read_ntu_skeleton), pyskl's annotation pickles
(read_pyskl), and whole datasets in h36m17 from either (load_ntu). Names, sample types, splits and the
h36m17 mapping: train/ntu.py.

Raw ``.skeleton`` text (read_ntu_skeleton): the frame count T; per frame the number of bodies; per body one line of
10 values (bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState isRestricted leanX
leanY trackingState), the joint count (25) and 25 lines of 12 values: x y z (Kinect camera space, metres), depthX
depthY (512x424 depth image px), colorX colorY (1920x1080 colour image px), orientation w x y z, trackingState
(0 not tracked, 1 inferred, 2 tracked). Parsing is by whitespace-separated values; a short, non-numeric or
wrong-joint-count file raises KeypointFileError. Body IDs are kept as text (they exceed float precision).

Coordinate conventions. Kinect camera space is right-handed: x towards the sensor's own left, y up, z forward. The
colour (and depth) pixel x of the files grows with Kinect +x: in S001C001P001R001A001 the spine base at x = +0.218 m,
z = 3.79 m sits at depthX 277 (centre 256) and colorX 1036 (centre 960). A true camera would put a point on its left
at pixel x below the centre, so the stored pixels, like the RGB videos they index, are the Kinect SDK's mirror image.
- joints_3d = (-x, -y, z): a rotation by 180 degrees about z into mbcli's camera frame (x right, y down, z forward),
  which keeps the body's handedness (the labelled left hand stays the person's left hand).
- joints_2d: with ``unmirror=True`` (default) colorX becomes 1920 - colorX, so the 2D is the view of an ordinary
  camera at the colour sensor and agrees with joints_3d (a person facing the camera has their left hand on the image's
  right); ``unmirror=False`` keeps the stored pixels of the mirrored RGB frames.
- pyskl 2D keypoints (HRNet run on the RGB videos) are left as stored by default: a detector labels a mirrored person
  by appearance, so they are a natural-looking, self-consistent mirror world. ``unmirror=True`` flips x about the
  image width and swaps left/right joints (coco17 flip), which gives the same true-camera view as the .skeleton 2D.
- pyskl 3D keypoints are Kinect camera-space metres and get the same rotation as joints_3d.

Body selection (read_ntu_skeleton): a frame may list 0 bodies or more than two (tracking noise: furniture, a second
ID for the same person). Each body ID becomes a track; tracks are ranked by motion energy, the sum over joints and
x, y, z of its squared deviation from its own mean position, over the frames it is present, divided by T (so a body
seen in a few frames counts for less). In that order each track joins the first kept slot it does not overlap in
time (the same person re-identified under a new ID), else opens a new slot while fewer than ``max_bodies`` (2) are
open, else is dropped. valid (M,T) marks the frames a slot holds a body; M is 0 for a file with no bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbcli import safe_pickle
from mbcli.errors import ConfigError, KeypointFileError
from mbcli.skeletons import COCO17, flip_joints
from mbcli.train.ntu import (
    COLOR_SIZE,
    NUM_JOINTS,
    PROTOCOLS,
    NtuH36M,
    NtuPose2D,
    NtuSample,
    ntu_split,
    parse_name,
    to_h36m,
)

_JOINT_VALUES = 12
_BODY_VALUES = 10

# Kinect camera space (x sensor-left, y up, z forward) -> mbcli camera frame (x right, y down, z forward).
KINECT_TO_CAMERA = np.array([-1.0, -1.0, 1.0], dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Raw .skeleton files


def read_ntu_skeleton(path: str | Path, max_bodies: int = 2, unmirror: bool = True) -> NtuSample:
    """Read one NTU RGB+D ``.skeleton`` file (module docstring: format, frames, body selection)."""
    path = Path(path)
    info = parse_name(path)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise KeypointFileError(f"NTU skeleton file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"cannot read NTU skeleton file {path}: {type(e).__name__}: {e}") from None
    tokens = text.split()
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise KeypointFileError(f"{path}: {bad[:30]!r} is not a number; not an NTU .skeleton file") from None
    tracks, T = _parse_frames(values, tokens, path)
    slots = _select_bodies(tracks, T, max_bodies)
    M = len(slots)
    j3 = np.zeros((M, T, NUM_JOINTS, 3), dtype=np.float32)
    j2 = np.zeros((M, T, NUM_JOINTS, 2), dtype=np.float32)
    state = np.zeros((M, T, NUM_JOINTS), dtype=np.int8)
    valid = np.zeros((M, T), dtype=bool)
    for m, slot in enumerate(slots):
        for track in slot:
            f = track.frames
            j3[m, f] = track.joints[:, :, 0:3] * KINECT_TO_CAMERA
            j2[m, f] = track.joints[:, :, 5:7]
            state[m, f] = track.joints[:, :, 11].astype(np.int8)
            valid[m, f] = True
    if unmirror:
        j2[..., 0] = np.where(valid[..., None], COLOR_SIZE[0] - j2[..., 0], 0.0)
    return NtuSample(info.name, info.label, info.setup, info.camera, info.performer, info.replication,
                     j3, j2, valid, state)


def _is_number(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


@dataclass
class _Track:
    body_id: str
    frames: np.ndarray  # (n,) frame indices, ascending
    joints: np.ndarray  # (n, 25, 12) raw values

    @property
    def energy_sum(self) -> float:
        xyz = self.joints[:, :, 0:3]
        return float(((xyz - xyz.mean(axis=0)) ** 2).sum())


def _parse_frames(values: np.ndarray, tokens: list[str], path: Path) -> tuple[list[_Track], int]:
    n = len(values)

    def count(pos: int, what: str, frame: int) -> int:
        if pos >= n:
            raise KeypointFileError(f"{path} ends inside frame {frame + 1} of {T} (truncated file)")
        v = values[pos]
        if not (np.isfinite(v) and v >= 0 and v == int(v)):
            raise KeypointFileError(f"{path}: frame {frame + 1} has {tokens[pos]!r} where {what} belongs")
        return int(v)

    if n == 0:
        raise KeypointFileError(f"{path} is empty; not an NTU .skeleton file")
    T = 0
    T = count(0, "the frame count", 0)
    if T == 0:
        raise KeypointFileError(f"{path} holds no frames")
    pos = 1
    per_body: dict[str, tuple[list[int], list[np.ndarray]]] = {}
    body_len = _BODY_VALUES + 1 + NUM_JOINTS * _JOINT_VALUES
    for t in range(T):
        nb = count(pos, "a body count", t)
        pos += 1
        for b in range(nb):
            nj = count(pos + _BODY_VALUES, "a joint count", t)
            if nj != NUM_JOINTS:
                raise KeypointFileError(f"{path}: frame {t + 1} body {b + 1} has {nj} joints, expected {NUM_JOINTS} "
                                        f"(Kinect v2)")
            if pos + body_len > n:
                raise KeypointFileError(f"{path} ends inside frame {t + 1} of {T} (truncated file)")
            start = pos + _BODY_VALUES + 1
            joints = values[start:start + NUM_JOINTS * _JOINT_VALUES].reshape(NUM_JOINTS, _JOINT_VALUES)
            frames, arrays = per_body.setdefault(tokens[pos], ([], []))
            if frames and frames[-1] == t:  # the same ID twice in one frame: keep the first
                pos += body_len
                continue
            frames.append(t)
            arrays.append(joints)
            pos += body_len
    tracks = [_Track(bid, np.asarray(f, dtype=np.int64), np.stack(a)) for bid, (f, a) in per_body.items()]
    return tracks, T


def _select_bodies(tracks: list[_Track], T: int, max_bodies: int) -> list[list[_Track]]:
    """Slots of tracks (one person each), by motion energy; see the module docstring."""
    order = sorted(tracks, key=lambda tr: -tr.energy_sum / T)  # stable: ties keep first-seen order
    slots: list[list[_Track]] = []
    used: list[np.ndarray] = []
    for tr in order:
        for k in range(len(slots)):
            if not used[k][tr.frames].any():
                slots[k].append(tr)
                used[k][tr.frames] = True
                break
        else:
            if len(slots) < max_bodies:
                slots.append([tr])
                mask = np.zeros(T, dtype=bool)
                mask[tr.frames] = True
                used.append(mask)
    return slots


# ----------------------------------------------------------------------------------------------------------------
# pyskl annotation pickles


def _load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return safe_pickle.load(f, safe_pickle.numpy_globals(), "a pyskl annotation file")
    except FileNotFoundError:
        raise KeypointFileError(f"pyskl annotation file {path} does not exist") from None
    except Exception as e:  # an untrusted file: any failure to unpickle it is the file's fault
        text = " ".join(str(e).split())[:200]
        raise KeypointFileError(f"cannot read {path} as a pyskl annotation pickle: {type(e).__name__}: {text}") from None


def read_pyskl(path: str | Path, unmirror: bool = False) -> tuple[list[NtuSample] | list[NtuPose2D],
                                                                    dict[str, list[str]]]:
    """Read a pyskl annotation pickle (e.g. ntu60_hrnet.pkl, 2D coco17; ntu60_3danno.pkl, 3D Kinect 25 joints).

    Returns the samples in file order (NtuPose2D for the 2D flavour, NtuSample with joints_2d None for 3D) and the
    stored split {"xsub_train": [names], ...} ({} when the file has none). ``unmirror`` applies to 2D only (module
    docstring). Label is the stored 0-based ``label``; a name whose action disagrees with it is an error.
    """
    path = Path(path)
    data = _load_pickle(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise KeypointFileError(f"{path} is not a pyskl annotation file: expected a dict with an 'annotations' list")
    split = data.get("split", {})
    if not isinstance(split, dict) or not all(
            isinstance(k, str) and isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)
            for k, v in split.items()):
        raise KeypointFileError(f"{path}: 'split' must map split names to lists of sample names")
    split = {k: list(v) for k, v in split.items()}
    flavour: str | None = None
    out: list[Any] = []
    for i, ann in enumerate(data["annotations"]):
        sample, kind = _annotation(ann, i, path, unmirror)
        if flavour is None:
            flavour = kind
        elif kind != flavour:
            raise KeypointFileError(f"{path}: annotation {i} is {kind} but the first one is {flavour}")
        out.append(sample)
    return out, split


def _annotation(ann: Any, i: int, path: Path, unmirror: bool) -> tuple[NtuSample | NtuPose2D, str]:
    where = f"{path}: annotation {i}"
    if not isinstance(ann, dict):
        raise KeypointFileError(f"{where} is a {type(ann).__name__}, not a dict")
    for key in ("frame_dir", "label", "keypoint"):
        if key not in ann:
            raise KeypointFileError(f"{where} has no {key!r}")
    if not isinstance(ann["frame_dir"], str):
        raise KeypointFileError(f"{where}: 'frame_dir' must be a sample name string")
    info = parse_name(ann["frame_dir"])
    try:
        label = int(ann["label"])
    except (TypeError, ValueError):
        raise KeypointFileError(f"{where}: label {ann['label']!r} is not an integer") from None
    if label != info.label:
        raise KeypointFileError(f"{where}: label {label} disagrees with the name {info.name} (action A{info.action:03d} "
                                f"is label {info.label})")
    kp = ann["keypoint"]
    if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.shape[2:] not in ((17, 2), (25, 3)):
        raise KeypointFileError(f"{where} ({info.name}): keypoint must be an (M,T,17,2) or (M,T,25,3) array, got "
                                f"{getattr(kp, 'shape', type(kp).__name__)}")
    kp = kp.astype(np.float32)
    meta = (info.name, label, info.setup, info.camera, info.performer, info.replication)
    if kp.shape[2:] == (17, 2):
        sc = ann.get("keypoint_score")
        if not isinstance(sc, np.ndarray) or sc.shape != kp.shape[:3]:
            raise KeypointFileError(f"{where} ({info.name}): 2D keypoints need a keypoint_score array of shape "
                                    f"{kp.shape[:3]}, got {getattr(sc, 'shape', type(sc).__name__)}")
        sc = sc.astype(np.float32)
        size = _image_size(ann, where)
        if unmirror:
            kp = flip_joints(kp, COCO17, axis_value=size[0] / 2.0)
            sc = sc[..., COCO17.flip_permutation]
        return NtuPose2D(*meta, kp, sc, size), "2D"
    valid = np.abs(kp).sum(axis=(2, 3)) > 0
    return NtuSample(*meta, kp * KINECT_TO_CAMERA, None, valid), "3D"


def _image_size(ann: dict, where: str) -> tuple[int, int]:
    shape = ann.get("img_shape", ann.get("original_shape", (COLOR_SIZE[1], COLOR_SIZE[0])))
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise KeypointFileError(f"{where}: img_shape {shape!r} is not (height, width)") from None
    return (w, h)



# ----------------------------------------------------------------------------------------------------------------
# Whole datasets


def load_ntu(path: str | Path, protocol: str = "xsub", num_people: int = 2,
             unmirror: bool = False, parts: tuple[str, ...] = ("train", "test")) -> tuple[list[NtuH36M],
                                                                                         list[NtuH36M]]:
    """(train, test) samples in h36m17 from a pyskl pickle or a folder of ``.skeleton`` files.

    A pickle's own split ``{protocol}_train`` / ``{protocol}_val`` is used when it has one (pyskl's lists also leave
    out the samples NTU lists as having missing skeletons), else ntu_split on the names. Samples with nobody in them
    are skipped. ``unmirror`` is passed to read_pyskl (the .skeleton reader always unmirrors). ``parts`` leaves out
    "train" or "test" (returned empty; a folder's files of that part are then not read at all).
    """
    path = Path(path)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown NTU protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if path.is_dir():
        files = sorted(path.glob("*.skeleton"))
        if not files:
            raise KeypointFileError(f"{path} holds no NTU .skeleton files")
        tr, te = ntu_split([f.name for f in files], protocol)
        wanted = set(tr if "train" in parts else []) | set(te if "test" in parts else [])
        samples: Sequence[NtuSample | NtuPose2D] = [read_ntu_skeleton(f) for f in files if f.name in wanted]
        split: dict[str, list[str]] = {}
    else:
        samples, split = read_pyskl(path, unmirror=unmirror)
    by_name = {s.name: s for s in samples if s.num_people > 0}
    if f"{protocol}_train" in split and f"{protocol}_val" in split:
        train_names, test_names = split[f"{protocol}_train"], split[f"{protocol}_val"]
    else:
        train_names, test_names = ntu_split(list(by_name), protocol)
    train = [to_h36m(by_name[n], num_people) for n in train_names if n in by_name and "train" in parts]
    test = [to_h36m(by_name[n], num_people) for n in test_names if n in by_name and "test" in parts]
    return train, test
