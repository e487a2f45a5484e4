"""Clip sampling and 2D corruption in torch, on the training device: augment.ClipSampler's distributions, drawn for a
whole batch at once.

On a GPU the numpy sampler (one Python call per clip) cannot keep up with the model: 141 ms per 64 x 243 batch on an
H200 machine's CPU. Here every training array lives on the device once (Human3.6M: 1.46 M camera-frames of 3D, clean
2D and SH 2D, about 0.7 GB in float32) and a batch is a handful of gathers and elementwise kernels, with no host
synchronisation: the sampler never reads a device value back.

The draws follow augment.py step by step (its module docstring is the specification); tests/test_device_sampler.py
compares the two samplers statistically on the same sequences.

- sequence: chosen with probability proportional to its ``weight`` (its length by default; ``pools`` mixes sets of
  sequences at given rates, each in proportion to length inside its set, as MixedSampler does);
- stride: uniform among ``cfg.strides`` whose span fits the sequence (the smallest when none fits, and then the clip
  is the whole sequence stretched by index); start uniform among the positions that fit;
- 2D source: the SH detection with probability ``cfg.sh_prob`` when the sequence has one, else the projected ground
  truth with smooth key-frame offsets, jitter, outliers and a confidence a / (d + a) + noise;
- masks (joint, frame, body part, time window), flip of 2D and 3D together, a crop box from the visible joints with
  scale and centre jitter, encoding to (x, y, confidence) with masked joints at (0, 0, 0);
- ``clean=True``: the projected ground truth, confidence 1, no mask, flip or jitter (training-time validation).

State: one ``torch.Generator`` on the device; ``state()`` / ``set_state()`` make resume exact.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import cast

import numpy as np
import torch

from mbcli.skeletons import H36M17
from mbcli.train.augment import _JOINT_NOISE, _PART_INDEX, CorruptionConfig
from mbcli.train.data import Sequence

_CONF_A = 0.05  # the a of the confidence a / (d + a), as in augment.corrupt_2d
_CONF_NOISE = 0.05
_OUTLIER_RANGE = 0.3


def _interp_matrix(keys: int, L: int) -> torch.Tensor:
    """(L, keys) linear interpolation from ``keys`` evenly spaced key frames onto L frames (windows.resample_time)."""
    pos = np.linspace(0, keys - 1, L)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, keys - 1)
    frac = pos - lo
    m = np.zeros((L, keys))
    m[np.arange(L), lo] += 1 - frac
    m[np.arange(L), hi] += frac
    return torch.from_numpy(m.astype(np.float32))


def _weighted_pools(pools: Seq[tuple[list[Sequence], float]] | list[Sequence]) -> list[tuple[list[Sequence], float]]:
    """``pools`` as (sequences, weight) pairs with empty or zero-weight sets left out; a plain list of sequences is
    one set of weight 1."""
    if pools and isinstance(pools[0], Sequence):
        weighted: Seq[tuple[list[Sequence], float]] = [(cast(list[Sequence], list(pools)), 1.0)]
    else:
        weighted = cast(Seq[tuple[list[Sequence], float]], pools)
    return [(list(s), float(w)) for s, w in weighted if s and w > 0]


class DeviceClipSampler:
    """``batch(B)`` -> (inputs (B,L,17,3), targets (B,L,17,3) root-relative metres), plus label ids (B,) int64 when
    built with a ``label_index``; all tensors on ``device``."""

    def __init__(self, pools: Seq[tuple[list[Sequence], float]] | list[Sequence], clip_len: int,
                 cfg: CorruptionConfig, seed: int = 0, device: str | torch.device = "cpu", clean: bool = False,
                 label_index: dict[str, int] | None = None) -> None:
        pools = _weighted_pools(pools)
        if not pools:
            raise ValueError("DeviceClipSampler needs at least one sequence")
        dev = torch.device(device)
        self.device, self.L, self.cfg, self.clean = dev, int(clip_len), cfg, clean
        self.label_index = label_index
        seqs = [s for ss, _ in pools for s in ss]
        total = sum(w for _, w in pools)
        weights = np.concatenate([np.array([s.num_frames for s in ss], np.float64)
                                  / sum(s.num_frames for s in ss) * (w / total) for ss, w in pools])
        lengths = np.array([s.num_frames for s in seqs], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        n = int(lengths.sum())
        xy_sh = np.zeros((n, 17, 2), np.float32)
        for s, st in zip(seqs, starts):
            if s.xy_sh is not None:
                xy_sh[st:st + s.num_frames] = s.xy_sh
        self.xyz = torch.from_numpy(np.concatenate([s.xyz_camera for s in seqs]).astype(np.float32)).to(dev)
        self.xy_gt = torch.from_numpy(np.concatenate([s.xy_gt for s in seqs]).astype(np.float32)).to(dev)
        self.xy_sh = torch.from_numpy(xy_sh).to(dev)  # (N,17,2): zeros for sequences without detections
        self.seq_start = torch.from_numpy(starts).to(dev)
        self.seq_len = torch.from_numpy(lengths).to(dev)
        self.seq_has_sh = torch.tensor([s.xy_sh is not None for s in seqs], device=dev)
        self.seq_width = torch.tensor([float(s.image_size[0]) for s in seqs], device=dev)
        ids = [label_index.get(s.label or "", -1) for s in seqs] if label_index is not None else [-1] * len(seqs)
        self.seq_label = torch.tensor(ids, dtype=torch.int64, device=dev)
        cum = np.cumsum(weights)
        self.seq_cum = torch.from_numpy(cum / cum[-1]).to(dev, torch.float64)
        self.strides = torch.tensor(sorted(cfg.strides), dtype=torch.int64, device=dev)
        keys = max(2, self.L // 9 + 1)
        self.keys = keys
        self.interp = _interp_matrix(keys, self.L).to(dev)
        self.joint_noise = torch.from_numpy(_JOINT_NOISE.astype(np.float32)).to(dev)
        parts = torch.zeros(len(_PART_INDEX), 17, device=dev)
        for i, idx in enumerate(_PART_INDEX):
            parts[i, torch.from_numpy(idx)] = 1.0
        self.parts = parts  # (P,17) 1 where the part hides the joint
        self.perm = torch.from_numpy(np.asarray(H36M17.flip_permutation)).to(dev)
        self.mirror = torch.tensor([-1.0, 1.0, 1.0], device=dev)  # camera x -> -x (built once: no copy per batch)
        self.arange_L = torch.arange(self.L, device=dev)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(int(seed))

    # ------------------------------------------------------------------------------------------ draws
    def _u(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen, device=self.device)

    def _n(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, device=self.device)

    def _frames(self, seq: torch.Tensor) -> torch.Tensor:
        """(B,) sequence ids -> (B,L) global frame indices (stride and start as augment._indices)."""
        B, L = seq.shape[0], self.L
        T = self.seq_len[seq]  # (B,)
        fits = ((L - 1) * self.strides[None, :] + 1) <= T[:, None]  # (B,S), a prefix since strides ascend
        nfit = fits.sum(1)
        pick = (self._u(B) * nfit.clamp_min(1)).long().clamp_max(self.strides.numel() - 1)
        stride = torch.where(nfit > 0, self.strides[pick], self.strides[0])
        span = (L - 1) * stride + 1
        start = (self._u(B) * (T - span + 1).clamp_min(1)).long()
        start = torch.minimum(start, (T - span).clamp_min(0))
        idx = start[:, None] + stride[:, None] * self.arange_L[None, :]
        stretched = torch.round(self.arange_L[None, :].double() * ((T[:, None] - 1).double() / max(L - 1, 1))).long()
        idx = torch.where((span <= T)[:, None], idx, stretched)
        return self.seq_start[seq][:, None] + idx

    def _corrupt(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,L,17,2) clean px -> (noisy px, confidence (B,L,17)), augment.corrupt_2d for a whole batch."""
        B, L, J, _ = xy.shape
        cfg = self.cfg
        lo, hi = xy.amin(dim=(1, 2)), xy.amax(dim=(1, 2))  # (B,2)
        half = ((hi - lo).amax(-1) / 2).clamp_min(1.0)  # crop half-size of the clean clip, px
        amp = 0.3 + 1.2 * self._u(B)  # U(0.3, 1.5) per clip
        key_off = self._n(B, self.keys, J, 2) * cfg.noise_std * self.joint_noise[None, None, :, None]
        off = torch.einsum("lk,bkjc->bljc", self.interp, key_off * amp[:, None, None, None])
        off = off + self._n(B, L, J, 2) * cfg.jitter_std
        outl = self._u(B, L, J) < cfg.outlier_prob
        off = torch.where(outl[..., None], (self._u(B, L, J, 2) * 2 - 1) * _OUTLIER_RANGE, off)
        d = torch.linalg.vector_norm(off, dim=-1)
        conf = (_CONF_A / (d + _CONF_A) + self._n(B, L, J) * _CONF_NOISE).clamp(0.0, 1.0)
        return xy + off * half[:, None, None, None], conf

    def _masks(self, B: int) -> torch.Tensor:
        """(B,L,17) 0/1: joint and frame masks, then ActionPose's part and window masks (augment.structured_mask)."""
        cfg, L = self.cfg, self.L
        keep = (self._u(B, L, 17) >= cfg.mask_joint_prob).float()
        keep = keep * (self._u(B, L, 1) >= cfg.mask_frame_prob).float()
        if cfg.mask_part_prob:
            on = self._u(B) < cfg.mask_part_prob
            part = (self._u(B) * len(_PART_INDEX)).long().clamp_max(len(_PART_INDEX) - 1)
            keep = keep * (1.0 - self.parts[part] * on[:, None].float())[:, None, :]
        if cfg.mask_window_prob and L > 2:
            on = self._u(B) < cfg.mask_window_prob
            frac = cfg.window_frac[0] + (cfg.window_frac[1] - cfg.window_frac[0]) * self._u(B)
            n = torch.round(L * frac).long().clamp(1, L - 1)
            s = (self._u(B) * (L - n + 1)).long()
            s = torch.minimum(s, L - n)
            t = self.arange_L[None, :]
            hidden = (t >= s[:, None]) & (t < (s + n)[:, None]) & on[:, None]
            keep = keep * (~hidden).float()[..., None]
        return keep

    def batch(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        B, L, cfg = int(batch_size), self.L, self.cfg
        seq = torch.searchsorted(self.seq_cum, torch.rand(B, generator=self.gen, device=self.device,
                                                          dtype=torch.float64), right=True)
        seq = seq.clamp_max(self.seq_cum.numel() - 1)
        g = self._frames(seq)  # (B,L)
        xyz = self.xyz[g]  # (B,L,17,3)
        xy_gt = self.xy_gt[g]
        if self.clean:
            xy, conf = xy_gt, torch.ones(B, L, 17, device=self.device)
        else:
            use_sh = self.seq_has_sh[seq] & (self._u(B) < cfg.sh_prob)
            noisy, conf_n = self._corrupt(xy_gt)
            xy = torch.where(use_sh[:, None, None, None], self.xy_sh[g], noisy)
            conf = torch.where(use_sh[:, None, None], torch.ones_like(conf_n), conf_n)
            conf = conf * self._masks(B)
            flip = self._u(B) < cfg.flip_prob
            w = self.seq_width[seq]
            xy_f = xy[:, :, self.perm]
            xy_f = torch.stack([w[:, None, None] - xy_f[..., 0], xy_f[..., 1]], dim=-1)
            xyz_f = xyz[:, :, self.perm] * self.mirror
            xy = torch.where(flip[:, None, None, None], xy_f, xy)
            conf = torch.where(flip[:, None, None], conf[:, :, self.perm], conf)
            xyz = torch.where(flip[:, None, None, None], xyz_f, xyz)
        valid = conf > 0
        none = ~valid.flatten(1).any(1)  # a clip with every joint masked: all confidences 1e-3 (augment.py)
        conf = torch.where(none[:, None, None], torch.full_like(conf, 1e-3), conf)
        valid = valid | none[:, None, None]
        big = torch.finfo(xy.dtype).max
        lo = torch.where(valid[..., None], xy, big).amin(dim=(1, 2))  # (B,2)
        hi = torch.where(valid[..., None], xy, -big).amax(dim=(1, 2))
        center = (lo + hi) / 2
        scale = ((hi - lo).amax(-1) / 2).clamp_min(1.0)  # (B,)
        if not self.clean:
            lo_s, hi_s = cfg.scale_jitter
            center = center + (self._u(B, 2) * 2 - 1) * cfg.center_jitter * scale[:, None]
            scale = scale * (lo_s + (hi_s - lo_s) * self._u(B))
        x = torch.cat([(xy - center[:, None, None, :]) / scale[:, None, None, None], conf[..., None]], dim=-1)
        x = torch.where((conf > 0)[..., None], x, torch.zeros_like(x))
        target = xyz - xyz[:, :, :1]
        if self.label_index is None:
            return x, target
        return x, target, self.seq_label[seq]

    # ------------------------------------------------------------------------------------------ state
    def state(self) -> dict:
        return {"device_generator": self.gen.get_state()}

    def set_state(self, state: dict) -> None:
        self.gen.set_state(state["device_generator"])
