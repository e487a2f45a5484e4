"""NTU RGB+D 60/120 action data: the raw Kinect ``.skeleton`` files, pyskl's annotation pickles, the standard splits.

Sample names are SsssCcccPpppRrrrAaaa: setup, camera (1-3), performer, replication (1-2) and action (A001-A060 for
NTU-60, up to A120 for NTU-120); ``label`` is the 0-based action (A001 -> 0). Splits (ntu_split), from the names:
- "xsub" (cross-subject): performers in XSUB_TRAIN_PERFORMERS train, the rest test. Its first 20 ids are NTU-60's
  list; the other 33 are NTU-120's additions (all above 40), so the one list serves both.
- "xview" (cross-view, NTU-60): cameras 2 and 3 train, camera 1 tests.
- "xset" (cross-setup, NTU-120): even setup ids train, odd ones test.
The class names (index = label) are mbcli.labels.NTU60_CLASSES / NTU120_CLASSES.

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

to_h36m (h36m17, the lifter's joints): pyskl coco17 2D via skeletons.remap (its coco17 recipe); Kinect ntu25 2D and
3D via the ntu25 recipe in skeletons.RECIPES (pelvis = mid hips, spine = spine_mid, thorax = spine_shoulder,
neck_nose = mid(neck, head), head_top = head + 0.5 (head - neck); the other joints by name). Kinect joints get score
1 in every frame their body is present (trackingState is kept in joint_state, not folded into scores); a joint whose
colour pixel is not finite gets score 0. NTU is recorded at 30 fps (FPS).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mbcli import safe_pickle
from mbcli.errors import ConfigError, KeypointFileError
from mbcli.skeletons import COCO17, H36M17, NTU25, flip_joints, remap
from mbcli.types import Keypoints2D, Pose3D

FPS = 30.0
COLOR_SIZE = (1920, 1080)  # Kinect v2 colour image (width, height) px
NUM_JOINTS = 25
_JOINT_VALUES = 12
_BODY_VALUES = 10

XSUB_TRAIN_PERFORMERS = frozenset({
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38,  # NTU-60
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94,
    95, 97, 98, 100, 103,  # added by NTU-120
})
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})
PROTOCOLS = ("xsub", "xview", "xset")

# Kinect camera space (x sensor-left, y up, z forward) -> mbcli camera frame (x right, y down, z forward).
KINECT_TO_CAMERA = np.array([-1.0, -1.0, 1.0], dtype=np.float32)

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NtuName:
    """The fields of a sample name SsssCcccPpppRrrrAaaa; ``action`` is 1-based, ``label`` 0-based."""

    name: str
    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        return self.action - 1


def parse_name(name: str | Path) -> NtuName:
    """Parse a sample name, a file name (``....skeleton``, ``..._rgb.avi``) or a path to one."""
    stem = Path(str(name)).name
    m = _NAME.match(stem)
    if m is None:
        raise KeypointFileError(f"{name!s} is not an NTU RGB+D sample name (SsssCcccPpppRrrrAaaa, e.g. "
                                f"S001C001P001R001A001)")
    s, c, p, r, a = (int(g) for g in m.groups())
    if a < 1:
        raise KeypointFileError(f"{name!s}: action A000 does not exist (actions start at A001)")
    return NtuName(m.group(0), s, c, p, r, a)


class _PeopleFrames:
    """num_people / num_frames of a sample from its (M,T,...) array named by ``_MT``."""

    _MT: ClassVar[str]

    @property
    def num_people(self) -> int:
        return int(getattr(self, self._MT).shape[0])

    @property
    def num_frames(self) -> int:
        return int(getattr(self, self._MT).shape[1])


@dataclass(frozen=True)
class NtuSample(_PeopleFrames):
    """One NTU sample in Kinect's 25 joints (skeleton ntu25) for M <= 2 people over T frames.

    joints_3d (M,T,25,3) metres, mbcli camera frame; joints_2d (M,T,25,2) colour-image px or None (pyskl 3D holds
    none); valid (M,T) bool, the frames where person m is present (elsewhere the joints are 0); joint_state (M,T,25)
    Kinect trackingState (0/1/2) or None.
    """

    _MT: ClassVar[str] = "joints_3d"

    name: str
    label: int
    setup: int
    camera: int
    performer: int
    replication: int
    joints_3d: np.ndarray
    joints_2d: np.ndarray | None
    valid: np.ndarray
    joint_state: np.ndarray | None = None
    image_size: tuple[int, int] = COLOR_SIZE

    def __post_init__(self) -> None:
        _check(self.joints_3d, "joints_3d", (None, None, NUM_JOINTS, 3))
        M, T = self.joints_3d.shape[:2]
        _check(self.valid, "valid", (M, T))
        if self.joints_2d is not None:
            _check(self.joints_2d, "joints_2d", (M, T, NUM_JOINTS, 2))
        if self.joint_state is not None:
            _check(self.joint_state, "joint_state", (M, T, NUM_JOINTS))


@dataclass(frozen=True)
class NtuPose2D(_PeopleFrames):
    """One sample of pyskl's 2D flavour: keypoints (M,T,17,2) px in coco17 order, scores (M,T,17) in [0,1] (0 where
    a person is absent); image_size (width, height) px."""

    _MT: ClassVar[str] = "keypoints"

    name: str
    label: int
    setup: int
    camera: int
    performer: int
    replication: int
    keypoints: np.ndarray
    scores: np.ndarray
    image_size: tuple[int, int] = COLOR_SIZE

    def __post_init__(self) -> None:
        _check(self.keypoints, "keypoints", (None, None, COCO17.num_joints, 2))
        _check(self.scores, "scores", self.keypoints.shape[:3])


@dataclass(frozen=True)
class NtuH36M(_PeopleFrames):
    """A sample in h36m17 for the lifter: xy (M,T,17,2) px or None, scores (M,T,17), xyz (M,T,17,3) metres in the
    camera frame or None (2D-only sources); image_size (width, height) px."""

    _MT: ClassVar[str] = "scores"

    name: str
    label: int
    xy: np.ndarray | None
    scores: np.ndarray
    xyz: np.ndarray | None
    image_size: tuple[int, int] = COLOR_SIZE

    def keypoints_2d(self, fps: float = FPS) -> list[Keypoints2D]:
        """One Keypoints2D per person (frame_indices 0..T-1)."""
        if self.xy is None:
            raise ConfigError(f"{self.name} has no 2D keypoints (a 3D-only source)")
        T = self.scores.shape[1]
        return [Keypoints2D(self.xy[m], self.scores[m], np.arange(T), H36M17, self.image_size, fps)
                for m in range(self.num_people)]

    def poses_3d(self, fps: float = FPS) -> list[Pose3D]:
        """One camera-frame, metre Pose3D per person (not root-relative)."""
        if self.xyz is None:
            raise ConfigError(f"{self.name} has no 3D joints (a 2D-only source)")
        T = self.scores.shape[1]
        return [Pose3D(self.xyz[m], H36M17, np.arange(T), fps, root_relative=False) for m in range(self.num_people)]


def _check(a: np.ndarray, name: str, shape: tuple[int | None, ...]) -> None:
    ok = isinstance(a, np.ndarray) and a.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, a.shape))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {getattr(a, 'shape', type(a).__name__)}")


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
# Splits and conversion to the lifter's joints


def ntu_split(names: Iterable[str], protocol: str = "xsub") -> tuple[list[str], list[str]]:
    """(train, test) names under ``protocol`` ("xsub", "xview" or "xset"), in input order."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown NTU protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    train: list[str] = []
    test: list[str] = []
    for name in names:
        info = parse_name(name)
        if protocol == "xsub":
            is_train = info.performer in XSUB_TRAIN_PERFORMERS
        elif protocol == "xview":
            is_train = info.camera in XVIEW_TRAIN_CAMERAS
        else:
            is_train = info.setup % 2 == 0
        (train if is_train else test).append(name)
    return train, test


def to_h36m(sample: NtuSample | NtuPose2D, num_people: int | None = None) -> NtuH36M:
    """The sample in h36m17 (module docstring: joint recipes). ``num_people`` pads with absent people (score 0,
    coordinates 0) or keeps the first ``num_people``."""
    if isinstance(sample, NtuPose2D):
        xy, sc = remap(sample.keypoints, sample.scores, COCO17, H36M17)
        xyz = None
    else:
        present = np.broadcast_to(sample.valid[..., None], sample.valid.shape + (NUM_JOINTS,)).astype(np.float32)
        xyz, sc = remap(sample.joints_3d, present, NTU25, H36M17)
        xy = None
        if sample.joints_2d is not None:  # scores then follow the 2D: a joint without a finite pixel is missing
            finite = np.isfinite(sample.joints_2d).all(axis=-1)
            xy, sc = remap(np.where(finite[..., None], sample.joints_2d, 0.0), present * finite, NTU25, H36M17)
    if num_people is not None:
        xy = None if xy is None else _fit_people(xy, num_people)
        xyz = None if xyz is None else _fit_people(xyz, num_people)
        sc = _fit_people(sc, num_people)
    if xy is not None:
        xy = np.where(sc[..., None] > 0, xy, 0.0).astype(np.float32)
    return NtuH36M(sample.name, sample.label, xy, sc, xyz, sample.image_size)


def _fit_people(a: np.ndarray, m: int) -> np.ndarray:
    if a.shape[0] >= m:
        return a[:m]
    pad = np.zeros((m - a.shape[0],) + a.shape[1:], dtype=a.dtype)
    return np.concatenate([a, pad], axis=0)


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
