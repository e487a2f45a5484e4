"""Lifter, lifting, body-fit and action-recognition speed, end-to-end fps and peak memory, as ``mbcli bench``
reports them. Every measurement warms up first and times what the commands run, on the same settings.

``run_speed_bench`` returns rows (what, figure text) for the table and a figures dict for ``--json``.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbcli.errors import ConfigError, MbcliError
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D

MAX_BATCH = 1024  # --batch: windows of 243 frames per forward pass (more only runs out of memory)
MAX_REPEATS = 1000  # --repeats: timed passes per model (more only runs longer)


@dataclass(frozen=True)
class SpeedBenchConfig:
    """clip: the video of the end-to-end rows (None: none); models: lite, base, campaign or weights names; batch:
    windows per forward pass; repeats: timed passes; bf16 / onnx / fit / action: the optional rows."""

    clip: Path | None
    models: tuple[str, ...]
    batch: int = 2
    repeats: int = 3
    device: str = "cpu"
    bf16: bool = True
    onnx: bool = True
    fit: bool = True
    action: bool = True


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _synthetic_track(T: int, noise: float = 0.0) -> Keypoints2D:
    rng = np.random.default_rng(0)
    xy = rng.uniform(200, 400, (17, 2)) + 20 * np.sin(np.linspace(0, 60, T))[:, None, None]
    if noise:
        xy = xy + rng.normal(0, noise, (T, 17, 2))
    return Keypoints2D(xy.astype(np.float32), np.ones((T, 17), np.float32), np.arange(T), H36M17, (640, 480), 30.0)


def lifter_fps(model: Any, x: Any, repeats: int, device: torch.device) -> float:
    """Frames/s of ``model(x)`` for a (B, T, 17, 3) input (torch tensor, or numpy for the ONNX model), after a
    warm-up call."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode():
        model(x)
        sync()
        t = time.perf_counter()
        for _ in range(repeats):
            model(x)
        sync()
        dt = (time.perf_counter() - t) / repeats
    return x.shape[0] * x.shape[1] / dt


def video_fps(model: Any, device: torch.device, T: int = 3000, runtime: str = "torch", repeats: int = 1) -> float:
    """Video frames/s of Lifter.lift on one synthetic T-frame track as mbcli lift runs it: the model's window, the
    default stride (two thirds of it), flip, fp32, mbcli lift's default batch size, windows normalised and blended;
    runtime "torch" or "onnx" (the export is made before the clock starts). The best of ``repeats`` runs."""
    from mbcli.inference.predictors import Lifter, LiftOptions, default_stride

    kp = _synthetic_track(T)
    L = model.config.maxlen
    lifter = Lifter(model, device, LiftOptions(window=L, stride=default_stride(L), flip=True, runtime=runtime))
    n = min(T, L)
    lifter.lift(Keypoints2D(kp.xy[:n], kp.scores[:n], kp.frame_indices[:n], H36M17, (640, 480), 30.0))  # warm-up
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        lifter.lift(kp)
        best = min(best, time.perf_counter() - t)
    return T / best


def fit_speeds(T: int = 300) -> list[tuple[str, float | None, object]]:
    """(model, frames/s, mean h36m17 error mm) of fitting each available body model to T frames it generated
    itself (smooth random motion), on one thread as mbcli mesh runs it; (model, None, why) when unavailable."""
    from mbcli.body import load_body_model
    from mbcli.body.fit import fit_body, random_motion

    rows: list[tuple[str, float | None, object]] = []
    for name in ("anny", "smpl"):
        if name == "smpl" and not os.environ.get("MBCLI_SMPL_MODEL"):
            rows.append((name, None, "skipped: set MBCLI_SMPL_MODEL"))
            continue
        try:
            body = load_body_model(name)
        except MbcliError as e:
            rows.append((name, None, f"skipped: {e}"))
            continue
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                targets = body.h36m_from_params(body.default_shape(), random_motion(body, T)).double().numpy()
            fit_body(body, targets[:8])  # warm-up (first autograd call)
            t = time.perf_counter()
            res = fit_body(body, targets)
            rows.append((name, T / (time.perf_counter() - t), float(res.error_mm.mean())))
        finally:
            torch.set_num_threads(threads)
    return rows


def action_speeds(device: torch.device | str, T: int = 3000) -> list[tuple[str, float]]:
    """Frames/s of ActionRecognizer.recognize on a synthetic T-frame, 30 fps track (windows, normalisation, the
    model, scoring) with the shipped action model: its classifier, and 8 open-vocabulary labels (text encoding of the
    labels included once, as in mbcli action)."""
    from mbcli.inference.action import ActionRecognizer
    from mbcli.model.action import load_action_model
    from mbcli.weights import DEFAULT_ACTION

    rng = np.random.default_rng(0)
    base = rng.uniform(200, 400, (17, 2))
    xy = base + 20 * np.sin(np.linspace(0, 60, T))[:, None, None] + rng.normal(0, 2, (T, 17, 2))
    kp = Keypoints2D(xy.astype(np.float32), np.ones((T, 17), np.float32), np.arange(T), H36M17, (640, 480), 30.0)
    model, meta = load_action_model(DEFAULT_ACTION)
    out = []
    for name, labels in (("classifier", None), ("8 open-vocabulary labels", [
            "walking", "running", "jumping jacks", "waving", "sitting down", "dancing", "boxing", "eating"])):
        t = time.perf_counter()
        ActionRecognizer(model, meta, device, labels).recognize(kp)
        out.append((name, T / (time.perf_counter() - t)))
    return out


def _bench_model(name: str, dev: torch.device) -> Any:
    from mbcli.model import DSTformer, load_model, preset

    if name in ("lite", "base"):
        return DSTformer(preset(name)).eval().to(dev)
    if name == "campaign":
        from mbcli.train.recipe import load_recipe

        spec = load_recipe("campaign-lifter").model
        return DSTformer(preset(spec.preset, **spec.overrides)).eval().to(dev)
    return load_model(name, device=str(dev))


def rss_label(onnx_models: list[str]) -> str:
    """The peak-RSS row's name: an ONNX export (base's above all) is what raises the peak, so it names the models
    that were exported, and none when no export ran (--no-onnx, a GPU)."""
    if not onnx_models:
        return "peak RSS of the whole benchmark"
    return f"peak RSS of the whole benchmark (ONNX export of {', '.join(onnx_models)} included)"


def run_speed_bench(cfg: SpeedBenchConfig) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """All rows of ``mbcli bench`` (without --train): (what, figure) for the table, and the figures for JSON."""
    from mbcli.model import resolve_device
    from mbcli.pipeline.lift import LiftConfig, run_lift

    if not (1 <= cfg.batch <= MAX_BATCH and 1 <= cfg.repeats <= MAX_REPEATS):
        raise ConfigError(f"--batch must be from 1 to {MAX_BATCH} and --repeats from 1 to {MAX_REPEATS}, got "
                          f"{cfg.batch} and {cfg.repeats}")
    dev = resolve_device(cfg.device)
    rows: list[tuple[str, str]] = []
    figures: dict[str, Any] = {"device": dev.type, "threads": torch.get_num_threads(), "lifter_fps": {}}
    if cfg.clip is not None:
        if not cfg.clip.is_file():
            raise ConfigError(f"{cfg.clip}: clip not found (pass --clip PATH, or --no-e2e)")
        with tempfile.TemporaryDirectory() as tmp:
            for label, formats in (("json,bvh,npz", ("json", "bvh", "npz")),
                                   ("all (incl. video)", ("json", "bvh", "npz", "video"))):
                t = time.perf_counter()
                res = run_lift(cfg.clip, Path(tmp) / label.replace(" ", "_"),
                               LiftConfig(formats=formats, device=cfg.device))
                fps = res.frames / (time.perf_counter() - t)
                figures[f"e2e_fps[{label}]"] = round(fps, 2)
                rows.append((f"end to end, {label}: {cfg.clip.name} ({res.frames} frames)", f"{fps:.1f} fps"))
                figures[f"e2e_timings_s[{label}]"] = {k: round(v, 3) for k, v in res.timings.items()}
        figures["peak_rss_mb_end_to_end"] = round(peak_rss_mb(), 1)
        rows.append(("peak RSS after the end-to-end runs", f"{figures['peak_rss_mb_end_to_end']:.0f} MB"))
    onnx_models: list[str] = []
    for name in cfg.models:
        model = _bench_model(name, dev)
        T = model.config.maxlen
        x = torch.randn(cfg.batch, T, 17, 3, device=dev)
        fps = lifter_fps(model, x, cfg.repeats, dev)
        figures["lifter_fps"][name] = round(fps, 1)
        rows.append((f"lifter {name} ({cfg.batch}x{T} frames, fp32)", f"{fps:.0f} frames/s"))
        vfps = video_fps(model, dev)
        figures.setdefault("lift_video_fps", {})[name] = round(vfps, 1)
        rows.append((f"lifting a 3000-frame track with {name} (default windows, flip, fp32)",
                     f"{vfps:.0f} video frames/s"))
        if cfg.onnx and dev.type == "cpu":
            from mbcli.inference.onnx_runtime import OnnxLifterModel

            fps_onnx = lifter_fps(OnnxLifterModel(model), x.cpu().numpy(), cfg.repeats, dev)
            figures["lifter_fps"][name + "@onnx"] = round(fps_onnx, 1)
            onnx_models.append(name)
            rows.append((f"lifter {name} ({cfg.batch}x{T} frames, fp32, onnxruntime)", f"{fps_onnx:.0f} frames/s"))
            vfps_onnx = video_fps(model, dev, runtime="onnx")
            figures["lift_video_fps"][name + "@onnx"] = round(vfps_onnx, 1)
            rows.append((f"lifting a 3000-frame track with {name} (default windows, flip, fp32, onnxruntime)",
                         f"{vfps_onnx:.0f} video frames/s ({vfps_onnx / vfps:.2f}x torch)"))
        if cfg.bf16:
            fps16 = lifter_fps(model.to(torch.bfloat16), x.to(torch.bfloat16), cfg.repeats, dev)
            figures["lifter_fps"][name + "@bf16"] = round(fps16, 1)
            rows.append((f"lifter {name} ({cfg.batch}x{T} frames, bf16)", f"{fps16:.0f} frames/s"))
        del model
    if cfg.fit:
        for name, fit_fps, err in fit_speeds():
            if fit_fps is None:
                rows.append((f"body fit, {name}", str(err)))
                continue
            figures.setdefault("fit_fps", {})[name] = round(fit_fps, 1)
            rows.append((f"body fit, {name} (300 frames, 100 L-BFGS iterations, 1 thread)",
                         f"{fit_fps:.0f} frames/s, {err:.1f} mm"))
    if cfg.action:
        for name, act_fps in action_speeds(dev):
            figures.setdefault("action_fps", {})[name] = round(act_fps, 1)
            rows.append((f"action recognition, {name} (3000-frame track at 30 fps)", f"{act_fps:.0f} frames/s"))
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    rows.append((rss_label(onnx_models), f"{figures['peak_rss_mb']:.0f} MB"))
    return rows, figures
