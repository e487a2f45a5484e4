"""Peak memory of ``mbcli lift`` against the input's length, as ``mbcli bench --memory`` reports it.

Each length runs in a fresh process, so one run's peak cannot hide another's. Two inputs:
- "file" (``measure``, what ``mbcli bench --memory`` runs): a synthetic 2D-only mbcli.motion file of ``people``
  walking people (``synthetic_people``; no detection), read and lifted by ``run_lift`` into JSON, NPZ and BVH;
- "video" (``measure_video``): a video of ``frames`` frames whose per-frame detections are replayed
  (``replay_detections``) from one real pass of the detector over a clip, looped (``cache_detections``): decoding,
  the detector networks and the appearance descriptor are skipped; holding every frame's detections, tracking,
  re-identification, 2D cleaning, lifting, placing and exporting are mbcli's own code (``mbcli bench --memory N
  --video CLIP``, or ``--detections NPZ`` for a cache made before).
The child reports its peak RSS (the kernel's high-water mark) when it has loaded the lifter, when the people have
been read (the first lift progress), and when the run is over; the growth is what the length costs.

``python -m mbcli.bench.memory`` is only the children's entry (``lift`` / ``read``); the command is ``mbcli bench
--memory 230,2760,9200 [--video CLIP] [--detections NPZ]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbcli.errors import MbcliError
from mbcli.skeletons import H36M17
from mbcli.types import FramePoses, Keypoints2D, MotionResult, PackedFrames, VideoInfo

FORMATS = ("json", "npz", "bvh")


@dataclass(frozen=True)
class MemoryRun:
    """One length: frames of video, person-frames lifted, peak RSS (MB) once the lifter was loaded, once the people
    were read (before lifting) and after the run, and the run's seconds (lifter load excluded)."""

    frames: int
    person_frames: int
    start_mb: float
    peak_mb: float
    seconds: float
    read_mb: float = 0.0

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.start_mb


def synthetic_people(frames: int, people: int = 2, fps: float = 25.0, seed: int = 0) -> list[Keypoints2D]:
    """``people`` h36m17 2D tracks of ``frames`` frames in a 640x360 image: a rest pose that sways and bobs, with
    pixel noise and a few unseen joints (score 0), each person a little apart."""
    rng = np.random.default_rng(seed)
    rest = np.array([[0, 0], [-12, 0], [-12, 45], [-12, 90], [12, 0], [12, 45], [12, 90], [0, -25], [0, -50],
                     [0, -60], [0, -72], [15, -48], [30, -30], [35, -10], [-15, -48], [-30, -30], [-35, -10]],
                    dtype=np.float64)  # (17,2) px around the pelvis, h36m17 order, y down
    t = np.arange(frames) / fps
    out = []
    for p in range(people):
        centre = np.stack([160 + 320 * p / max(people, 1) + 60 * np.sin(0.2 * t + p), 200 + 5 * np.sin(4 * t)], -1)
        xy = rest[None] * (1 + 0.05 * np.sin(2 * t + p))[:, None, None] + centre[:, None, :]
        xy = xy + rng.normal(0, 1.5, xy.shape)
        scores = rng.uniform(0.5, 1.0, (frames, 17))
        scores[rng.random((frames, 17)) < 0.02] = 0.0
        out.append(Keypoints2D(xy.astype(np.float32), scores.astype(np.float32), np.arange(frames), H36M17,
                               (640, 360), fps))
    return out


def write_input(path: Path, frames: int, people: int = 2) -> int:
    """Write the synthetic input (2D only) to ``path``; return its person-frames."""
    from mbcli.export.json_motion import write_motion_json

    tracks = synthetic_people(frames, people)
    write_motion_json([MotionResult(None, i, k, None, None) for i, k in enumerate(tracks)], None, path)
    return frames * people


def _peak_mb() -> float:
    """This process's peak RSS (MB): Linux's VmHWM, which starts afresh at exec (ru_maxrss carries the parent's
    high-water mark into a child, so a parent that wrote a big input would raise the child's starting figure). The
    kernel keeps RSS in per-CPU batches, so after memory is handed back (mbcli.heap) a later reading can come out a
    fraction of a MB under an earlier one: a run's peak is the largest of its readings."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(input_path: str, out_dir: str, weights: str) -> None:
    """The measured process: load the lifter, note the peak, lift (noting the peak when the lifting starts), note
    the peak again (JSON on stdout)."""
    from mbcli.pipeline.lift import LiftConfig, make_lifter, run_lift
    from mbcli.threads import apply_threads, choose_threads

    apply_threads(choose_threads())
    cfg = LiftConfig(formats=FORMATS, weights=weights, device="cpu")
    lifter = make_lifter(cfg)
    start = _peak_mb()
    read: list[float] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "lift" and not read:
            read.append(max(_peak_mb(), start))

    t = time.perf_counter()
    res = run_lift(input_path, out_dir, cfg, on_progress=progress, lifter=lifter)
    print(json.dumps({"frames": res.frames, "person_frames": sum(r.keypoints_2d.num_frames for r in res.results),
                      "start_mb": start, "read_mb": read[0] if read else 0.0, "peak_mb": max(_peak_mb(), *read, start),
                      "seconds": time.perf_counter() - t}))


def _run_child(args: list[str], what: str, timeout: float | None) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "mbcli.bench.memory", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MbcliError(f"the memory run of {what} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run(got: dict, person_frames: int | None = None) -> MemoryRun:
    return MemoryRun(int(got["frames"]), int(person_frames or got["person_frames"]), float(got["start_mb"]),
                     float(got["peak_mb"]), float(got["seconds"]), float(got["read_mb"]))


def measure(frames: int, weights: str, people: int = 2, timeout: float | None = None) -> MemoryRun:
    """Peak RSS of one ``run_lift`` of a ``frames``-frame synthetic input in a fresh process (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="mbcli-mem-") as tmp:
        src = Path(tmp) / "synthetic.motion.json"
        person_frames = write_input(src, frames, people)
        got = _run_child(["lift", str(src), str(Path(tmp) / "out"), weights], f"{frames} frames", timeout)
    return _run(got, person_frames)


def read_peak(frames: int, people: int = 2, timeout: float | None = None) -> MemoryRun:
    """Peak RSS of reading (``read_motion_json``) a ``frames``-frame synthetic input in a fresh process; start_mb is
    the peak before the read (read_mb = peak_mb), seconds the read's."""
    with tempfile.TemporaryDirectory(prefix="mbcli-mem-") as tmp:
        src = Path(tmp) / "synthetic.motion.json"
        person_frames = write_input(src, frames, people)
        got = _run_child(["read", str(src)], f"reading {frames} frames", timeout)
    return _run(got, person_frames)


def _read_child(input_path: str) -> None:
    from mbcli.export.json_motion import read_motion_json

    start = _peak_mb()
    t = time.perf_counter()
    kps, _, meta = read_motion_json(input_path)
    peak = _peak_mb()
    print(json.dumps({"frames": meta["num_frames"], "person_frames": sum(k.num_frames for k in kps),
                      "start_mb": start, "read_mb": peak, "peak_mb": peak, "seconds": time.perf_counter() - t}))


# --------------------------------------------------------------------------------------- video, detections replayed


def cache_detections(clip: Path, path: Path, detector: str = "default") -> int:
    """Run the 2D detector and the appearance descriptor over ``clip`` once (as ``mbcli lift`` does) and save every
    frame's detections to ``path`` (an .npz of PackedFrames.arrays() and the clip's size and fps); return its frames."""
    from mbcli.pipeline.inputs import detected_frames
    from mbcli.video import probe

    info = probe(clip)
    packed = PackedFrames.pack(detected_frames(clip, info, detector, None))
    arrays: dict[str, Any] = dict(packed.arrays(), width=info.width, height=info.height, fps=info.fps,
                                  skeleton=packed.skeleton.name)
    np.savez(path, **arrays)
    return len(packed)


def cached_frames(path: str | os.PathLike) -> int:
    """The frames of the clip whose detections ``path`` (``cache_detections``) holds."""
    try:
        with np.load(path) as z:
            return len(z["frame_indices"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise MbcliError(f"{path} is not a cache of detections (mbcli bench --memory N --video CLIP --detections "
                         f"{path} makes one): {e}") from None


def clip_detections(video: Path | None, detections: Path | None, folder: Path) -> Path:
    """The detections to replay: ``detections`` when that file exists, else one real detection pass over ``video``
    (``cache_detections``) saved to ``detections`` (default: ``folder``/detections.npz)."""
    if detections is not None and detections.exists():
        return detections
    if video is None:
        raise MbcliError(f"no detections cache at {detections} and no video to detect them from")
    out = detections or folder / "detections.npz"
    cache_detections(video, out)
    return out


def replay_detections(path: str | os.PathLike, frames: int) -> None:
    """Make this process's video input a replay: any video "has" ``frames`` frames of the size and fps of the clip
    cached in ``path`` (``cache_detections``), and frame i's detections are a fresh copy of the clip's frame
    i mod its length (a loop of the clip; its cuts are real cuts to the tracker). Decoding, the detector networks and
    the appearance descriptor are what this skips."""
    import mbcli.video
    from mbcli.pipeline import inputs

    with np.load(path) as z:
        cached = PackedFrames.from_arrays({k: z[k] for k in PackedFrames.ARRAYS if k in z}, str(z["skeleton"]))
        width, height, fps = int(z["width"]), int(z["height"]), float(z["fps"])

    def probe(p: str | os.PathLike) -> VideoInfo:
        return VideoInfo(str(p), width, height, fps, frames)

    def replayed(p: Path, info: VideoInfo, detector: str, max_width: int | None, on_progress=None):
        for i in range(frames):
            fp = cached[i % len(cached)]
            yield FramePoses(i, fp.boxes_xyxy.copy(), fp.box_scores.copy(), fp.keypoints_xy.copy(),
                             fp.keypoint_scores.copy(), fp.skeleton,
                             None if fp.appearance is None else fp.appearance.copy())

    mbcli.video.probe = probe  # type: ignore[assignment]
    inputs.detected_frames = replayed  # type: ignore[assignment]


def measure_video(frames: int, weights: str, detections: Path, timeout: float | None = None) -> MemoryRun:
    """Peak RSS of one ``run_lift`` of a ``frames``-frame video whose detections are replayed (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="mbcli-mem-") as tmp:
        src = Path(tmp) / "replayed.mp4"
        src.write_bytes(b"replayed detections")  # (never decoded)
        got = _run_child(["lift", str(src), str(Path(tmp) / "out"), weights, "--replay", str(detections),
                          str(frames)], f"{frames} frames (replayed)", timeout)
    return _run(got)


def memory_rows(lengths: tuple[int, ...], weights: str, people: int = 2,
                detections: Path | None = None) -> tuple[list[tuple[str, str]], dict[str, object]]:
    """Table rows and JSON figures: peak RSS of ``mbcli lift`` (JSON, NPZ, BVH) per input length; of the synthetic
    2D file, or with ``detections`` (``cache_detections``) of a video whose detections are replayed."""
    rows: list[tuple[str, str]] = []
    figures: dict[str, object] = {}
    if detections is None:
        runs = [measure(n, weights, people) for n in lengths]
        what = f"x {people} people (2D input, {'+'.join(FORMATS)})"
    else:
        clip = cached_frames(detections)
        rows.append(("input", f"the detections of one real pass over a {clip}-frame clip, replayed in a loop: "
                              "decoding and the detector networks are NOT run (not measured); holding, tracking, "
                              "re-identification, 2D cleaning, lifting, placing and exports run for real"))
        figures.update(input="video, detections replayed", clip_frames=clip, detections=str(detections))
        runs = [measure_video(n, weights, detections) for n in lengths]
        what = f"of video, detections replayed ({'+'.join(FORMATS)})"
    for r in runs:
        rows.append((f"peak RSS, lift of {r.frames} frames {what}",
                     f"{r.peak_mb:.0f} MB (read: {r.read_mb:.0f} MB; +{r.growth_mb:.0f} MB over the loaded lifter, "
                     f"{r.person_frames} person-frames, {r.seconds:.1f} s)"))
    figures["memory"] = [vars(r) | {"growth_mb": r.growth_mb} for r in runs]
    if len(runs) > 1 and runs[-1].person_frames > runs[0].person_frames:
        slope = (runs[-1].peak_mb - runs[0].peak_mb) / (runs[-1].person_frames - runs[0].person_frames) * 1024
        figures["memory_kb_per_person_frame"] = round(slope, 3)
        rows.append(("peak RSS growth with length", f"{slope:.2f} KB per person-frame"))
    return rows, figures


def _main(argv: list[str]) -> None:
    if argv[:1] == ["lift"]:  # a child: lift one input
        ap = argparse.ArgumentParser(prog="mbcli.bench.memory lift")
        ap.add_argument("input")
        ap.add_argument("out")
        ap.add_argument("weights")
        ap.add_argument("--replay", nargs=2, metavar=("DETECTIONS", "FRAMES"))
        a = ap.parse_args(argv[1:])
        if a.replay:
            replay_detections(a.replay[0], int(a.replay[1]))
        _child(a.input, a.out, a.weights)
        return
    if argv[:1] == ["read"]:  # a child: read one mbcli.motion file
        _read_child(argv[1])
        return
    raise SystemExit("python -m mbcli.bench.memory is the memory benchmark's child; run mbcli bench --memory FRAMES")


if __name__ == "__main__":
    _main(sys.argv[1:])
