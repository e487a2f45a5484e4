"""The stage objects that flow between mbcli's stages (ARCHITECTURE.md, "The objects that flow between stages").

Frozen dataclasses of numpy arrays on the CPU; shapes and dtypes are checked in ``__post_init__``.
Symbols used throughout: T frames, J joints of ``skeleton``, K keypoints of a detector's skeleton, N people in one
frame, C action classes. Pixel coordinates are (x right, y down) with the origin at the top-left pixel corner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from mbcli.skeletons import Skeleton, get_skeleton

# Frame rates mbcli handles (--fps, a motion file's "fps"): the tracker's and the smoothers' time windows are counted in
# frames, so a rate far outside this range makes windows of no frame or of billions of them.
FPS_RANGE = (0.01, 10_000.0)


def _f32(a, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    _check_shape(arr, name, shape)
    return arr


def _i64(a, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(a, dtype=np.int64))
    _check_shape(arr, name, shape)
    return arr


def _check_shape(arr: np.ndarray, name: str, shape: tuple[int | None, ...]) -> None:
    ok = arr.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, arr.shape))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


def _skel(s: Skeleton | str) -> Skeleton:
    return get_skeleton(s) if isinstance(s, str) else s


@dataclass(frozen=True)
class VideoInfo:
    """A video's metadata. width/height are the *displayed* size (after rotation metadata is applied)."""

    path: str
    width: int
    height: int
    fps: float
    num_frames: int
    rotation: int = 0  # degrees clockwise the decoder rotates frames to display them upright

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"bad video size {self.width}x{self.height}")
        if not self.fps > 0:
            raise ValueError(f"bad fps {self.fps}")


@dataclass(frozen=True)
class FramePoses:
    """All people a detector found in one frame.

    boxes_xyxy (N,4) px; box_scores (N,); keypoints_xy (N,K,2) px; keypoint_scores (N,K) in [0,1]; appearance
    (N,D) float32, what each person looks like (mbcli.appearance; NaN for a part not seen), or None when the
    frame's pixels were not seen (keypoint files).
    """

    frame_index: int
    boxes_xyxy: np.ndarray
    box_scores: np.ndarray
    keypoints_xy: np.ndarray
    keypoint_scores: np.ndarray
    skeleton: Skeleton
    appearance: np.ndarray | None = None

    def __post_init__(self) -> None:
        _set(self, "skeleton", _skel(self.skeleton))
        K = self.skeleton.num_joints
        _set(self, "boxes_xyxy", _f32(self.boxes_xyxy, "boxes_xyxy", (None, 4)))
        N = self.boxes_xyxy.shape[0]
        _set(self, "box_scores", _f32(self.box_scores, "box_scores", (N,)))
        _set(self, "keypoints_xy", _f32(self.keypoints_xy, "keypoints_xy", (N, K, 2)))
        _set(self, "keypoint_scores", _f32(self.keypoint_scores, "keypoint_scores", (N, K)))
        if self.appearance is not None:
            _set(self, "appearance", _f32(self.appearance, "appearance", (N, None)))

    @property
    def num_people(self) -> int:
        return int(self.boxes_xyxy.shape[0])

    @classmethod
    def empty(cls, frame_index: int, skeleton: Skeleton | str) -> FramePoses:
        K = _skel(skeleton).num_joints
        return cls(frame_index, np.zeros((0, 4)), np.zeros(0), np.zeros((0, K, 2)), np.zeros((0, K)), _skel(skeleton))


_PER_PERSON = ("boxes_xyxy", "box_scores", "keypoints_xy", "keypoint_scores", "appearance")  # FramePoses' arrays


class PackedFrames(Sequence[FramePoses]):
    """Many frames' FramePoses (a whole video's detections) held as one array per field, one row per detected
    person, frames in order: a person-frame costs its numbers (about 0.8 KB with BlazePose's 33 keypoints and the
    appearance descriptor), not a Python object and five small arrays per frame.

    frame_indices (F,) strictly increasing; offsets (F+1,): frame i's people are rows offsets[i]:offsets[i+1] of
    boxes_xyxy (P,4), box_scores (P,), keypoints_xy (P,K,2), keypoint_scores (P,K), appearance (P,D) float32 or None
    (then no frame carries one). ``packed[i]`` is frame i's FramePoses (views into the arrays, made on access);
    ``by_index()`` the same as a mapping frame index -> FramePoses.
    """

    ARRAYS = ("frame_indices", "offsets", *_PER_PERSON)  # what arrays() gives and from_arrays() takes

    def __init__(self, frame_indices: np.ndarray, offsets: np.ndarray, boxes_xyxy: np.ndarray,
                 box_scores: np.ndarray, keypoints_xy: np.ndarray, keypoint_scores: np.ndarray,
                 skeleton: Skeleton | str, appearance: np.ndarray | None = None) -> None:
        self.skeleton = _skel(skeleton)
        self.frame_indices = _i64(frame_indices, "frame_indices", (None,))
        F = len(self.frame_indices)
        self.offsets = _i64(offsets, "offsets", (F + 1,))
        P = int(self.offsets[-1])
        if self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0) or np.any(np.diff(self.frame_indices) <= 0):
            raise ValueError("offsets must rise from 0 and frame_indices strictly increase")
        K = self.skeleton.num_joints
        self.boxes_xyxy = _f32(boxes_xyxy, "boxes_xyxy", (P, 4))
        self.box_scores = _f32(box_scores, "box_scores", (P,))
        self.keypoints_xy = _f32(keypoints_xy, "keypoints_xy", (P, K, 2))
        self.keypoint_scores = _f32(keypoint_scores, "keypoint_scores", (P, K))
        self.appearance = None if appearance is None else _f32(appearance, "appearance", (P, None))

    @classmethod
    def pack(cls, frames: Iterable[FramePoses], block: int = 2048) -> PackedFrames:
        """Pack ``frames`` (one pass; strictly increasing frame indices; one skeleton; every frame with people
        carrying appearance, or none of them: a frame without people packs alike either way), ``block`` frames at a
        time, so that never more than a block of them is held as FramePoses."""
        fields: dict[str, list[np.ndarray]] = {name: [] for name in _PER_PERSON}
        indices: list[int] = []
        counts: list[int] = []
        pending: list[FramePoses] = []
        skeleton: Skeleton | None = None
        looks: set[bool] = set()  # whether frames with people carry appearance
        for fp in frames:
            skeleton = skeleton or fp.skeleton
            if fp.num_people:
                looks.add(fp.appearance is not None)
            if fp.skeleton.name != skeleton.name or len(looks) > 1:
                raise ValueError(f"frame {fp.frame_index}: frames must share one skeleton, and carry appearance "
                                 "all or none")
            pending.append(fp)
            indices.append(int(fp.frame_index))
            counts.append(fp.num_people)
            if len(pending) == block:
                _pack_block(pending, fields)
        _pack_block(pending, fields)
        if skeleton is None:
            raise ValueError("no frames to pack")
        looked = fields.pop("appearance")  # (when no person had any, only frames without people may have)
        appearance = np.concatenate(looked) if looked and looks != {False} else None
        boxes, box_scores, keypoints, keypoint_scores = (np.concatenate(fields.pop(name))  # a field's blocks go
                                                         for name in _PER_PERSON[:4])      # as it is joined
        return cls(np.array(indices, dtype=np.int64), np.concatenate([[0], np.cumsum(counts)]), boxes, box_scores,
                   keypoints, keypoint_scores, skeleton, appearance)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name (ARRAYS; appearance only when there is one), e.g. for np.savez."""
        out = {name: getattr(self, name) for name in self.ARRAYS}
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], skeleton: Skeleton | str) -> PackedFrames:
        return cls(arrays["frame_indices"], arrays["offsets"], arrays["boxes_xyxy"], arrays["box_scores"],
                   arrays["keypoints_xy"], arrays["keypoint_scores"], skeleton, arrays.get("appearance"))

    def __len__(self) -> int:
        return len(self.frame_indices)

    @overload
    def __getitem__(self, i: int) -> FramePoses: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[FramePoses]: ...

    def __getitem__(self, i: int | slice) -> FramePoses | Sequence[FramePoses]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # (negative indices; IndexError beyond)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        looks = None if self.appearance is None else self.appearance[a:b]
        return FramePoses(int(self.frame_indices[i]), self.boxes_xyxy[a:b], self.box_scores[a:b],
                          self.keypoints_xy[a:b], self.keypoint_scores[a:b], self.skeleton, looks)

    def __iter__(self) -> Iterator[FramePoses]:
        return (self[i] for i in range(len(self)))

    def by_index(self) -> Mapping[int, FramePoses]:
        """A mapping frame index -> that frame's FramePoses, made on access."""
        return _FramesByIndex(self)

    @property
    def num_people(self) -> int:
        """Person-frames held (P)."""
        return int(self.offsets[-1])


def _pack_block(pending: list[FramePoses], fields: dict[str, list[np.ndarray]]) -> None:
    """Append the ``pending`` frames' rows to ``fields`` as one block per field; empty ``pending``."""
    if not pending:
        return
    for name, blocks in fields.items():
        arrays = [a for a in (getattr(fp, name) for fp in pending) if a is not None]  # (a frame without people
        if arrays:                                                                    # may lack appearance)
            blocks.append(np.concatenate(arrays))
    pending.clear()


class _FramesByIndex(Mapping[int, FramePoses]):
    """PackedFrames as a mapping frame index -> FramePoses (a binary search in its frame indices)."""

    def __init__(self, packed: PackedFrames) -> None:
        self.packed = packed

    def __getitem__(self, f: int) -> FramePoses:
        fi = self.packed.frame_indices
        i = int(np.searchsorted(fi, f))
        if i >= len(fi) or fi[i] != f:
            raise KeyError(f)
        return self.packed[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self.packed.frame_indices.tolist())

    def __len__(self) -> int:
        return len(self.packed)


@dataclass(frozen=True)
class Track:
    """One person followed through a video: frame_indices (T,) ascending; rows[t] = index of the person in that
    frame's FramePoses, or -1 where the track was not observed (a gap that was filled)."""

    track_id: int
    frame_indices: np.ndarray
    rows: np.ndarray

    def __post_init__(self) -> None:
        _set(self, "frame_indices", _i64(self.frame_indices, "frame_indices", (None,)))
        _set(self, "rows", _i64(self.rows, "rows", self.frame_indices.shape))


@dataclass(frozen=True)
class Keypoints2D:
    """A 2D keypoint sequence of one person.

    xy (T,J,2) px; scores (T,J), 0 = missing; frame_indices (T,); image_size (width, height) px; fps.
    """

    xy: np.ndarray
    scores: np.ndarray
    frame_indices: np.ndarray
    skeleton: Skeleton
    image_size: tuple[int, int]
    fps: float

    def __post_init__(self) -> None:
        _set(self, "skeleton", _skel(self.skeleton))
        J = self.skeleton.num_joints
        _set(self, "xy", _f32(self.xy, "xy", (None, J, 2)))
        T = self.xy.shape[0]
        _set(self, "scores", _f32(self.scores, "scores", (T, J)))
        _set(self, "frame_indices", _i64(self.frame_indices, "frame_indices", (T,)))
        _set(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))
        if not np.all(np.isfinite(self.xy[self.scores > 0])):
            raise ValueError("xy has non-finite values where scores > 0")

    @property
    def num_frames(self) -> int:
        return int(self.xy.shape[0])


@dataclass(frozen=True)
class Pose3D:
    """A 3D joint sequence of one person.

    xyz (T,J,3) in ``units``; ``frame`` is "camera" (OpenCV: x right, y down, z forward, away from the camera) or
    "world"; root_relative: the root joint is at the origin in every frame.
    """

    xyz: np.ndarray
    skeleton: Skeleton
    frame_indices: np.ndarray
    fps: float
    frame: str = "camera"
    units: str = "m"
    root_relative: bool = True

    def __post_init__(self) -> None:
        _set(self, "skeleton", _skel(self.skeleton))
        J = self.skeleton.num_joints
        _set(self, "xyz", _f32(self.xyz, "xyz", (None, J, 3)))
        _set(self, "frame_indices", _i64(self.frame_indices, "frame_indices", (self.xyz.shape[0],)))
        if self.frame not in ("camera", "world"):
            raise ValueError(f"frame must be camera or world, got {self.frame!r}")

    @property
    def num_frames(self) -> int:
        return int(self.xyz.shape[0])


@dataclass(frozen=True)
class BodyMotion:
    """One person's fitted body-model motion as plain arrays (no live model): what ``mbcli mesh`` exports.

    T frames, J model joints, S shape coefficients. model: the body model's name ("smpl", "anny"); gender: "male",
    "female" or "neutral"; shape (S,); rotmats_cam (T,J,3,3) local rotations (x' = R x, parent frame), the root's
    in the OpenCV camera frame (x right, y down, z forward); transl_cam (T,3) metres; rotmats_world (T,J,3,3) and
    transl_world (T,3): the same motion in the Z-up world (x_w = x_c, y_w = z_c, z_w = -y_c; camera assumed level),
    the floor at z = 0; root_rest (3,) the rest root joint J_0(shape), metres, about which the root rotates;
    params_world / params_cam: the model's own parameter layout (body.npz), name -> array; joints_cam (T,17,3) the
    fitted h36m17 joints; error_mm (T,) their mean root-relative distance to the lifted joints; frame_indices (T,)
    video frames; fps the video's frame rate; num_vertices V of the model's mesh.
    """

    model: str
    gender: str
    shape: np.ndarray
    rotmats_cam: np.ndarray
    transl_cam: np.ndarray
    rotmats_world: np.ndarray
    transl_world: np.ndarray
    root_rest: np.ndarray
    params_world: dict[str, np.ndarray]
    params_cam: dict[str, np.ndarray]
    joints_cam: np.ndarray
    error_mm: np.ndarray
    frame_indices: np.ndarray
    fps: float
    num_vertices: int

    def __post_init__(self) -> None:
        _set(self, "rotmats_cam", np.ascontiguousarray(np.asarray(self.rotmats_cam, dtype=np.float64)))
        T, J = self.rotmats_cam.shape[:2]
        _check_shape(self.rotmats_cam, "rotmats_cam", (T, J, 3, 3))
        for name, shape in (("transl_cam", (T, 3)), ("rotmats_world", (T, J, 3, 3)), ("transl_world", (T, 3)),
                            ("root_rest", (3,)), ("shape", (None,)), ("joints_cam", (T, 17, 3)), ("error_mm", (T,))):
            arr = np.ascontiguousarray(np.asarray(getattr(self, name), dtype=np.float64))
            _check_shape(arr, name, shape)
            _set(self, name, arr)
        _set(self, "frame_indices", _i64(self.frame_indices, "frame_indices", (T,)))

    @property
    def num_frames(self) -> int:
        return int(self.rotmats_cam.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.rotmats_cam.shape[1])


@dataclass(frozen=True)
class SkinnedMesh:
    """A body model's rest mesh for one shape, for skinned exports (GLB). V vertices, F faces, J joints.

    model: the body model's name; vertices (V,3) and joints (J,3) of the unposed body, metres, the model's own rest
    frame; faces (F,3) int64; skin_weights (V,J) rows summing to 1; parents (J,) (-1 for the root, parents first);
    joint_names (J,).
    """

    model: str
    vertices: np.ndarray
    faces: np.ndarray
    skin_weights: np.ndarray
    joints: np.ndarray
    parents: np.ndarray
    joint_names: tuple[str, ...]

    def __post_init__(self) -> None:
        _set(self, "vertices", np.asarray(self.vertices, dtype=np.float64))
        _check_shape(self.vertices, "vertices", (None, 3))
        _set(self, "joints", np.asarray(self.joints, dtype=np.float64))
        _check_shape(self.joints, "joints", (len(self.joint_names), 3))
        _set(self, "faces", _i64(self.faces, "faces", (None, 3)))
        _set(self, "parents", _i64(self.parents, "parents", (len(self.joint_names),)))


@dataclass(frozen=True)
class ActionScores:
    """Action probabilities over labels (C,) for the video frames window = (start, end), end exclusive."""

    labels: tuple[str, ...]
    probs: np.ndarray
    window: tuple[int, int]

    def __post_init__(self) -> None:
        _set(self, "labels", tuple(self.labels))
        _set(self, "probs", _f32(self.probs, "probs", (len(self.labels),)))
        _set(self, "window", (int(self.window[0]), int(self.window[1])))

    def top(self, k: int) -> list[tuple[str, float]]:
        """The k most probable (label, probability) pairs, best first."""
        order = np.argsort(-self.probs)[:k]
        return [(self.labels[i], float(self.probs[i])) for i in order]


@dataclass(frozen=True)
class PersonActions:
    """The actions of one tracked person: one ActionScores per window (segment) and their mean (overall, whose
    window spans the segments)."""

    track_id: int
    overall: ActionScores
    segments: tuple[ActionScores, ...]


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: focal lengths fx, fy and principal point cx, cy in pixels; source says where the focal
    length came from: "focal" (given), "fov" (a given field of view), "prior" (mbcli/world/camera.py) or "dataset"."""

    fx: float
    fy: float
    cx: float
    cy: float
    source: str = "prior"


_CAMERA_RIGHT = np.array([1.0, 0.0, 0.0])


@dataclass(frozen=True)
class Floor:
    """The floor seen by a static camera: points X (camera frame, metres) with up . X + height_m = 0.

    up (3,) unit, against gravity, in the camera frame; height_m the camera's height above the floor; method "feet"
    (fitted to the people's planted feet, mbcli/world/floor.py), "level-camera" (fallback: the camera assumed level)
    or "dataset"; samples / inliers the foot samples considered and those on the plane; note why a fallback was used.
    The world frame (``to_world``): Y up, X the camera's right made horizontal, Z = X x Y, metres, the floor at y = 0,
    the camera at (0, height_m, 0).
    """

    up: np.ndarray
    height_m: float
    method: str
    samples: int = 0
    inliers: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        up = np.asarray(self.up, dtype=np.float64)
        _check_shape(up, "up", (3,))
        _set(self, "up", up / max(float(np.linalg.norm(up)), 1e-12))

    @property
    def R_cam_to_world(self) -> np.ndarray:
        """(3,3) whose rows are the world's X, Y (up) and Z axes in camera coordinates."""
        y = self.up
        x = _CAMERA_RIGHT - (_CAMERA_RIGHT @ y) * y
        x = x / np.linalg.norm(x)
        return np.stack([x, y, np.cross(x, y)])

    @property
    def camera_position(self) -> np.ndarray:
        """(3,) the camera's centre in the world frame."""
        return np.array([0.0, float(self.height_m), 0.0])

    @property
    def tilt_deg(self) -> float:
        """Angle between the camera's own up (-y) and the true up (how far it looks down or up, and rolls)."""
        return float(np.degrees(np.arccos(np.clip(-self.up[1], -1.0, 1.0))))

    def to_world(self, xyz_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) -> world frame (..., 3)."""
        return np.asarray(xyz_cam, dtype=np.float64) @ self.R_cam_to_world.T + self.camera_position

    def to_camera(self, xyz_world: np.ndarray) -> np.ndarray:
        """World-frame points (..., 3) -> camera frame; the inverse of ``to_world``."""
        return (np.asarray(xyz_world, dtype=np.float64) - self.camera_position) @ self.R_cam_to_world


@dataclass(frozen=True)
class Scene:
    """What one clip's people share: the camera (intrinsics) and the floor (so gravity and the world frame)."""

    camera: Intrinsics
    floor: Floor


@dataclass(frozen=True)
class WorldPose:
    """One person in the world frame of their clip's Scene. T frames (those of the person's Pose3D).

    joints_world (T,J,3) metres, Y up, floor y = 0; root_cam (T,3) the root trajectory in the camera frame, metres;
    root_flags (T,) uint8 bit mask (mbcli/world/trajectory.py: 1 few joints seen (interpolated), 2 cut by the image
    edge, 4 far away); contacts (T,2) bool, left and right foot planted; scale: the factor applied to the lifted
    skeleton to give it adult size before placing it (world/trajectory.adult_scale).
    """

    joints_world: np.ndarray
    root_cam: np.ndarray
    root_flags: np.ndarray
    contacts: np.ndarray
    scale: float = 1.0

    def __post_init__(self) -> None:
        _set(self, "joints_world", _f32(self.joints_world, "joints_world", (None, None, 3)))
        T = self.joints_world.shape[0]
        _set(self, "root_cam", _f32(self.root_cam, "root_cam", (T, 3)))
        flags = np.ascontiguousarray(np.asarray(self.root_flags, dtype=np.uint8))
        _check_shape(flags, "root_flags", (T,))
        _set(self, "root_flags", flags)
        contacts = np.ascontiguousarray(np.asarray(self.contacts, dtype=bool))
        _check_shape(contacts, "contacts", (T, 2))
        _set(self, "contacts", contacts)
        if not (np.isfinite(self.joints_world).all() and np.isfinite(self.root_cam).all()):
            raise ValueError("world joints and root trajectory must be finite")


@dataclass(frozen=True)
class MotionResult:
    """Everything mbcli produced for one tracked person; world: their motion in the clip's world frame (None when
    it was not computed)."""

    video: VideoInfo | None
    track_id: int
    keypoints_2d: Keypoints2D
    pose_3d: Pose3D | None
    world: WorldPose | None = None
