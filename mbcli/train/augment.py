"""Clip sampling and MotionBERT-style corruption of the 2D input (REFERENCE.md section 3).

A training sample is a clip of L frames from one (subject, action, camera) sequence, taken every ``stride`` frames
(stride 1 or 2 of the 50 fps data covers 25-50 fps video; only strides whose span fits the sequence are drawn,
and a sequence shorter than one clip is stretched over it by index). Its 2D input is either the Stacked Hourglass
detection of those frames (confidence 1: the shared detections carry none) or the projected ground truth corrupted with:
- smooth per-joint offsets: Gaussian offsets drawn at key frames every ~9 frames and linearly upsampled, sized
  relative to the person's box, larger for wrists and ankles; plus iid jitter and rare uniform outliers;
- a synthetic confidence that falls with the offset size, a / (d + a) with d the offset in box units, plus noise;
- joint masking (p = 0.05 per joint-frame) and frame masking (p = 0.10): score 0, coordinates zeroed by the codec;
- a random horizontal flip (p = 0.5) of the 2D and the 3D together, with left/right joints swapped by name;
- ActionPose's structured masks (off by default): a whole body part (one of BODY_PARTS: an arm, a leg or the head)
  hidden for the whole clip with probability ``mask_part_prob``, and a window of consecutive frames (10-30% of the
  clip) hidden with probability ``mask_window_prob``; so the network must infer whole limbs and gaps from the rest
  of the body, the motion's context and, with text alignment, its meaning.
The 2D is normalised with its own square crop box (normalize.crop_params) enlarged by a random factor and shifted
a little, so the lifter does not rely on the box being tight. The target is the root-relative camera-frame 3D (m).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mbcli.inference.windows import resample_time
from mbcli.normalize import NormParams, crop_params, encode
from mbcli.skeletons import H36M17, flip_joints
from mbcli.train.data import Sequence

# relative noise level per h36m17 joint (extremities are detected less precisely)
_JOINT_NOISE = np.array([1.0, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.2, 1.0, 1.3, 1.7, 1.0, 1.3, 1.7])


@dataclass(frozen=True)
class CorruptionConfig:
    noise_std: float = 0.02  # smooth offset std, in units of the person's box half-size
    jitter_std: float = 0.005
    outlier_prob: float = 0.01
    mask_joint_prob: float = 0.05
    mask_frame_prob: float = 0.10
    flip_prob: float = 0.5
    sh_prob: float = 0.3  # probability to use the Stacked Hourglass detections when the sequence has them
    scale_jitter: tuple[float, float] = (1.0, 1.25)
    center_jitter: float = 0.1
    strides: tuple[int, ...] = (1, 2)
    mask_part_prob: float = 0.0  # ActionPose: hide one whole body part for the clip
    mask_window_prob: float = 0.0  # ActionPose: hide a window of consecutive frames
    window_frac: tuple[float, float] = (0.1, 0.3)


BODY_PARTS: dict[str, tuple[str, ...]] = {
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist"),
    "left_leg": ("left_hip", "left_knee", "left_ankle"),
    "right_leg": ("right_hip", "right_knee", "right_ankle"),
    "head": ("neck_nose", "head_top"),
}
_PART_INDEX = [np.array([H36M17.idx(n) for n in names]) for names in BODY_PARTS.values()]


def structured_mask(L: int, rng: np.random.Generator, cfg: CorruptionConfig) -> np.ndarray:
    """(L,17) 0/1 visibility after ActionPose's part and window masks (all ones when both are off)."""
    keep = np.ones((L, 17), np.float32)
    if cfg.mask_part_prob and rng.random() < cfg.mask_part_prob:
        keep[:, _PART_INDEX[int(rng.integers(len(_PART_INDEX)))]] = 0.0
    if cfg.mask_window_prob and rng.random() < cfg.mask_window_prob and L > 2:
        n = int(np.clip(round(L * rng.uniform(*cfg.window_frac)), 1, L - 1))
        s = int(rng.integers(0, L - n + 1))
        keep[s:s + n] = 0.0
    return keep


def _indices(T: int, L: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    span = (L - 1) * stride + 1
    if span <= T:
        s = int(rng.integers(0, T - span + 1))
        return s + stride * np.arange(L)
    return np.round(np.linspace(0, T - 1, L)).astype(int)  # short sequence: stretch by index


def corrupt_2d(xy: np.ndarray, rng: np.random.Generator, cfg: CorruptionConfig) -> tuple[np.ndarray, np.ndarray]:
    """(L,17,2) clean px -> (noisy xy, confidence) following the module docstring."""
    L, J, _ = xy.shape
    half = crop_params(xy, np.ones((L, J))).scale_px
    keys = max(2, L // 9 + 1)
    off = rng.normal(0, cfg.noise_std, (keys, J, 2)) * _JOINT_NOISE[None, :, None] * rng.uniform(0.3, 1.5)
    off = resample_time(off, L)
    off = off + rng.normal(0, cfg.jitter_std, (L, J, 2))
    outl = rng.random((L, J)) < cfg.outlier_prob
    off[outl] = rng.uniform(-0.3, 0.3, (int(outl.sum()), 2))
    d = np.linalg.norm(off, axis=-1)
    a = 0.05
    conf = np.clip(a / (d + a) + rng.normal(0, 0.05, (L, J)), 0.0, 1.0)
    return (xy + off * half).astype(np.float32), conf.astype(np.float32)


def sample_clip(seq: Sequence, L: int, rng: np.random.Generator, cfg: CorruptionConfig,
                clean: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One training pair: network input (L,17,3) and root-relative target (L,17,3) in metres."""
    fits = [s for s in cfg.strides if (L - 1) * s + 1 <= seq.num_frames] or [min(cfg.strides)]
    stride = int(rng.choice(fits))  # a short sequence (e.g. a CMU run) is not slowed further by a long stride
    idx = _indices(seq.num_frames, L, stride, rng)
    xyz = seq.xyz_camera[idx].astype(np.float64)
    if clean:
        xy, conf = seq.xy_gt[idx], np.ones((L, 17), np.float32)
    elif seq.xy_sh is not None and rng.random() < cfg.sh_prob:
        xy, conf = seq.xy_sh[idx], np.ones((L, 17), np.float32)
    else:
        xy, conf = corrupt_2d(seq.xy_gt[idx], rng, cfg)
    if not clean:
        conf = conf * (rng.random((L, 17)) >= cfg.mask_joint_prob)
        conf = conf * (rng.random((L, 1)) >= cfg.mask_frame_prob)
        conf = conf * structured_mask(L, rng, cfg)
        if rng.random() < cfg.flip_prob:
            xy = flip_joints(xy, H36M17, axis_value=seq.image_size[0] / 2)
            conf = conf[:, H36M17.flip_permutation]
            xyz = flip_joints(xyz, H36M17, axis_value=0.0)
    valid = conf > 0
    if not valid.any():
        conf[:] = 1e-3
        valid[:] = True
    p = crop_params(xy, conf)
    if not clean:
        s = p.scale_px * rng.uniform(*cfg.scale_jitter)
        c = np.asarray(p.center_xy) + rng.uniform(-cfg.center_jitter, cfg.center_jitter, 2) * p.scale_px
        p = NormParams((float(c[0]), float(c[1])), float(s))
    x = encode(xy, conf, p)
    target = (xyz - xyz[:, :1]).astype(np.float32)
    return x, target


class ClipSampler:
    """Draws batches of clips; sequences are chosen in proportion to their length."""

    def __init__(self, seqs: list[Sequence], clip_len: int, cfg: CorruptionConfig, seed: int = 0,
                 clean: bool = False, label_index: dict[str, int] | None = None) -> None:
        self.seqs = seqs
        self.label_index = label_index  # when set, batches also carry each clip's label id (-1: unlabelled)
        self.clean = clean
        self.L = clip_len
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        lengths = np.array([s.num_frames for s in seqs], dtype=np.float64)
        self.p = lengths / lengths.sum()

    def batch(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """(inputs (B,L,17,3), targets (B,L,17,3)), plus label ids (B,) int64 when the sampler has a label_index."""
        picks = self.rng.choice(len(self.seqs), size=batch_size, p=self.p)
        pairs = [sample_clip(self.seqs[i], self.L, self.rng, self.cfg, clean=self.clean) for i in picks]
        out = (np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]))
        if self.label_index is None:
            return out
        ids = np.array([self.label_index.get(self.seqs[i].label or "", -1) for i in picks], dtype=np.int64)
        return out + (ids,)

    def state(self) -> dict[str, Any]:
        return dict(self.rng.bit_generator.state)  # typed as a Mapping; numpy builds a fresh dict on every read

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
