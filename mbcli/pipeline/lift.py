"""``mbcli lift``: any input -> tracked people -> 3D (batched overlapping windows) -> JSON, NPZ, BVH, overlay video.

1. The lifter is loaded first, so bad weights fail before the slow detection.
2. The input is read and its people chosen (pipeline/inputs.py).
3. Each person's h36m17 2D sequence is lifted to camera-frame, root-relative 3D (inference/predictors.py).
4. Unless ``raw_3d``, each 3D sequence is replaced by what the BVH skeleton reproduces (fixed bone lengths), so
   every file agrees.
5. All files are written all or nothing (pipeline/outputs.py).
Stage names passed to ``on_progress(stage, done, total)``: "detect", "lift", "export", "render".
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mbcli.errors import ConfigError
from mbcli.inference.predictors import Lifter, LiftOptions, default_stride
from mbcli.model import load_model, resolve_device
from mbcli.pipeline.inputs import InputKind, People, ProgressFn, check_detector, input_kind, read_people
from mbcli.pipeline.outputs import Output, write_outputs
from mbcli.rig.h36m_rig import retarget
from mbcli.rig.kinematics import RigMotion
from mbcli.track import check_person
from mbcli.types import MotionResult, Pose3D, VideoInfo
from mbcli.weights import DEFAULT_LIFTER

FORMATS = ("json", "bvh", "npz", "video")


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
    overlay_height: int = 720
    azimuth: float = 30.0


@dataclass
class LiftResult:
    """What ``run_lift`` made: one MotionResult per person, the input video's info (None for files), the files
    written, the lifter's name, seconds per stage, the input's frame count and notes for the user."""

    results: list[MotionResult]
    video: VideoInfo | None
    files: list[Path]
    weights: str
    timings: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    notes: list[str] = field(default_factory=list)


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
    timings["lift"] = time.perf_counter() - t0
    return Lifted(people, tuple(poses), lifter.weights_name)


def _outputs(stem: str, out_dir: Path, results: list[MotionResult], rigs: list[RigMotion] | None,
             video: VideoInfo | None, cfg: LiftConfig, weights: str, on_progress: ProgressFn | None,
             notes: list[str]) -> list[Output]:
    from mbcli.export.bvh import write_bvh
    from mbcli.export.json_motion import write_motion_json
    from mbcli.export.npz import write_npz

    outs: list[Output] = []
    if "json" in cfg.formats:
        outs.append(Output(out_dir / f"{stem}.motion.json",
                           lambda p: write_motion_json(results, video, p, weights=weights)))
    if "npz" in cfg.formats:
        outs.append(Output(out_dir / f"{stem}.motion.npz", lambda p: write_npz(results, video, p, weights=weights)))
    if "bvh" in cfg.formats:  # the motions solved once in run_lift, else (raw 3D) each pose solved by write_bvh
        sources: Sequence[MotionResult | RigMotion] = rigs if rigs is not None else results
        for r, m in zip(results, sources):
            outs.append(Output(out_dir / f"{stem}.person{r.track_id}.bvh",
                               functools.partial(write_bvh, m, units=cfg.bvh_units)))
    if "video" in cfg.formats:
        src = video.path if video is not None else cfg.video
        if src:
            from mbcli.export.video import render_side_by_side

            outs.append(Output(out_dir / f"{stem}.overlay.mp4", lambda p: render_side_by_side(
                src, results, p, height=cfg.overlay_height, azimuth=cfg.azimuth, on_progress=on_progress)))
        else:
            notes.append("no overlay video: the input was a keypoint file (pass --video to draw on a video)")
    return outs


def run_lift(input_path: str | os.PathLike, out_dir: str | os.PathLike, cfg: LiftConfig | None = None,
             on_progress: ProgressFn | None = None, lifter: Lifter | None = None) -> LiftResult:
    """Lift every chosen person of ``input_path`` and write the files of ``cfg.formats`` into ``out_dir``."""
    cfg = cfg or LiftConfig()
    for f in cfg.formats:
        if f not in FORMATS:
            raise ConfigError(f"unknown output format {f!r}; choose from: {', '.join(FORMATS)}")
    check_person(cfg.person)
    check_detector(cfg.detector)
    path = Path(input_path)
    kind = input_kind(path)  # a missing input fails before anything is loaded
    timings: dict[str, float] = {}
    lifted = lift_people(path, kind, cfg, on_progress, timings, lifter)
    poses = list(lifted.poses)
    rigs: list[RigMotion] | None = None
    if not cfg.raw_3d:  # one IK solve per person: the BVH's motion, and the joints it reproduces for JSON/NPZ
        solved = [retarget(p) for p in poses]
        poses, rigs = [s.pose for s in solved], [s.motion for s in solved]
    people = lifted.people
    results = [MotionResult(people.video, tid, kp, pose) for tid, kp, pose in zip(people.ids, people.keypoints, poses)]
    t0 = time.perf_counter()
    notes: list[str] = []
    stem = path.stem.replace(".motion", "") if path.is_file() else path.name
    outs = _outputs(stem, Path(out_dir), results, rigs, people.video, cfg, lifted.weights, on_progress, notes)
    files = write_outputs(outs, on_progress)
    timings["export"] = time.perf_counter() - t0
    frames = people.num_frames or max((int(r.keypoints_2d.frame_indices[-1]) + 1 for r in results), default=0)
    return LiftResult(results, people.video, files, lifted.weights, timings, frames, notes)
