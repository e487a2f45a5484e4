"""``mbcli lift``: any input -> tracked people -> 3D (batched overlapping windows) -> JSON, NPZ, BVH, overlay video.

1. The lifter is loaded first, so bad weights fail before the slow detection.
2. The input is read and its people chosen (pipeline/inputs.py).
3. Each person's h36m17 2D sequence is lifted to camera-frame, root-relative 3D (inference/predictors.py).
4. Unless ``raw_3d``, each 3D sequence is replaced by what the BVH skeleton reproduces (fixed bone lengths), so
   every file agrees.
5. Everyone is placed in one world (world/scene.py): the camera from ``focal`` / ``fov`` or the prior, each root
   trajectory, the floor from everyone's feet, contacts and foot locking.
6. Each BVH carries the world motion (``in_place``: the root-relative camera-frame rig) on the video's timeline:
   frame 0 of every BVH is video frame 0, the first pose held before the person's track starts and the last after
   it ends.
7. All files are written all or nothing (pipeline/outputs.py).
Stage names passed to ``on_progress(stage, done, total)``: "detect", "lift", "export", "render".
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mbcli.detect import check_detector
from mbcli.errors import ConfigError
from mbcli.heap import release_free_memory
from mbcli.inference.predictors import Lifter, LiftOptions, default_stride
from mbcli.model import load_model, resolve_device
from mbcli.pipeline.inputs import InputKind, People, ProgressFn, check_fps, input_kind, read_people
from mbcli.pipeline.outputs import Output, check_destinations, write_outputs
from mbcli.rig.bvh_io import BVH_UNITS
from mbcli.rig.h36m_rig import consistent_pose, pose_to_rig, retarget_baked
from mbcli.rig.kinematics import BakedMotion, RigMotion, hold_timeline
from mbcli.track import check_person
from mbcli.types import MotionResult, Pose3D, Scene, VideoInfo, WorldPose
from mbcli.weights import DEFAULT_LIFTER
from mbcli.world.camera import check_camera_options
from mbcli.world.trajectory import AT_EDGE

FORMATS = ("json", "bvh", "npz", "video")
Motion = RigMotion | BakedMotion  # what a BVH is written from
_NAMES = {"json": "{stem}.motion.json", "npz": "{stem}.motion.npz", "video": "{stem}.overlay.mp4",
          "manifest": "{stem}.manifest.json"}  # the files of a run (and one BVH per person: {stem}.person{id}.bvh)


def _dest(out_dir: Path, stem: str, what: str) -> Path:
    return out_dir / _NAMES[what].format(stem=stem)


def output_stem(path: Path) -> str:
    """The name a lift's files start with: the input's name without its extension (and without ".motion")."""
    return path.stem.replace(".motion", "") if path.is_file() else path.name


@dataclass(frozen=True)
class LiftConfig:
    """``mbcli lift`` settings (the CLI's options of the same names)."""

    formats: tuple[str, ...] = FORMATS
    person: str = "all"
    device: str = "auto"
    weights: str = DEFAULT_LIFTER
    weights_config: str | None = None  # "base"/"lite" for MotionBERT files without a config
    window: int = 243  # capped at the model's maxlen
    stride: int | None = None  # default: two thirds of the effective window (predictors.default_stride)
    flip: bool = True
    batch_size: int = 8
    precision: str = "fp32"
    runtime: str = "torch"
    detector: str = "default"
    detect_max_width: int | None = None
    fps: float | None = None  # for keypoint files that carry no frame rate
    video: str | None = None  # source video for the overlay when the input is a keypoint file
    bvh_units: str = "m"
    raw_3d: bool = False  # export the network's joints as they are instead of the BVH-consistent skeleton
    focal: float | None = None  # the camera's focal length in pixels, if known
    fov: float | None = None  # else its diagonal field of view in degrees (else world/camera.py's prior)
    in_place: bool = False  # BVH root-relative in the camera's frame (no root motion), as before world placement
    foot_lock: bool = True  # pin planted feet (world/footlock.py)
    overlay_height: int = 720
    azimuth: float = 30.0

    def check(self) -> None:
        """Preflight: every setting is valid before anything is loaded or decoded (ConfigError, one line naming the
        option)."""
        for f in self.formats:
            if f not in FORMATS:
                raise ConfigError(f"unknown output format {f!r}; choose from: {', '.join(FORMATS)}")
        check_person(self.person)
        check_detector(self.detector)
        check_camera_options(self.focal, self.fov)
        _at_least("--window", self.window, 1)
        if self.stride is not None:
            _at_least("--stride", self.stride, 1)
        _at_least("--batch-size", self.batch_size, 1)
        if self.batch_size > MAX_BATCH:  # each window costs the network's activations: more only risks memory
            raise ConfigError(f"--batch-size must be from 1 to {MAX_BATCH}, got {self.batch_size}")
        if self.detect_max_width is not None:
            _at_least("--detect-max-width", self.detect_max_width, 32)
        _at_least("overlay_height", self.overlay_height, 16)
        check_fps(self.fps)
        if not math.isfinite(self.azimuth):
            raise ConfigError(f"--azimuth must be a number of degrees, got {self.azimuth}")
        if self.bvh_units not in BVH_UNITS:
            raise ConfigError(f"--bvh-units must be one of {', '.join(BVH_UNITS)}, got {self.bvh_units!r}")
        LiftOptions(window=self.window, stride=self.stride or self.window, precision=self.precision,
                    runtime=self.runtime)  # precision and runtime


MAX_BATCH = 1024  # windows per forward pass (lift --batch-size)


def _at_least(option: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{option} must be at least {low}, got {value}")


@dataclass
class LiftResult:
    """What ``run_lift`` made: one MotionResult per person (with their world motion), the input video's info (None
    for files), the files written, the lifter's name, seconds per stage, the input's frame count, notes for the user
    and the clip's scene (camera and floor; None when the input has no image size)."""

    results: list[MotionResult]
    video: VideoInfo | None
    files: list[Path]
    weights: str
    timings: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    notes: list[str] = field(default_factory=list)
    scene: Scene | None = None
    partial: str = ""  # why only part of the input could be read (a video that ended early), else ""


@dataclass(frozen=True)
class Lifted:
    """People and their lifted 3D (one Pose3D per person, camera frame, root-relative)."""

    people: People
    poses: tuple[Pose3D, ...]
    weights: str


def parse_formats(text: str | None) -> tuple[str, ...]:
    """A comma list of output formats (or "all" / empty) -> the formats, in the order given, no repeats."""
    if text is None or text.strip() in ("", "all"):
        return FORMATS
    out: list[str] = []
    for f in (s.strip().lower() for s in text.split(",")):
        if f not in FORMATS:
            raise ConfigError(f"unknown output format {f!r}; choose from: {', '.join(FORMATS)} (or all)")
        if f not in out:
            out.append(f)
    return tuple(out)


def make_lifter(cfg: LiftConfig) -> Lifter:
    """The lifter ``cfg`` describes, on its device (window capped at the model's length)."""
    device = resolve_device(cfg.device)
    model = load_model(cfg.weights, device=str(device), config=cfg.weights_config)
    name = model.meta.get("name") or Path(cfg.weights).name
    window = min(cfg.window, model.config.maxlen)
    stride = min(cfg.stride, window) if cfg.stride else default_stride(window)
    opts = LiftOptions(window=window, stride=stride, flip=cfg.flip, batch_size=cfg.batch_size,
                       precision=cfg.precision, runtime=cfg.runtime)
    return Lifter(model, device, opts, weights_name=name)


def lift_people(path: Path, kind: InputKind, cfg: LiftConfig, on_progress: ProgressFn | None,
                timings: dict[str, float], lifter: Lifter | None = None) -> Lifted:
    """Load the lifter (first), read and choose the people, lift them; seconds per stage go to ``timings``."""
    t0 = time.perf_counter()
    lifter = lifter or make_lifter(cfg)
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    people = read_people(path, kind, person=cfg.person, detector=cfg.detector,
                         detect_max_width=cfg.detect_max_width, fps=cfg.fps, on_progress=on_progress)
    timings["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    poses = lifter.lift_many(list(people.keypoints), on_progress=(lambda d, t: on_progress("lift", d, t))
                             if on_progress else None)
    release_free_memory()  # the network's temporaries
    timings["lift"] = time.perf_counter() - t0
    return Lifted(people, tuple(poses), lifter.weights_name)


def _outputs(stem: str, out_dir: Path, results: list[MotionResult], bvh: Sequence[Callable[[], Motion]],
             scene: Scene | None,
             video: VideoInfo | None, cfg: LiftConfig, weights: str, on_progress: ProgressFn | None,
             notes: list[str]) -> list[Output]:
    from mbcli.export.json_motion import write_motion_json
    from mbcli.export.npz import write_npz

    outs: list[Output] = []
    if "json" in cfg.formats:
        outs.append(Output(_dest(out_dir, stem, "json"),
                           lambda p: write_motion_json(results, video, p, weights=weights, scene=scene,
                                                       notes=notes)))
    if "npz" in cfg.formats:
        outs.append(Output(_dest(out_dir, stem, "npz"),
                           lambda p: write_npz(results, video, p, weights=weights, scene=scene)))
    if "bvh" in cfg.formats:
        for r, motion in zip(results, bvh):  # each person's motion is made when their file is written
            outs.append(Output(out_dir / f"{stem}.person{r.track_id}.bvh",
                               functools.partial(_write_bvh, motion, cfg.bvh_units)))
    if "video" in cfg.formats:
        src = video.path if video is not None else cfg.video
        if src:
            from mbcli.export.video import render_side_by_side

            outs.append(Output(_dest(out_dir, stem, "video"), lambda p: render_side_by_side(
                src, results, p, height=cfg.overlay_height, azimuth=cfg.azimuth, on_progress=on_progress)))
        else:
            notes.append("no overlay video: the input was a keypoint file (pass --video to draw on a video)")
    return outs


def run_lift(input_path: str | os.PathLike, out_dir: str | os.PathLike, cfg: LiftConfig | None = None,
             on_progress: ProgressFn | None = None, lifter: Lifter | None = None) -> LiftResult:
    """Lift every chosen person of ``input_path`` and write the files of ``cfg.formats`` into ``out_dir``."""
    cfg = cfg or LiftConfig()
    cfg.check()
    path = Path(input_path)
    kind = input_kind(path)  # a missing input fails before anything is loaded
    stem, out_dir = output_stem(path), Path(out_dir)
    planned = [_dest(out_dir, stem, f) for f in (*cfg.formats, "manifest") if f != "bvh"]
    check_destinations(planned, [path, Path(cfg.video) if cfg.video else None])
    timings: dict[str, float] = {}
    lifted = lift_people(path, kind, cfg, on_progress, timings, lifter)
    people, poses, weights = lifted.people, list(lifted.poses), lifted.weights
    del lifted  # its poses are replaced by the retargeted ones below
    bvh_world = "bvh" in cfg.formats and not cfg.in_place and _image_size(people) is not None
    rigs: list[BakedMotion | None] = [None] * len(poses)  # the camera-frame rigs a BVH will use
    if not cfg.raw_3d:  # one IK solve per person: the BVH's motion, and the joints it reproduces for JSON/NPZ
        rigs = _retarget(poses, keep_rigs="bvh" in cfg.formats and not bvh_world)
        release_free_memory()  # the network's poses the consistent ones replaced
    frames = people.num_frames or max((int(p.frame_indices[-1]) + 1 for p in poses), default=0)
    notes: list[str] = [n for n in (people.partial, people.left_out, unseen_note(people), *lost_in_view_notes(people))
                        if n]
    t0 = time.perf_counter()
    scene, worlds = _place(people, poses, cfg, notes)
    world_rigs: list[BakedMotion | None] = [None] * len(worlds)
    if not cfg.raw_3d:  # the world motion as the world BVH's skeleton reproduces it (one IK solve, as above)
        world_rigs = _retarget_worlds(worlds, poses, keep_rigs=bvh_world)
    release_free_memory()  # the solves' temporaries, before the files are written
    timings["world"] = time.perf_counter() - t0
    results = [MotionResult(people.video, tid, kp, pose, w)
               for tid, kp, pose, w in zip(people.ids, people.keypoints, poses, worlds)]
    t0 = time.perf_counter()
    bvh = [functools.partial(_bvh_motion, r, rigs[i], world_rigs[i], cfg, frames) for i, r in enumerate(results)] \
        if "bvh" in cfg.formats else []
    outs = _outputs(stem, out_dir, results, bvh, scene, people.video, cfg, weights, on_progress, notes)
    files = write_outputs(outs, on_progress, manifest=_dest(out_dir, stem, "manifest"),
                          about={"command": "mbcli lift", "input": str(path)})
    timings["export"] = time.perf_counter() - t0
    return LiftResult(results, people.video, files, weights, timings, frames, notes, scene, people.partial)


def _retarget(poses: list[Pose3D], keep_rigs: bool) -> list[BakedMotion | None]:
    """Replace each pose by its skeleton-consistent pose (retarget_baked), in place, one person at a time (a
    person's old pose is let go as their new one is made); the camera-frame rigs when ``keep_rigs``."""
    rigs: list[BakedMotion | None] = []
    for i in range(len(poses)):
        rig, poses[i] = _solve(poses[i], keep_rigs)
        rigs.append(rig)
    return rigs


def _solve(pose: Pose3D, keep_rig: bool) -> tuple[BakedMotion | None, Pose3D]:
    """One person's solve: (the rig a BVH is written from, or None when ``keep_rig`` is off and its Euler angles are
    not made, the skeleton-consistent pose)."""
    return retarget_baked(pose) if keep_rig else (None, consistent_pose(pose))


def _retarget_worlds(worlds: list[WorldPose | None], poses: list[Pose3D],
                     keep_rigs: bool) -> list[BakedMotion | None]:
    """Replace each world motion's joints by what the world BVH's skeleton reproduces (one solve each, in place);
    the world rigs when ``keep_rigs``."""
    rigs: list[BakedMotion | None] = []
    for i, w in enumerate(worlds):
        rig = None
        if w is not None:
            pose = _world_pose(w, poses[i])
            rig, solved = _solve(pose, keep_rigs)
            worlds[i] = dataclasses.replace(w, joints_world=solved.xyz)
        rigs.append(rig)
    return rigs


def unseen_note(people: People) -> str:
    """The note for frames of the input where none of the chosen people has a detected joint, else ""."""
    total = people.num_frames
    if total <= 0:
        return ""
    seen = np.zeros(total, bool)
    for kp in people.keypoints:
        rows = kp.frame_indices[(kp.scores > 0).any(axis=1)]
        seen[rows[(rows >= 0) & (rows < total)]] = True
    unseen = np.flatnonzero(~seen)
    if not len(unseen):
        return ""
    runs = np.split(unseen, np.flatnonzero(np.diff(unseen) > 1) + 1)
    where = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs[:3])
    more = f" and {len(runs) - 3} more stretches" if len(runs) > 3 else ""
    return (f"nobody was seen in {len(unseen)} of {total} frames (frames {where}{more}): people there are held or "
            f"filled by the lifter")


def lost_in_view_notes(people: People, margin: float = 0.03) -> list[str]:
    """A note for each person whose track ends before the input does while their last seen joints are inside the
    image (more than ``margin`` of its size from every edge): the person did not walk out of view but was lost
    (hidden, or missed by the detector) and is not followed after that frame. Needs the image size."""
    total, size = people.num_frames, _image_size(people)
    if total <= 0 or size is None:
        return []
    W, H = size
    notes = []
    for tid, kp in zip(people.ids, people.keypoints):
        seen = np.flatnonzero((kp.scores > 0).any(axis=1))
        if not len(seen):
            continue
        last = int(kp.frame_indices[seen[-1]])
        if total - 1 - last < max(2, round(0.25 * kp.fps)):  # ends with the input (or within a quarter second)
            continue
        pts = kp.xy[seen[-1]][kp.scores[seen[-1]] > 0]  # (n, 2) px
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        if lo[0] > margin * W and lo[1] > margin * H and hi[0] < (1 - margin) * W and hi[1] < (1 - margin) * H:
            notes.append(f"person {tid}: lost in view at frame {last} of {total} (hidden, or missed by the detector): "
                         f"not followed after it")
    return notes


def _place(people: People, poses: list[Pose3D], cfg: LiftConfig,
           notes: list[str]) -> tuple[Scene | None, list[WorldPose | None]]:
    """The clip's scene and each person's world motion (world/scene.py), or none when the input has no image size
    to place people with (a note says so)."""
    from mbcli.world.camera import intrinsics
    from mbcli.world.scene import place_people

    if not poses:
        return None, []
    size = _image_size(people)
    if size is None:
        notes.append("no image size in the input: people are not placed in the world (root-relative 3D only)")
        return None, [None] * len(poses)
    W, H = size
    fps = float(poses[0].fps or people.keypoints[0].fps or 30.0)
    scene, worlds = place_people(poses, people.keypoints, intrinsics(W, H, cfg.focal, cfg.fov), (W, H), fps,
                                 foot_lock=cfg.foot_lock)
    if scene.floor.method != "feet":
        notes.append(scene.floor.note)
    for tid, w in zip(people.ids, worlds):
        cut = float(np.mean(w.root_flags & AT_EDGE > 0))
        if cut > 0.2:
            notes.append(f"person {tid}: cut by the image edge in {100 * cut:.0f}% of frames: their position there "
                         f"is less reliable (JSON root_flags)")
    return scene, list(worlds)


def _write_bvh(motion: Callable[[], Motion], units: str, path: Path) -> None:
    from mbcli.export.bvh import write_bvh

    write_bvh(motion(), path, units=units)


def _image_size(people: People) -> tuple[int, int] | None:
    """The input's image size (W, H) px, which placing people in the world needs; None when it has none."""
    if not people.keypoints:
        return None
    W, H = people.keypoints[0].image_size
    return (W, H) if W > 0 and H > 0 else None


def _world_pose(w: WorldPose, pose: Pose3D) -> Pose3D:
    return Pose3D(w.joints_world, pose.skeleton, pose.frame_indices, pose.fps, frame="world", root_relative=False)


def _bvh_motion(r: MotionResult, rig: BakedMotion | None, world_rig: BakedMotion | None, cfg: LiftConfig,
                frames: int) -> Motion:
    """The person's BVH motion on the video's timeline: in the world (root channels move) unless ``in_place`` or
    not placed, else the camera-frame rig (root-relative, standing on y = 0) as before world placement."""
    assert r.pose_3d is not None
    pose = r.pose_3d
    start, total = int(pose.frame_indices[0]), max(frames, int(pose.frame_indices[-1]) + 1)
    baked = world_rig if r.world is not None and not cfg.in_place else rig
    if baked is not None:
        return baked.held(start, total)
    solved = pose_to_rig(_world_pose(r.world, pose) if r.world is not None and not cfg.in_place else pose)
    return hold_timeline(solved, start, total)
