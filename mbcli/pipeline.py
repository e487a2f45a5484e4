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

import dataclasses
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
from mbcli.inference.predictors import Lifter, LiftOptions, default_stride
from mbcli.labels import resolve_labels as labels_resolve
from mbcli.model import load_model, resolve_device
from mbcli.skeletons import H36M17, remap
from mbcli.types import FramePoses, Keypoints2D, MotionResult, VideoInfo
from mbcli.weights import DEFAULT_ACTION, DEFAULT_LIFTER

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
    stride = min(cfg.stride, window) if cfg.stride else default_stride(window)
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


def _lift_people(path: Path, kind: str, cfg: LiftConfig, on_progress: ProgressFn | None, timings: dict[str, float],
                 lifter: tuple[Lifter, str] | None = None):
    """Load the lifter (first: bad weights fail before the slow detection), read/detect the people, lift them.
    Returns (video info or None, [(track id, 2D)], [Pose3D], number of frames, weights name)."""
    t0 = time.perf_counter()
    lifter_, weights = lifter or make_lifter(cfg)
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    video, people, num_frames = load_people(path, cfg, on_progress, kind)
    timings["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    poses = lifter_.lift_many([k for _, k in people], on_progress=(lambda d, t: on_progress("lift", d, t))
                              if on_progress else None)
    timings["lift"] = time.perf_counter() - t0
    return video, people, poses, num_frames, weights


def run_lift(input_path: str | os.PathLike, out_dir: str | os.PathLike, cfg: LiftConfig | None = None,
             on_progress: ProgressFn | None = None, lifter: tuple[Lifter, str] | None = None) -> LiftResult:
    cfg = cfg or LiftConfig()
    for f in cfg.formats:
        if f not in FORMATS:
            raise ConfigError(f"unknown output format {f!r}; choose from: {', '.join(FORMATS)}")
    path = Path(input_path)
    kind = _input_kind(path)  # a missing input fails before anything is loaded
    timings: dict[str, float] = {}
    video, people, poses, num_frames, weights = _lift_people(path, kind, cfg, on_progress, timings, lifter)
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


# ----------------------------------------------------------------------------------------------- mbcli mesh


@dataclass(frozen=True)
class MeshConfig:
    """``mbcli mesh`` settings. out: the parameter file (.npz); video: the overlay video to write (None: none);
    glb: the animated mesh (anny; None: none); person: "largest" or a track id; fov: the camera's assumed diagonal
    field of view in degrees (the video's intrinsics are unknown); lift: how to lift when the input is not a
    motion.json with 3D."""

    out: str = "smpl.npz"
    body_model: str = "smpl"
    smpl_model: str | None = None
    person: str = "largest"
    video: str | None = None
    glb: str | None = None
    fov: float = 60.0
    iterations: int = 100
    overlay_height: int = 720
    lift: LiftConfig = field(default_factory=LiftConfig)


@dataclass
class MeshResult:
    track_id: int
    fit: object  # mbcli.body.fit.BodyFit
    frame_indices: np.ndarray
    fps: float
    files: list[Path]
    timings: dict[str, float]
    notes: list[str]


def _contiguous(pose, kp: Keypoints2D) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One row per frame from the pose's first to last frame: targets (N,17,3) metres (gaps interpolated, as the
    BVH export does), frame indices, 2D keypoints (N,17,2) and scores (N,17) (0 where the 2D track has no
    detection)."""
    from mbcli.export.bvh import TO_METRES, fill_gaps

    fi = np.asarray(pose.frame_indices)
    full = np.arange(fi[0], fi[-1] + 1)
    tg = fill_gaps(pose.xyz.astype(np.float64) * TO_METRES[pose.units], fi)
    xy = np.zeros((len(full), 17, 2))
    sc = np.zeros((len(full), 17))
    rows = np.asarray(kp.frame_indices) - full[0]
    inside = (rows >= 0) & (rows < len(full))
    xy[rows[inside]] = kp.xy[inside]
    sc[rows[inside]] = kp.scores[inside]
    return tg, full, np.nan_to_num(xy), sc


def _mesh_people(path: Path, kind: str, cfg: MeshConfig, on_progress: ProgressFn | None,
                 timings: dict[str, float]) -> tuple[VideoInfo | None, list[tuple[int, Keypoints2D, object]]]:
    """(video info, [(track id, 2D, 3D pose)]) of the chosen person(s), lifting when the input carries no 3D."""
    lcfg = dataclasses.replace(cfg.lift, person=cfg.person)
    if kind == "motion":
        from mbcli.export.json_motion import read_motion_json

        kps, poses, meta = read_motion_json(path)
        if not kps:
            raise NoPersonFound(f"{path}: the file lists no people")
        ids = list(meta.get("track_ids", range(len(kps))))
        chosen = _select_motion_people(kps, ids, cfg.person)
        out = []
        for tid, kp in chosen:
            pose = poses[ids.index(tid)]
            if pose is None:
                raise InputError(f"{path} has no 3D poses (2D keypoints only); run `mbcli lift` on the video first, "
                                 f"or give mbcli mesh the video or 2D keypoint file to lift it")
            out.append((tid, _to_h36m(kp), pose))
        return None, out
    video, people, poses, _, _ = _lift_people(path, kind, lcfg, on_progress, timings)
    from mbcli.export.bvh import skeleton_consistent

    return video, [(tid, kp, skeleton_consistent(p)) for (tid, kp), p in zip(people, poses)]


def run_mesh(input_path: str | os.PathLike, cfg: MeshConfig | None = None,
             on_progress: ProgressFn | None = None) -> MeshResult:
    """Fit a body model to the chosen person of a video, keypoint file or motion.json; write the parameter file
    (smpl.npz for SMPL, body.npz layout for others), the overlay video and the GLB when asked. All outputs are
    written to temporary names and renamed only when every one of them succeeded."""
    from mbcli.body import load_body_model
    from mbcli.body.fit import Camera, FitConfig, fit_body

    cfg = cfg or MeshConfig()
    out = Path(cfg.out)
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--out must be a .npz file, got {out}")
    for extra, suffix in ((cfg.video, ".mp4"), (cfg.glb, ".glb")):
        if extra is not None and Path(extra).suffix.lower() != suffix:
            raise ConfigError(f"{extra}: expected a {suffix} file")
    path = Path(input_path)
    kind = _input_kind(path)
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    body = load_body_model(cfg.body_model, cfg.smpl_model)  # a missing model fails before the slow stages
    timings["body_model"] = time.perf_counter() - t0
    video, people = _mesh_people(path, kind, cfg, on_progress, timings)
    if not people:
        raise NoPersonFound(f"no person found in {path}")
    if len(people) > 1:
        raise ConfigError("mbcli mesh fits one person: pass --person largest or a track id")
    tid, kp, pose = people[0]
    if pose.skeleton.name != "h36m17":
        raise InputError(f"{path}: 3D poses must use the h36m17 skeleton for fitting, got {pose.skeleton.name}")
    targets, frames, xy, sc = _contiguous(pose, kp)
    fps = float(pose.fps or kp.fps or 30.0)
    have_2d = bool(kp.image_size[0] > 0 and kp.image_size[1] > 0 and sc.any())
    camera = Camera.from_fov(kp.image_size[0], kp.image_size[1], cfg.fov) if have_2d else None
    if not have_2d:
        notes.append("no 2D keypoints with an image size: the root stays at the origin (no camera trajectory)")
    t0 = time.perf_counter()
    import torch

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a fit is many small ops: one thread is faster than two fighting (measured)
    try:
        fit = fit_body(body, targets, keypoints=xy if have_2d else None, scores=sc if have_2d else None,
                       camera=camera, config=FitConfig(iterations=cfg.iterations))
    finally:
        torch.set_num_threads(torch_threads)
    timings["fit"] = time.perf_counter() - t0
    if on_progress:
        on_progress("fit", 1, 1)

    t0 = time.perf_counter()
    files = _write_mesh_outputs(cfg, fit, frames, fps, video, camera, tid, on_progress, notes)
    timings["export"] = time.perf_counter() - t0
    return MeshResult(tid, fit, frames, fps, files, timings, notes)


def _write_mesh_outputs(cfg: MeshConfig, fit, frames: np.ndarray, fps: float, video: VideoInfo | None, camera,
                        tid: int, on_progress: ProgressFn | None, notes: list[str]) -> list[Path]:
    from mbcli.export.smpl_npz import to_world, write_body_npz, write_smpl_npz

    world = to_world(fit)  # posed once for the floor, shared by the npz and the GLB
    targets: list[tuple[Path, Callable[[Path], None]]] = []
    gender = getattr(getattr(fit.model, "model", None), "gender", "neutral")
    if fit.model.name == "smpl":
        targets.append((Path(cfg.out), lambda p: write_smpl_npz(p, fit, fps, frames, gender, world)))
    else:
        targets.append((Path(cfg.out), lambda p: write_body_npz(p, fit, fps, frames, world)))
    if cfg.glb:
        targets.append((Path(cfg.glb), lambda p: _write_glb(p, fit, fps, world)))
    if cfg.video:
        if video is None or camera is None:
            notes.append("no mesh overlay video: the input was not a video")
        else:
            targets.append((Path(cfg.video), lambda p: _render_mesh(video.path, fit, frames, camera, tid, p, cfg,
                                                                    on_progress)))
    staged: list[tuple[Path, Path]] = []
    try:
        for dest, fn in targets:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{dest.stem}.{os.getpid()}.partial{dest.suffix}"
            fn(tmp)
            staged.append((tmp, dest))
        for tmp, dest in staged:
            os.replace(tmp, dest)
        return [dest for _, dest in staged]
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _write_glb(path: Path, fit, fps: float, world) -> None:
    from mbcli.export.glb import write_skinned_glb
    from mbcli.export.smpl_npz import glb_inputs

    write_skinned_glb(path, fps=fps, **glb_inputs(fit, world))


def _render_mesh(src: str, fit, frames: np.ndarray, camera, tid: int, path: Path, cfg: MeshConfig,
                 on_progress: ProgressFn | None) -> None:
    from mbcli.export.mesh_video import render_mesh_video

    rows = {int(f): i for i, f in enumerate(frames)}
    faces = fit.model.faces
    cache: dict[str, object] = {"start": -1, "verts": None}
    chunk = 64

    def meshes_at(f: int):
        i = rows.get(int(f))
        if i is None:
            return []
        start = (i // chunk) * chunk
        if cache["start"] != start:
            cache["start"], cache["verts"] = start, fit.vertices(start, min(start + chunk, fit.num_frames))
        return [(tid, cache["verts"][i - start], faces)]

    render_mesh_video(src, meshes_at, path, (camera.fx, camera.fy, camera.cx, camera.cy),
                      height=cfg.overlay_height, on_progress=on_progress)


# ----------------------------------------------------------------------------------------------- mbcli action


@dataclass(frozen=True)
class ActionConfig:
    """``mbcli action`` settings. weights: a manifest name (action-default: the shipped H36M action model) or an
    action checkpoint (mbcli train, task: action); labels: None (the
    model's classes), a built-in set name (h36m, ntu60, ntu120) or a comma-separated list (open vocabulary);
    top_k: labels listed per person and segment; step: frame step inside a window (None: fps / 25)."""

    weights: str = DEFAULT_ACTION
    labels: str | None = None
    top_k: int = 5
    step: int | None = None
    json: str | None = None
    lift: LiftConfig = field(default_factory=LiftConfig)


@dataclass
class ActionRunResult:
    labels: list[str]
    people: list[tuple[int, object]]  # (track id, inference.action.ActionTrack)
    doc: dict
    files: list[Path]
    timings: dict[str, float]


def resolve_labels(spec: str | None) -> list[str] | None:
    """None -> None (the model's classes); "h36m" / "ntu60" / "ntu120" -> that set; else a comma-separated list."""
    return labels_resolve(spec)


def action_document(labels: list[str], people: list[tuple[int, object]], top_k: int) -> dict:
    """The JSON of ``mbcli action --json`` (README: schema)."""
    def top(p: np.ndarray) -> list[dict]:
        order = np.argsort(-p)[:top_k]
        return [{"label": labels[i], "prob": round(float(p[i]), 4)} for i in order]

    return {"labels": list(labels), "people": [
        {"track_id": int(tid), "overall": top(t.overall),
         "segments": [{"start_frame": s, "end_frame": e, "top": top(p)} for s, e, p in t.segments]}
        for tid, t in people]}


def run_action(input_path: str | os.PathLike, cfg: ActionConfig | None = None,
               on_progress: ProgressFn | None = None) -> ActionRunResult:
    """Recognise the actions of every chosen person of a video or keypoint file (segments and overall)."""
    import json

    from mbcli.inference.action import ActionRecognizer
    from mbcli.model.action import load_action_model

    cfg = cfg or ActionConfig()
    if cfg.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {cfg.top_k}")
    if cfg.json is not None and Path(cfg.json).suffix.lower() != ".json":
        raise ConfigError(f"--json must name a .json file, got {cfg.json}")
    path = Path(input_path)
    kind = _input_kind(path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    model, meta = load_action_model(cfg.weights)
    from mbcli.model import resolve_device

    dev = resolve_device(cfg.lift.device)
    rec = ActionRecognizer(model, meta, dev, resolve_labels(cfg.labels))
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, people, _ = load_people(path, cfg.lift, on_progress, kind)
    timings["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tracks = [(tid, rec.recognize(kp, cfg.step)) for tid, kp in people]
    timings["recognize"] = time.perf_counter() - t0
    doc = action_document(rec.labels, tracks, min(cfg.top_k, len(rec.labels)))
    files = []
    if cfg.json:
        from mbcli.export import write_atomic

        files.append(write_atomic(cfg.json, json.dumps(doc, indent=1) + "\n"))
    return ActionRunResult(rec.labels, tracks, doc, files, timings)
