"""run_lift(): the stages of ``mbcli lift`` in order, with a progress callback and no printing.

Input kinds (decided by content, not by name alone):
- a video (anything PyAV opens with a video stream): frames are streamed once through the 2D detector and the
  tracker; only the per-frame detections (a few KB per frame) are kept;
- an mbcli.motion JSON (ours, or a minimal one with h36m17/coco17 ``keypoints_2d``): people are taken as they are;
- a COCO/AlphaPose/OpenPose/MMPose keypoint file (or an OpenPose folder): read, then tracked (or the file's own
  track ids are used).
Then the chosen people (``person``: "all", "largest" or a track id) are remapped by joint name to h36m17, lifted
in batched overlapping windows, and exported. All outputs are written into a staging folder beside ``out_dir``
and moved into place only when every one of them succeeded, so a failure leaves no partial output behind.

Stage names passed to ``on_progress(stage, done, total)``: "detect", "lift", "export", "render".
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mbcli.errors import ConfigError, InputError, NoPersonFound, VideoReadError
from mbcli.inference.predictors import Lifter, LiftOptions
from mbcli.model import load_model, resolve_device
from mbcli.skeletons import H36M17, remap
from mbcli.types import FramePoses, Keypoints2D, MotionResult, VideoInfo
from mbcli.weights import DEFAULT_LIFTER

log = logging.getLogger(__name__)

FORMATS = ("json", "bvh", "npz", "video")
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LiftConfig:
    formats: tuple[str, ...] = FORMATS
    person: str = "all"
    device: str = "auto"
    weights: str = DEFAULT_LIFTER
    weights_config: str | None = None  # "base"/"lite" for MotionBERT files without a config
    window: int = 243  # capped at the model's maxlen
    stride: int | None = None  # default: a third of the effective window
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
    results: list[MotionResult]
    video: VideoInfo | None
    files: list[Path]
    weights: str
    timings: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    notes: list[str] = field(default_factory=list)


def parse_formats(text: str | None) -> tuple[str, ...]:
    if text is None or text.strip() in ("", "all"):
        return FORMATS
    out = []
    for f in (s.strip().lower() for s in text.split(",")):
        if f not in FORMATS:
            raise ConfigError(f"unknown output format {f!r}; choose from: {', '.join(FORMATS)} (or all)")
        if f not in out:
            out.append(f)
    return tuple(out)


# ----------------------------------------------------------------------------------------------- input kinds


def _input_kind(path: Path) -> str:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return "keypoints"
    if path.suffix.lower() == ".json":
        try:
            with open(path, "rb") as f:
                head = f.read(4096).decode("utf-8", "replace")
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None
        return "motion" if '"mbcli.motion"' in head else "keypoints"
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file (0 bytes), not a video")
    return "video"


def _to_h36m(kp: Keypoints2D) -> Keypoints2D:
    if kp.skeleton.name == "h36m17":
        return kp
    xy, sc = remap(kp.xy, kp.scores, kp.skeleton, H36M17)
    return Keypoints2D(xy, sc, kp.frame_indices, H36M17, kp.image_size, kp.fps)


def _people_from_frames(frames: list[FramePoses], cfg: LiftConfig, fps: float, image_size: tuple[int, int],
                        given_ids: list[np.ndarray] | None, source: str) -> list[tuple[int, Keypoints2D]]:
    from mbcli.track import select_tracks, track_people, track_to_keypoints

    if not any(f.num_people for f in frames):
        raise NoPersonFound(f"no person detected in {source}")
    tracks = track_people(frames, fps, given_ids=given_ids)
    if not tracks:
        raise NoPersonFound(f"no person could be tracked in {source}")
    chosen = select_tracks(tracks, frames, cfg.person, fps=fps, image_size=image_size)
    return [(t.track_id, track_to_keypoints(t, frames, image_size, fps)) for t in chosen]


def _detect_video(path: Path, cfg: LiftConfig, on_progress: ProgressFn | None) -> tuple[VideoInfo, list[FramePoses]]:
    from mbcli.detect import load_detector
    from mbcli.video import iter_frames, probe

    info = probe(path)
    detector = load_detector(cfg.detector)
    frames: list[FramePoses] = []
    for idx, rgb in iter_frames(path, max_width=cfg.detect_max_width):
        fp = detector(rgb, idx)
        if rgb.shape[1] != info.width:
            scale = info.width / rgb.shape[1]
            fp = FramePoses(idx, fp.boxes_xyxy * scale, fp.box_scores, fp.keypoints_xy * scale, fp.keypoint_scores,
                            fp.skeleton)
        frames.append(fp)
        if on_progress:
            on_progress("detect", idx + 1, max(info.num_frames, idx + 1))
    if not frames:
        raise VideoReadError(f"{path}: has no video frames")
    if len(frames) != info.num_frames:
        info = VideoInfo(info.path, info.width, info.height, info.fps, len(frames), info.rotation)
    return info, frames


def _select_motion_people(kps: list[Keypoints2D], ids: list[int], person: str) -> list[tuple[int, Keypoints2D]]:
    pairs = list(zip(ids, kps))
    if person == "all":
        return pairs
    if person == "largest":
        def size(kp: Keypoints2D) -> float:
            v = kp.scores > 0
            ext = [np.ptp(kp.xy[t][v[t]], axis=0).prod() for t in range(kp.num_frames) if v[t].sum() >= 2]
            return float(np.mean(ext) * len(ext)) if ext else 0.0
        return [max(pairs, key=lambda p: size(p[1]))]
    try:
        want = int(person)
    except ValueError:
        raise ConfigError(f"--person must be all, largest or a track id, got {person!r}") from None
    for p in pairs:
        if p[0] == want:
            return [p]
    raise NoPersonFound(f"no person with track id {want}; ids in the file: {', '.join(map(str, ids))}")


def load_people(path: Path, cfg: LiftConfig, on_progress: ProgressFn | None = None, kind: str | None = None
                ) -> tuple[VideoInfo | None, list[tuple[int, Keypoints2D]], int]:
    """Read any supported input; returns (video info or None, [(track_id, 2D in h36m17)], number of frames)."""
    kind = kind or _input_kind(path)
    if kind == "video":
        info, frames = _detect_video(path, cfg, on_progress)
        people = _people_from_frames(frames, cfg, info.fps, (info.width, info.height), None, str(path))
        return info, [(i, _to_h36m(k)) for i, k in people], info.num_frames
    if kind == "motion":
        from mbcli.export.json_motion import read_motion_json

        kps, _, meta = read_motion_json(path)
        if not kps:
            raise NoPersonFound(f"{path}: the file lists no people")
        people = _select_motion_people(kps, list(meta.get("track_ids", range(len(kps)))), cfg.person)
        return None, [(i, _to_h36m(k)) for i, k in people], int(meta.get("num_frames", 0))
    from mbcli.detect.files import infer_image_size, read_keypoint_file

    kf = read_keypoint_file(path)
    fps = cfg.fps or kf.fps or 30.0
    size = kf.image_size or infer_image_size(kf.frames)
    people = _people_from_frames(kf.frames, cfg, fps, size, kf.track_ids, str(path))
    return None, [(i, _to_h36m(k)) for i, k in people], kf.num_frames


# ----------------------------------------------------------------------------------------------- lifting


def make_lifter(cfg: LiftConfig) -> tuple[Lifter, str]:
    device = resolve_device(cfg.device)
    model = load_model(cfg.weights, device=str(device), config=cfg.weights_config)
    name = model.meta.get("name") or Path(cfg.weights).name
    window = min(cfg.window, model.config.maxlen)
    stride = min(cfg.stride, window) if cfg.stride else max(1, window // 3)
    opts = LiftOptions(window=window, stride=stride, flip=cfg.flip, batch_size=cfg.batch_size,
                       precision=cfg.precision, runtime=cfg.runtime)
    return Lifter(model, device, opts, weights_name=name), name


# ----------------------------------------------------------------------------------------------- exports


def _write_outputs(stem: str, out_dir: Path, results: list[MotionResult], video: VideoInfo | None,
                   cfg: LiftConfig, weights: str, on_progress: ProgressFn | None, notes: list[str]) -> list[Path]:
    from mbcli.export.bvh import write_bvh
    from mbcli.export.json_motion import write_motion_json
    from mbcli.export.npz import write_npz

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    written: list[Path] = []
    try:
        steps: list[tuple[str, Callable[[], list[Path]]]] = []
        if "json" in cfg.formats:
            steps.append(("json", lambda: [write_motion_json(results, video, stage / f"{stem}.motion.json",
                                                             weights=weights)]))
        if "npz" in cfg.formats:
            steps.append(("npz", lambda: [write_npz(results, video, stage / f"{stem}.motion.npz", weights=weights)]))
        if "bvh" in cfg.formats:
            steps.append(("bvh", lambda: [write_bvh(r, stage / f"{stem}.person{r.track_id}.bvh", units=cfg.bvh_units)
                                          for r in results]))
        overlay_src = video.path if video is not None else cfg.video
        if "video" in cfg.formats:
            if overlay_src:
                steps.append(("video", lambda: [_render(overlay_src, results, stage / f"{stem}.overlay.mp4", cfg,
                                                        on_progress)]))
            else:
                notes.append("no overlay video: the input was a keypoint file (pass --video to draw on a video)")
        for i, (_, fn) in enumerate(steps):
            written += fn()
            if on_progress:
                on_progress("export", i + 1, len(steps))
        out_dir.mkdir(parents=True, exist_ok=True)
        final = []
        for p in written:
            dest = out_dir / p.name
            os.replace(p, dest)
            final.append(dest)
        return final
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _render(src: str, results: list[MotionResult], path: Path, cfg: LiftConfig,
            on_progress: ProgressFn | None) -> Path:
    from mbcli.export.video import render_side_by_side

    render_side_by_side(src, results, path, height=cfg.overlay_height, azimuth=cfg.azimuth, on_progress=on_progress)
    return path


# ----------------------------------------------------------------------------------------------- entry point


def run_lift(input_path: str | os.PathLike, out_dir: str | os.PathLike, cfg: LiftConfig | None = None,
             on_progress: ProgressFn | None = None, lifter: tuple[Lifter, str] | None = None) -> LiftResult:
    cfg = cfg or LiftConfig()
    for f in cfg.formats:
        if f not in FORMATS:
            raise ConfigError(f"unknown output format {f!r}; choose from: {', '.join(FORMATS)}")
    path = Path(input_path)
    kind = _input_kind(path)  # a missing input fails before anything is loaded
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lifter_, weights = lifter or make_lifter(cfg)  # fail on bad weights before the slow detection
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    video, people, num_frames = load_people(path, cfg, on_progress, kind)
    timings["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    poses = lifter_.lift_many([k for _, k in people], on_progress=(lambda d, t: on_progress("lift", d, t))
                              if on_progress else None)
    timings["lift"] = time.perf_counter() - t0
    if not cfg.raw_3d:
        from mbcli.export.bvh import skeleton_consistent

        poses = [skeleton_consistent(p) for p in poses]
    results = [MotionResult(video, tid, kp, pose) for (tid, kp), pose in zip(people, poses)]
    t0 = time.perf_counter()
    notes: list[str] = []
    stem = path.stem.replace(".motion", "") if path.is_file() else path.name
    files = _write_outputs(stem, Path(out_dir), results, video, cfg, weights, on_progress, notes)
    timings["export"] = time.perf_counter() - t0
    return LiftResult(results, video, files, weights, timings, num_frames or max(
        (int(r.keypoints_2d.frame_indices[-1]) + 1 for r in results), default=0), notes)


def summary_dict(res: LiftResult) -> dict:
    total = sum(res.timings.values())
    return {
        "people": len(res.results), "frames": res.frames, "weights": res.weights,
        "fps_end_to_end": res.frames / total if total > 0 else None,
        "timings_s": {k: round(v, 3) for k, v in res.timings.items()},
        "files": [str(p) for p in res.files], "notes": res.notes,
    }


__all__ = ["FORMATS", "LiftConfig", "LiftResult", "load_people", "make_lifter", "parse_formats", "run_lift",
           "summary_dict"]
