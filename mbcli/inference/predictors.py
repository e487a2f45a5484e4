"""Typed in -> typed out predictors: Keypoints2D sequences -> Pose3D with a DSTformer, windowed and batched.

``Lifter.lift_many`` takes any number of people, remaps their 2D keypoints to h36m17 by name, cuts each sequence into
overlapping windows (inference/windows.py), normalises every window with its own square crop box
(normalize.crop_params), runs all windows of all people through the network in batches, optionally with flip
test-time augmentation (mean of f(x) and flip(f(flip(x))), REFERENCE.md section 2), and blends the windows back.

``precision="bf16"`` runs the network in bfloat16 (about 1.7x faster on an AVX2 CPU, measured; outputs deviate by
about 1% relative); the default float32 is exact.

Output: root-relative camera-frame joints in metres (OpenCV axes: x right, y down, z forward). Models that predict
normalised units (MotionBERT's checkpoints) are rescaled so that the clip's median bone lengths match the mean
Human3.6M training-subject skeleton (H36M_BONE_LENGTHS_M), since such models carry no metric scale.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from mbcli.errors import ClipTooShort, ConfigError
from mbcli.inference.windows import Blender, Window, plan_windows, resample_time
from mbcli.normalize import crop_params, encode
from mbcli.skeletons import H36M17, H36M_BONE_LENGTHS_M, flip_joints, remap
from mbcli.types import Keypoints2D, Pose3D

if TYPE_CHECKING:
    from mbcli.model.dstformer import DSTformer

# Mean bone lengths (m) of the Human3.6M training subjects S1 S5 S6 S7 S8, h36m17 bones in child order
# (computed from ../shared/data/h36m/h36m_3d.npz by tools/h36m_bone_lengths.py).
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class LiftOptions:
    window: int = 243
    stride: int = 162  # windows overlap by a third (default_stride)
    flip: bool = True
    batch_size: int = 8
    precision: str = "fp32"  # "bf16": weights and activations in bfloat16 (faster, ~1% relative deviation)
    runtime: str = "torch"  # "onnx": ONNX Runtime on the CPU (float32, fused kernels)

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= self.window:
            raise ConfigError(f"stride must be between 1 and the window length {self.window}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.runtime not in ("torch", "onnx"):
            raise ConfigError(f"runtime must be torch or onnx, got {self.runtime!r}")
        if self.runtime == "onnx" and self.precision != "fp32":
            raise ConfigError("the onnx runtime runs in fp32 only")


def default_stride(window: int) -> int:
    """Frames between window starts when none is given: two thirds of the window, so that neighbours overlap by a
    third (blended) and a frame is lifted 1.5 times on average. Against a third of the window (every frame three
    times) it halves the lifting time and moved the quick Human3.6M figure of the 27-frame lifter by 0.16 mm
    (62.84 vs 62.68 mm, SH input); ``mbcli eval`` keeps a third, the benchmark setting."""
    return max(1, round(2 * window / 3))


def _root_relative(xyz: np.ndarray) -> np.ndarray:
    return xyz - xyz[:, :1]


def rescale_to_metric(xyz: np.ndarray) -> np.ndarray:
    """Scale (T, 17, 3) so that its median bone lengths match H36M_BONE_LENGTHS_M in the least-squares sense."""
    bones = [(p, j) for p, j in H36M17.bones]
    lengths = np.stack([np.linalg.norm(xyz[:, j] - xyz[:, p], axis=-1) for p, j in bones], axis=-1)
    med = np.median(lengths, axis=0)
    ref = np.array([H36M_BONE_LENGTHS_M[H36M17.joints[j]] for _, j in bones])
    s = float(med @ ref / max(med @ med, 1e-12))
    return xyz * s


class Lifter:
    """A DSTformer wrapped for sequences: ``lift(kp) -> Pose3D``."""

    def __init__(self, model: DSTformer, device: torch.device | str = "cpu", options: LiftOptions | None = None,
                 weights_name: str = "") -> None:
        self.model = model.eval()
        self.device = torch.device(device)
        cfg = model.config
        opts = options or LiftOptions()
        if opts.window > cfg.maxlen:
            # keep the overlap proportion when the window is capped at the model's length
            opts = replace(opts, window=cfg.maxlen, stride=max(1, round(opts.stride * cfg.maxlen / opts.window)))
        self.options = opts
        self.dtype = torch.bfloat16 if opts.precision == "bf16" else torch.float32
        if self.dtype != torch.float32:
            self.model = copy.deepcopy(self.model).to(self.dtype)  # the caller's float32 model stays as it is
        self._onnx = None
        if opts.runtime == "onnx":
            if self.device.type != "cpu":
                raise ConfigError("--runtime onnx runs on the CPU; use --device cpu (or --runtime torch on CUDA)")
            from mbcli.inference.onnx_runtime import OnnxLifterModel

            self._onnx = OnnxLifterModel(self.model, opts.batch_size * (2 if opts.flip else 1), opts.window)
        self.output_units = cfg.output_units
        self.weights_name = weights_name

    # ------------------------------------------------------------------------------------------ batching
    @torch.inference_mode()
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """(B, L, 17, 3) normalised input -> (B, L, 17, 3) output, with flip TTA when enabled (the mirrored
        windows ride in the same forward pass)."""
        B = batch.shape[0]
        if self.options.flip:
            batch = np.concatenate([batch, flip_joints(batch, H36M17)])
        if self._onnx is not None:
            y = self._onnx(batch)
        else:
            y = self.model(torch.from_numpy(batch).to(self.device, self.dtype)).float().cpu().numpy()
        if self.options.flip:
            y = (y[:B] + flip_joints(y[B:], H36M17)) * 0.5
        return y

    def lift(self, kp: Keypoints2D) -> Pose3D:
        return self.lift_many([kp])[0]

    def lift_many(self, people: Sequence[Keypoints2D], on_progress: ProgressFn | None = None) -> list[Pose3D]:
        """Lift every sequence. Windows are encoded a batch at a time (the batches take the windows of all people
        in order) and blended into each person's float32 output as they come (windows.Blender), so memory is one
        batch plus the outputs, whatever the length; nothing made inside the loop outlives its batch, which keeps
        the C heap from fragmenting between the network's large temporaries (it grew by about 1 MB a window)."""
        L = self.options.window
        seqs: list[tuple[np.ndarray, np.ndarray]] = []  # h36m17 (T,17,2) xy and (T,17) scores per person
        plans: list[list[Window]] = []
        for kp in people:
            if kp.num_frames == 0:
                raise ClipTooShort("a track with no frames cannot be lifted")
            seqs.append((kp.xy, kp.scores) if kp.skeleton.name == "h36m17" else remap(kp.xy, kp.scores, kp.skeleton,
                                                                                      H36M17))
            plans.append(plan_windows(kp.num_frames, L, self.options.stride))
        blenders = [Blender(wins, kp.num_frames) for wins, kp in zip(plans, people)]
        jobs = [(pi, wi) for pi, wins in enumerate(plans) for wi in range(len(wins))]  # (person, window)
        bs = max(1, self.options.batch_size)
        for b0 in range(0, len(jobs), bs):
            chunk = jobs[b0:b0 + bs]
            pred = self._run(np.stack([_encode_window(*seqs[pi], plans[pi][wi], L) for pi, wi in chunk]))
            for k, (pi, wi) in enumerate(chunk):
                p = pred[k]
                if plans[pi][wi].length < L:
                    p = resample_time(p, plans[pi][wi].length)
                blenders[pi].add(wi, _root_relative(p))
            del pred
            if on_progress:
                on_progress(min(b0 + bs, len(jobs)), len(jobs))
        results = []
        for kp, blender in zip(people, blenders):
            xyz = blender.result()
            xyz -= xyz[:, :1].copy()  # root-relative in place
            if self.output_units == "normalized":
                xyz = rescale_to_metric(xyz)
            results.append(Pose3D(xyz, H36M17, kp.frame_indices, kp.fps, frame="camera", units="m",
                                  root_relative=True))
        return results


def _encode_window(xy: np.ndarray, sc: np.ndarray, w: Window, L: int) -> np.ndarray:
    """One window of a (T,17,2) / (T,17) sequence -> the network's (L,17,3) input (resampled to L frames when
    shorter; zeros when no joint is seen)."""
    wxy, wsc = xy[w.start:w.stop], sc[w.start:w.stop]
    enc = encode(wxy, wsc, crop_params(wxy, wsc)) if (wsc > 0).any() else np.zeros((w.length, 17, 3), np.float32)
    return resample_time(enc, L) if w.length < L else enc
