"""Typed in -> typed out predictors: Keypoints2D sequences -> Pose3D with a DSTformer, windowed and batched.

``Lifter.lift_many`` takes any number of people, remaps their 2D keypoints to h36m17 by name, cuts each sequence into
overlapping windows (inference/windows.py), normalises every window with its own square crop box
(normalize.crop_params), runs all windows of all people through the network in batches, optionally with flip
test-time augmentation (mean of f(x) and flip(f(flip(x))), REFERENCE.md section 2), and blends the windows back.
A clip shorter than the window runs at its own length (the network takes any T <= maxlen): a 60-frame clip costs 60
frames of network work, not 243. On Human3.6M (S9/S11, SH input, camera 55011271, first 300 frames) the shipped
27-frame lifter on clips of 9, 15 and 21 frames was as accurate at their own length as stretched to 27 frames and
back (within 0.1 mm), 3-frame clips 1.0 mm worse, 2-frame clips 1.8 mm and single frames 3.1 mm worse: clips of
fewer than MIN_OWN_LENGTH frames are still stretched to the window (linear interpolation in time) and back.

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

MIN_OWN_LENGTH = 3  # shorter clips are stretched to the window (module docstring)
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
            raise ConfigError(f"--precision must be fp32 or bf16, got {self.precision!r}")
        if self.runtime not in ("torch", "onnx"):
            raise ConfigError(f"--runtime must be torch or onnx, got {self.runtime!r}")
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

            self._onnx = OnnxLifterModel(self.model)
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
        """Lift every sequence. Windows are encoded a batch at a time (the full windows of all people in order,
        then the single windows of clips shorter than the window, grouped by length: _batches) and blended into
        each person's float32 output as they come (windows.Blender), so memory is one batch plus the outputs,
        whatever the length; nothing made inside the loop outlives its batch, which keeps the C heap from
        fragmenting between the network's large temporaries (it grew by about 1 MB a window)."""
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
        bs = max(1, self.options.batch_size)
        batches = _batches(plans, bs, L)
        total, done = sum(len(c) for _, c in batches), 0
        for T, chunk in batches:
            pred = self._run(np.stack([_encode_window(*seqs[pi], plans[pi][wi], T) for pi, wi in chunk]))
            for k, (pi, wi) in enumerate(chunk):
                n = plans[pi][wi].length
                blenders[pi].add(wi, _root_relative(pred[k] if n == T else resample_time(pred[k], n)))
            del pred
            done += len(chunk)
            if on_progress:
                on_progress(done, total)
        results = []
        for kp, blender in zip(people, blenders):
            xyz = blender.result()
            xyz -= xyz[:, :1].copy()  # root-relative in place
            if self.output_units == "normalized":
                xyz = rescale_to_metric(xyz)
            results.append(Pose3D(xyz, H36M17, kp.frame_indices, kp.fps, frame="camera", units="m",
                                  root_relative=True))
        return results


def net_length(n: int, window: int) -> int:
    """Frames the network runs a window of n frames at: n itself, or the whole window for clips of fewer than
    MIN_OWN_LENGTH frames (module docstring)."""
    return n if n >= min(MIN_OWN_LENGTH, window) else window


def _batches(plans: list[list[Window]], batch_size: int,
             window: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """(network length T, [(person, window), ...]) batches of at most ``batch_size`` windows that run at the same
    length (windows of different lengths cannot share a tensor): the full windows first (those of all people in
    order), then the windows of clips shorter than the window, grouped by length, longest first. A person's windows
    are either all full or one short window (plan_windows), so each person's windows stay in order, as Blender
    needs."""
    groups: dict[int, list[tuple[int, int]]] = {}
    for pi, wins in enumerate(plans):
        for wi, w in enumerate(wins):
            groups.setdefault(net_length(w.length, window), []).append((pi, wi))
    return [(T, groups[T][b:b + batch_size]) for T in sorted(groups, reverse=True)
            for b in range(0, len(groups[T]), batch_size)]


def _encode_window(xy: np.ndarray, sc: np.ndarray, w: Window, T: int) -> np.ndarray:
    """One window of a (T,17,2) / (T,17) sequence -> the network's (T,17,3) input, stretched in time to T frames
    when the window has fewer (zeros when no joint is seen)."""
    wxy, wsc = xy[w.start:w.stop], sc[w.start:w.stop]
    enc = encode(wxy, wsc, crop_params(wxy, wsc)) if (wsc > 0).any() else np.zeros((w.length, 17, 3), np.float32)
    return enc if w.length == T else resample_time(enc, T)
