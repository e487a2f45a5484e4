"""Peak memory of ``mbcli lift`` against the input's length, as ``mbcli bench --memory`` reports it.

Each length runs in a fresh process (``python -m mbcli.bench.memory``), so one run's peak cannot hide another's:
the input is a synthetic 2D-only mbcli.motion file of ``people`` walking people (``synthetic_people``; detection is
skipped, so an hour of input costs only the stages after it), lifted by ``run_lift`` with the given weights into
JSON, NPZ and BVH. The child reports its peak RSS (the kernel's high-water mark) when it has loaded the lifter and
when the run is over; the growth between the two is what the length costs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbcli.errors import MbcliError
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D, MotionResult

FORMATS = ("json", "npz", "bvh")


@dataclass(frozen=True)
class MemoryRun:
    """One length: frames of video, person-frames lifted, peak RSS (MB) once the lifter was loaded and after the
    run, and the run's seconds (lifter load excluded)."""

    frames: int
    person_frames: int
    start_mb: float
    peak_mb: float
    seconds: float

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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(input_path: str, out_dir: str, weights: str) -> None:
    """The measured process: load the lifter, note the peak, lift, note the peak again (JSON on stdout)."""
    from mbcli.pipeline.lift import LiftConfig, make_lifter, run_lift
    from mbcli.threads import apply_threads, choose_threads

    apply_threads(choose_threads())
    cfg = LiftConfig(formats=FORMATS, weights=weights, device="cpu")
    lifter = make_lifter(cfg)
    start = _peak_mb()
    t = time.perf_counter()
    res = run_lift(input_path, out_dir, cfg, lifter=lifter)
    print(json.dumps({"frames": res.frames, "start_mb": start, "peak_mb": _peak_mb(),
                      "seconds": time.perf_counter() - t}))


def measure(frames: int, weights: str, people: int = 2, timeout: float | None = None) -> MemoryRun:
    """Peak RSS of one ``run_lift`` of a ``frames``-frame synthetic input in a fresh process (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="mbcli-mem-") as tmp:
        src = Path(tmp) / "synthetic.motion.json"
        person_frames = write_input(src, frames, people)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2]),
                                                           os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run([sys.executable, "-m", "mbcli.bench.memory", str(src), str(Path(tmp) / "out"),
                               weights], capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise MbcliError(f"the memory run of {frames} frames failed: {last}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    return MemoryRun(int(got["frames"]), person_frames, float(got["start_mb"]), float(got["peak_mb"]),
                     float(got["seconds"]))


def memory_rows(lengths: tuple[int, ...], weights: str,
                people: int = 2) -> tuple[list[tuple[str, str]], dict[str, object]]:
    """Table rows and JSON figures: peak RSS of ``mbcli lift`` (JSON, NPZ, BVH) per input length."""
    rows: list[tuple[str, str]] = []
    runs = [measure(n, weights, people) for n in lengths]
    for r in runs:
        rows.append((f"peak RSS, lift of {r.frames} frames x {people} people (2D input, {'+'.join(FORMATS)})",
                     f"{r.peak_mb:.0f} MB (+{r.growth_mb:.0f} MB over the loaded lifter, {r.seconds:.1f} s)"))
    figures: dict[str, object] = {"memory": [vars(r) | {"growth_mb": r.growth_mb} for r in runs]}
    if len(runs) > 1 and runs[-1].person_frames > runs[0].person_frames:
        slope = (runs[-1].peak_mb - runs[0].peak_mb) / (runs[-1].person_frames - runs[0].person_frames) * 1024
        figures["memory_kb_per_person_frame"] = round(slope, 3)
        rows.append(("peak RSS growth with length", f"{slope:.2f} KB per person-frame"))
    return rows, figures


if __name__ == "__main__":
    _child(*sys.argv[1:4])
