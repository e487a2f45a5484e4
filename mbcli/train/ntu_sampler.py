"""NTU RGB+D action clips for training and evaluation: windows of both people, one common crop.

A sample (train/ntu.NtuH36M) holds M people (2: absent ones have score 0 everywhere) in h36m17 pixels over T frames
at 30 fps. The network sees (M, L, 17, 3): every person of the sample over the same L frames, each encoded with
normalize.encode under ONE crop (normalize.crop_params over the valid joints of all people and frames), so the
people keep their relative position and size (who approaches whom); a missing joint or an absent person is (0,0,0).

Training clips (NtuClipSampler): each clip is one uniformly drawn sample; L frames taken every ``step`` frames,
``step`` drawn from the corruption config's ``strides`` whose span fits the sample (else the smallest; at 30 fps
step 1 is what ``mbcli action`` sees on 25-30 fps video, step 2 a faster motion), from a random start; a sample
shorter than one window is stretched over it by index. The 2D is the source's own (detections or Kinect
projections), so of CorruptionConfig only these apply: joint / frame masking (``mask_joint_prob``,
``mask_frame_prob``) and ActionPose's part / window masks, each drawn per person; the random horizontal flip
(``flip_prob``: x mirrored, left/right joints swapped, for every person together); and the crop's scale / centre
jitter. ``clean=True`` (the quick validation) uses none of them. Batches are (x (B,M,L,17,3) float32, a zero
placeholder (B,L,17,3) for the 3D target the action task does not use, labels (B,) int64), like ClipSampler's, and
the sampler is deterministic from its seed with the same state()/set_state() contract (exact resume, Prefetcher).

Evaluation windows (ntu_windows): the windows of ``mbcli action`` (inference/action.window_starts) over the sample,
the same frames for every person, with the common crop; a sample shorter than one window gives one stretched
window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mbcli.inference.action import window_starts
from mbcli.normalize import NormParams, crop_params, encode
from mbcli.skeletons import H36M17, flip_joints
from mbcli.train.augment import CorruptionConfig, _indices, structured_mask
from mbcli.train.ntu import NtuH36M


def encode_people(xy: np.ndarray, scores: np.ndarray, params: NormParams | None = None) -> np.ndarray:
    """(M,L,17,2) px + (M,L,17) scores -> (M,L,17,3) under one crop (``params``, default: crop_params over every
    valid joint of every person); all zeros when no joint is valid."""
    if params is None:
        if not (scores > 0).any():
            return np.zeros(xy.shape[:-1] + (3,), np.float32)
        params = crop_params(xy, scores)
    return encode(xy, scores, params)


def ntu_windows(sample: NtuH36M, L: int, step: int = 1) -> np.ndarray:
    """(W, M, L, 17, 3) evaluation windows of a sample (module docstring); windows without any valid joint are
    left out unless that leaves none (then the first is kept, all zeros)."""
    if sample.xy is None:
        raise ValueError(f"{sample.name} has no 2D keypoints")
    T = sample.num_frames
    starts = window_starts(T, L, step)
    idx = [s + step * np.arange(L) for s in starts] or [np.round(np.linspace(0, T - 1, L)).astype(int)]
    out = [encode_people(sample.xy[:, ix], sample.scores[:, ix]) for ix in idx]
    kept = [w for w in out if w[..., 2].any()] or out[:1]
    return np.stack(kept).astype(np.float32)


def sample_ntu_clip(sample: NtuH36M, L: int, rng: np.random.Generator, cfg: CorruptionConfig,
                    clean: bool = False) -> np.ndarray:
    """One training input (M,L,17,3) from a sample (module docstring)."""
    if sample.xy is None:
        raise ValueError(f"{sample.name} has no 2D keypoints")
    T = sample.num_frames
    fits = [s for s in cfg.strides if (L - 1) * s + 1 <= T] or [min(cfg.strides)]
    step = int(rng.choice(fits))
    idx = _indices(T, L, step, rng)
    xy = sample.xy[:, idx].astype(np.float64)
    sc = sample.scores[:, idx].astype(np.float32)
    M = xy.shape[0]
    if not clean:
        sc = sc * (rng.random((M, L, 17)) >= cfg.mask_joint_prob)
        sc = sc * (rng.random((M, L, 1)) >= cfg.mask_frame_prob)
        sc = sc * np.stack([structured_mask(L, rng, cfg) for _ in range(M)])
        if rng.random() < cfg.flip_prob:
            xy = flip_joints(xy, H36M17, axis_value=sample.image_size[0] / 2)
            sc = sc[..., H36M17.flip_permutation]
    if not (sc > 0).any():
        return np.zeros((M, L, 17, 3), np.float32)
    p = crop_params(xy, sc)
    if not clean:
        s = p.scale_px * rng.uniform(*cfg.scale_jitter)
        c = np.asarray(p.center_xy) + rng.uniform(-cfg.center_jitter, cfg.center_jitter, 2) * p.scale_px
        p = NormParams((float(c[0]), float(c[1])), float(s))
    return encode_people(xy, sc, p)


class NtuClipSampler:
    """Batches of NTU training clips (module docstring); each clip one uniformly drawn sample."""

    def __init__(self, samples: list[NtuH36M], clip_len: int, cfg: CorruptionConfig, seed: int = 0,
                 clean: bool = False) -> None:
        if not samples:
            raise ValueError("NtuClipSampler needs at least one sample")
        self.samples = samples
        self.L = clip_len
        self.cfg = cfg
        self.clean = clean
        self.rng = np.random.default_rng(seed)

    def batch(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs (B,M,L,17,3) float32, zeros (B,L,17,3) float32, labels (B,) int64)."""
        picks = self.rng.integers(0, len(self.samples), size=batch_size)
        x = np.stack([sample_ntu_clip(self.samples[i], self.L, self.rng, self.cfg, self.clean) for i in picks])
        labels = np.array([self.samples[i].label for i in picks], dtype=np.int64)
        return x.astype(np.float32), np.zeros((batch_size, self.L, 17, 3), np.float32), labels

    def state(self) -> dict[str, Any]:
        return dict(self.rng.bit_generator.state)  # typed as a Mapping; numpy builds a fresh dict on every read

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
