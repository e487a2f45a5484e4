"""NTU RGB+D 60/120 action samples: their names, the sample types, the standard splits and the mapping to the
lifter's joints. Reading the files (raw ``.skeleton``, pyskl pickles) and whole datasets (load_ntu):
train/ntu_files.py.

Sample names are SsssCcccPpppRrrrAaaa: setup, camera (1-3), performer, replication (1-2) and action (A001-A060 for
NTU-60, up to A120 for NTU-120); ``label`` is the 0-based action (A001 -> 0). Splits (ntu_split), from the names:
- "xsub" (cross-subject): performers in XSUB_TRAIN_PERFORMERS train, the rest test. Its first 20 ids are NTU-60's
  list; the other 33 are NTU-120's additions (all above 40), so the one list serves both.
- "xview" (cross-view, NTU-60): cameras 2 and 3 train, camera 1 tests.
- "xset" (cross-setup, NTU-120): even setup ids train, odd ones test.
The class names (index = label) are mbcli.labels.NTU60_CLASSES / NTU120_CLASSES.

to_h36m (h36m17, the lifter's joints): pyskl coco17 2D via skeletons.remap (its coco17 recipe); Kinect ntu25 2D and
3D via the ntu25 recipe in skeletons.RECIPES (pelvis = mid hips, spine = spine_mid, thorax = spine_shoulder,
neck_nose = mid(neck, head), head_top = head + 0.5 (head - neck); the other joints by name). Kinect joints get score
1 in every frame their body is present (trackingState is kept in joint_state, not folded into scores); a joint whose
colour pixel is not finite gets score 0. NTU is recorded at 30 fps (FPS).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from mbcli.errors import ConfigError, KeypointFileError
from mbcli.skeletons import COCO17, H36M17, NTU25, remap
from mbcli.types import Keypoints2D, Pose3D

FPS = 30.0
COLOR_SIZE = (1920, 1080)  # Kinect v2 colour image (width, height) px
NUM_JOINTS = 25

XSUB_TRAIN_PERFORMERS = frozenset({
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38,  # NTU-60
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94,
    95, 97, 98, 100, 103,  # added by NTU-120
})
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})
PROTOCOLS = ("xsub", "xview", "xset")

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
