"""``mbcli mesh``: one person -> a body-model fit (SMPL or anny) -> parameter file, GLB and mesh overlay video.

1. The body model is loaded first, so a missing model fails before the slow stages.
2. The person's 3D comes from an mbcli.motion file as it is, or from lifting any other input (pipeline/lift.py),
   made skeleton-consistent like ``mbcli lift``'s files.
3. With 2D keypoints and an image size, the person is placed in the world exactly as ``mbcli lift`` does
   (world/scene.py: the same camera, the adult-size scale, the floor from their feet).
4. The 3D (gaps filled, metres) and the 2D keypoints through that camera are fitted (body/fit.py), then turned into
   the plain-array BodyMotion (the floor's world frame, Z up) and SkinnedMesh that exporters take (body/motion.py).
5. Files are written all or nothing (pipeline/outputs.py); the overlay poses the mesh in chunks of frames.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mbcli.detect import check_detector
from mbcli.errors import ConfigError, InputError, NoPersonFound
from mbcli.pipeline.inputs import People, ProgressFn, check_fps, input_kind, read_people
from mbcli.pipeline.lift import LiftConfig, lift_people
from mbcli.pipeline.outputs import Output, check_destinations, write_outputs
from mbcli.rig.h36m_rig import retarget
from mbcli.rig.kinematics import fill_gaps
from mbcli.track import check_person
from mbcli.types import BodyMotion, Keypoints2D, Pose3D
from mbcli.units import TO_METRES
from mbcli.world.camera import check_camera_options, intrinsics
from mbcli.world.scene import place_people

_RENDER_CHUNK = 64  # frames whose mesh is posed at once for the overlay
MAX_ITERATIONS = 10_000  # --iterations: 100 times the default; more only runs longer


@dataclass(frozen=True)
class MeshConfig:
    """``mbcli mesh`` settings. out: the parameter file (.npz); overlay: the mesh overlay video to write (None: none);
    glb: the animated mesh (None: none); person: "largest" or a track id; focal / fov: the camera's focal length in
    pixels or diagonal field of view in degrees when known (else world/camera.py's prior); iterations: of the fit's
    optimiser; lift: how to lift when the input is not a motion.json with 3D."""

    out: str = "smpl.npz"
    body_model: str = "smpl"
    smpl_model: str | None = None
    person: str = "largest"
    overlay: str | None = None
    glb: str | None = None
    fov: float | None = None
    focal: float | None = None
    iterations: int = 100
    overlay_height: int = 720
    lift: LiftConfig = field(default_factory=LiftConfig)


@dataclass
class MeshResult:
    """What ``run_mesh`` made: the person's track id, the fitted motion, the optimiser's iterations and seconds,
    the files written, seconds per stage, notes for the user, and why the input was read only in part (a video that
    ended early; also among the notes), else ""."""

    track_id: int
    motion: BodyMotion
    fit_iterations: int
    fit_seconds: float
    files: list[Path]
    timings: dict[str, float]
    notes: list[str]
    partial: str = ""


def _check(cfg: MeshConfig) -> None:
    if Path(cfg.out).suffix.lower() != ".npz":
        raise ConfigError(f"--out must be a .npz file, got {cfg.out}")
    for extra, suffix in ((cfg.overlay, ".mp4"), (cfg.glb, ".glb")):
        if extra is not None and Path(extra).suffix.lower() != suffix:
            raise ConfigError(f"{extra}: expected a {suffix} file")
    if not 1 <= cfg.iterations <= MAX_ITERATIONS:
        raise ConfigError(f"--iterations must be from 1 to {MAX_ITERATIONS}, got {cfg.iterations}")
    check_fps(cfg.lift.fps)
    check_person(cfg.person)
    check_detector(cfg.lift.detector)
    check_camera_options(cfg.focal, cfg.fov)


def _person(path: Path, cfg: MeshConfig, on_progress: ProgressFn | None,
            timings: dict[str, float]) -> tuple[People, Keypoints2D, Pose3D]:
    """The input's People (one chosen person) with that person's 2D and skeleton-consistent 3D, lifting when the
    input has no 3D."""
    kind = input_kind(path)
    people: People | None = read_people(path, kind, person=cfg.person) if kind == "motion" else None
    if people is not None and all(p is not None for p in people.poses):
        poses = people.poses  # the 3D of an earlier `mbcli lift`, used as it is
    else:  # a video, a keypoint file, or an mbcli.motion file with 2D only (lifted, as mbcli lift would)
        lifted = lift_people(path, kind, dataclasses.replace(cfg.lift, person=cfg.person), on_progress, timings)
        people, poses = lifted.people, tuple(retarget(p).pose for p in lifted.poses)
    if not people.ids:
        raise NoPersonFound(f"no person found in {path}")
    if len(people.ids) > 1:
        raise ConfigError("mbcli mesh fits one person: pass --person largest or a track id")
    pose = poses[0]
    assert pose is not None
    if pose.skeleton.name != "h36m17":
        raise InputError(f"{path}: 3D poses must use the h36m17 skeleton for fitting, got {pose.skeleton.name}")
    return people, people.keypoints[0], pose


def _contiguous(pose: Pose3D, kp: Keypoints2D) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One row per frame from the pose's first to last frame: targets (N,17,3) metres (gaps interpolated, as the
    BVH export does), frame indices (N,), 2D keypoints (N,17,2) and scores (N,17) (0 where the 2D track has no
    detection)."""
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


def _mesh_frames(fit, frames: np.ndarray, tid: int) -> Callable[[int], list]:
    """``meshes_at(video frame)`` for the overlay renderer: [(track id, vertices (V,3), faces)] or [], posing
    ``_RENDER_CHUNK`` frames at a time."""
    rows = {int(f): i for i, f in enumerate(frames)}
    cache: dict[str, object] = {"start": -1, "verts": None}

    def meshes_at(f: int) -> list:
        i = rows.get(int(f))
        if i is None:
            return []
        start = (i // _RENDER_CHUNK) * _RENDER_CHUNK
        if cache["start"] != start:
            cache["start"], cache["verts"] = start, fit.vertices(start, min(start + _RENDER_CHUNK, fit.num_frames))
        verts = cache["verts"]
        assert isinstance(verts, np.ndarray)
        return [(tid, verts[i - start], fit.model.faces)]

    return meshes_at


def run_mesh(input_path: str | os.PathLike, cfg: MeshConfig | None = None,
             on_progress: ProgressFn | None = None) -> MeshResult:
    """Fit a body model to the chosen person of a video, keypoint file or motion.json and write the parameter
    file (smpl.npz for SMPL, body.npz for others), the overlay video and the GLB when asked."""
    import torch

    from mbcli.body import load_body_model
    from mbcli.body.anny_cache import anny_cache_path
    from mbcli.body.fit import FitConfig, fit_body
    from mbcli.body.motion import body_motion, skinned_mesh
    from mbcli.export.smpl_npz import glb_inputs, write_parameters

    cfg = cfg or MeshConfig()
    _check(cfg)
    path = Path(input_path)
    input_kind(path)  # a missing input fails before anything is loaded
    check_destinations([Path(f) for f in (cfg.out, cfg.overlay, cfg.glb) if f], [path])  # (their suffixes differ)
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    first_anny = cfg.body_model == "anny" and not anny_cache_path().is_file()
    if first_anny and on_progress:  # the first anny run builds its cache: about a minute, shown as its own stage
        on_progress("anny cache", 0, 1)
    body = load_body_model(cfg.body_model, cfg.smpl_model)  # a missing model fails before the slow stages
    if first_anny and on_progress:
        on_progress("anny cache", 1, 1)
    timings["body_model"] = time.perf_counter() - t0
    people, kp, pose = _person(path, cfg, on_progress, timings)
    video, tid = people.video, people.ids[0]
    if people.partial:
        notes.append(people.partial)
    fps = float(pose.fps or kp.fps or 30.0)
    W, H = kp.image_size
    have_2d = bool(W > 0 and H > 0 and (kp.scores > 0).any())
    camera, scene = None, None
    if have_2d:  # the same camera, size and floor as mbcli lift (world/scene.py)
        camera = intrinsics(W, H, cfg.focal, cfg.fov)
        scene, (placed,) = place_people([pose], [kp], camera, (W, H), fps, foot_lock=False)
        pose = Pose3D(pose.xyz * placed.scale, pose.skeleton, pose.frame_indices, pose.fps, pose.frame, pose.units)
        if scene.floor.method != "feet":
            notes.append(scene.floor.note)
    else:
        notes.append("no 2D keypoints with an image size: the root stays at the origin (no camera trajectory)")
    targets, frames, xy, sc = _contiguous(pose, kp)

    t0 = time.perf_counter()
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
    motion = body_motion(fit, frames, fps, scene.floor if scene else None)  # shared by the npz and the GLB
    outs = [Output(Path(cfg.out), lambda p: write_parameters(p, motion))]
    if cfg.glb:
        from mbcli.export.glb import write_skinned_glb

        mesh = skinned_mesh(body, fit.shape)
        outs.append(Output(Path(cfg.glb), lambda p: write_skinned_glb(p, fps=fps, **glb_inputs(motion, mesh))))
    if cfg.overlay:
        if video is None or camera is None:
            notes.append("no mesh overlay video: the input was not a video")
        else:
            from mbcli.export.mesh_video import render_mesh_video

            src, cam = video.path, camera
            outs.append(Output(Path(cfg.overlay), lambda p: render_mesh_video(
                src, _mesh_frames(fit, frames, tid), p, (cam.fx, cam.fy, cam.cx, cam.cy),
                height=cfg.overlay_height, on_progress=on_progress)))
    files = write_outputs(outs)
    timings["export"] = time.perf_counter() - t0
    return MeshResult(tid, motion, fit.iterations, fit.seconds, files, timings, notes, people.partial)
