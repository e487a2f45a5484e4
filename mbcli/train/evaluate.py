"""The standard Human3.6M evaluation of a lifter (protocols in mbcli/metrics.py).

Test subjects S9 and S11, all 4 cameras, every frame at 50 fps. The shared data holds 59 of the 60 test sequences
(S9 "Discussion 1" is missing from the source) and no SH detections for S11 "Directions" from camera 54138969, so
``--input sh`` evaluates 235 camera sequences and ``--input gt`` 236.

- Input "gt": the ground-truth 3D projected with the real camera (distortion included), confidence 1.
- Input "sh": the Stacked Hourglass detections (not fine-tuned, no confidence: 1 is used), remapped to h36m17 by
  name (skeletons.RECIPES documents neck_nose and spine).
Each sequence is lifted like any video (overlapping blended windows, per-window crop normalisation, flip TTA unless
disabled). Errors are root-relative, in mm: Protocol 1 (MPJPE) and Protocol 2 (P-MPJPE) per frame, averaged over the
frames of each action (the 15 base actions; "Directions 1" counts as Directions), then over the actions.

``quick=True`` is a fixed subset for CI and regression checks: camera 55011271 only and the first 300 frames of
each sequence (59 sequences, 17,700 frames; under a minute on 2 CPU cores with the shipped lifter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mbcli.errors import ConfigError
from mbcli.inference.predictors import Lifter
from mbcli.metrics import mpjpe, p_mpjpe
from mbcli.skeletons import H36M17
from mbcli.train.data import TEST_SUBJECTS, Sequence, base_action, load_h36m
from mbcli.types import Keypoints2D

QUICK_CAMERA = "55011271"
QUICK_FRAMES = 300


@dataclass
class EvalResult:
    input: str
    quick: bool
    sequences: int
    frames: int
    protocol1_mpjpe_mm: float
    protocol2_pmpjpe_mm: float
    per_action: dict[str, dict[str, float]]

    def to_dict(self) -> dict:
        return {"input": self.input, "quick": self.quick, "sequences": self.sequences, "frames": self.frames,
                "protocol1_mpjpe_mm": round(self.protocol1_mpjpe_mm, 2),
                "protocol2_pmpjpe_mm": round(self.protocol2_pmpjpe_mm, 2),
                "per_action": {a: {k: round(v, 2) for k, v in d.items()} for a, d in sorted(self.per_action.items())}}


def evaluation_sequences(input: str, quick: bool, data_dir: str | None) -> list[tuple[Sequence, int]]:
    """The evaluated (sequence, number of frames) pairs of S9 and S11 for input "sh" or "gt": every camera and frame,
    or with ``quick`` camera QUICK_CAMERA and the first QUICK_FRAMES frames."""
    if input not in ("sh", "gt"):
        raise ConfigError(f"--input must be sh or gt, got {input!r}")
    # H36M lists every subject's cameras in the same order; the quick camera is the second (loaded alone)
    seqs = load_h36m(data_dir, TEST_SUBJECTS, with_sh=input == "sh", cameras=(1,) if quick else (0, 1, 2, 3))
    if quick:
        seqs = [s for s in seqs if s.camera == QUICK_CAMERA]
    return [(s, min(s.num_frames, QUICK_FRAMES) if quick else s.num_frames) for s in seqs]


def evaluate(lifter: Lifter, input: str = "sh", quick: bool = False, data_dir: str | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> EvalResult:
    seqs = evaluation_sequences(input, quick, data_dir)
    errs1: dict[str, list[np.ndarray]] = defaultdict(list)
    errs2: dict[str, list[np.ndarray]] = defaultdict(list)
    frames = 0
    for i, (s, n) in enumerate(seqs):
        xy = s.xy_2d(input)[:n]
        kp = Keypoints2D(xy, np.ones((n, 17), np.float32), np.arange(n), H36M17, s.image_size, 50.0)
        pred = lifter.lift(kp).xyz.astype(np.float64) * 1000.0
        gt = s.xyz_camera[:n].astype(np.float64) * 1000.0
        gt = gt - gt[:, :1]
        act = base_action(s.action)
        errs1[act].append(mpjpe(pred, gt))
        errs2[act].append(p_mpjpe(pred, gt))
        frames += n
        if on_progress:
            on_progress(i + 1, len(seqs))
    per_action = {a: {"mpjpe_mm": float(np.concatenate(errs1[a]).mean()),
                      "pmpjpe_mm": float(np.concatenate(errs2[a]).mean())} for a in errs1}
    return EvalResult(input, quick, len(seqs), frames,
                      float(np.mean([v["mpjpe_mm"] for v in per_action.values()])),
                      float(np.mean([v["pmpjpe_mm"] for v in per_action.values()])), per_action)
