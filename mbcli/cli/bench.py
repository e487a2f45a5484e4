"""``mbcli bench``: lifter throughput, end-to-end fps on a sample clip, and peak memory."""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors
from mbcli.weights import DEFAULT_LIFTER


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def lifter_fps(model, x, repeats: int, device) -> float:
    """Frames/s of ``model(x)`` for a (B, T, 17, 3) input (torch tensor, or numpy for the ONNX model), after a
    warm-up call."""
    import torch

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


def video_fps(model, device, T: int = 3000) -> float:
    """Video frames/s of Lifter.lift on one synthetic T-frame track as mbcli lift runs it: the model's window, the
    default stride (two thirds of it) and flip, fp32, windows normalised and blended."""
    import numpy as np

    from mbcli.inference.predictors import Lifter, LiftOptions, default_stride
    from mbcli.skeletons import H36M17
    from mbcli.types import Keypoints2D

    rng = np.random.default_rng(0)
    xy = rng.uniform(200, 400, (17, 2)) + 20 * np.sin(np.linspace(0, 60, T))[:, None, None]
    kp = Keypoints2D(xy.astype(np.float32), np.ones((T, 17), np.float32), np.arange(T), H36M17, (640, 480), 30.0)
    L = model.config.maxlen
    lifter = Lifter(model, device, LiftOptions(window=L, stride=default_stride(L), flip=True))
    lifter.lift(Keypoints2D(kp.xy[:L], kp.scores[:L], kp.frame_indices[:L], H36M17, (640, 480), 30.0))  # warm-up
    t = time.perf_counter()
    lifter.lift(kp)
    return T / (time.perf_counter() - t)


def fit_speeds(T: int = 300) -> list[tuple[str, float | None, object]]:
    """(model, frames/s, mean h36m17 error mm) of fitting each available body model to T frames it generated
    itself (smooth random motion), on one thread as mbcli mesh runs it; (model, None, why) when unavailable."""
    import os

    import torch

    from mbcli.body import load_body_model
    from mbcli.body.fit import fit_body, random_motion
    from mbcli.errors import MbcliError

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


def action_speeds(device, T: int = 3000) -> list[tuple[str, float]]:
    """Frames/s of ActionRecognizer.recognize on a synthetic T-frame, 30 fps track (windows, normalisation, the
    model, scoring) with the shipped action model: its classifier, and 8 open-vocabulary labels (text encoding of the
    labels included once, as in mbcli action)."""
    import numpy as np

    from mbcli.inference.action import ActionRecognizer
    from mbcli.model.action import load_action_model
    from mbcli.skeletons import H36M17
    from mbcli.types import Keypoints2D
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


def _bench_train(name: str, sets: list[str], data: Path | None, device: str, threads: int | None, steps: int,
                 baseline: bool, json_out: Path | None) -> None:
    import dataclasses

    import torch

    from mbcli.errors import ConfigError
    from mbcli.export import write_atomic
    from mbcli.train.bench import bench_training
    from mbcli.train.recipe import load_recipe, with_overrides

    if steps < 1:
        raise ConfigError(f"--train-steps must be at least 1, got {steps}")
    recipe = with_overrides(load_recipe(name), sets)
    if data is not None:
        recipe = dataclasses.replace(recipe, data_dir=str(data))
    if threads:
        torch.set_num_threads(threads)
    with con.console.status("timing training (data load, warm-up, timed steps)"):
        r = bench_training(recipe, device, steps=steps, baseline=baseline)
    table = Table(title=f"mbcli bench --train {recipe.name}{' --baseline' if baseline else ''} ({r['device']}, "
                        f"{r['threads']} threads)")
    table.add_column("what")
    table.add_column("figure", justify="right")
    rows = [
        ("model", f"{r['parameters'] / 1e6:.2f} M parameters, {r['train_gflop_per_frame']:.3f} GFLOP per trained frame"),
        ("batch", f"{r['batch']} clips x {r['clip_len']} frames, amp {r['amp']}, compile {r['compile']}, "
                  f"sampler {r['sampler']}, fused AdamW {r['fused_adamw']}"),
        ("training", f"{r['train_frames_per_s']:,.0f} frames/s ({r['step_ms']:.1f} ms per step)"),
        ("  of which: drawing a batch alone", f"{r['sampler_ms']:.1f} ms"),
        ("  of which: forward + backward + AdamW alone", f"{r['model_ms']:.1f} ms"),
        ("achieved", f"{r['achieved_tflops']:.3f} TFLOP/s"),
        ("share of the measured bf16 peak", f"{100 * r['share_of_bf16_peak']:.1f}% of {r['peak_bf16_tflops']:.2f} "
                                            f"TFLOP/s"),
    ]
    if "share_of_fp32_peak" in r:
        rows.append(("share of the measured fp32 peak", f"{100 * r['share_of_fp32_peak']:.1f}% of "
                                                        f"{r['peak_fp32_tflops']:.3f} TFLOP/s"))
    rows.append(("warm-up (5 steps, compile included) / data load", f"{r['warmup_s']:.1f} s / {r['data_load_s']:.1f} s"))
    for a, b in rows:
        table.add_row(a, b)
    con.out.print(table)
    if json_out:
        write_atomic(json_out, json.dumps(r, indent=2) + "\n")


@app.command()
@handle_errors
def bench(
    clip: Path = typer.Option(Path("samples/sports2d_640.mp4"), help="Clip for the end-to-end measurement."),
    models: str = typer.Option(f"lite,base,campaign,{DEFAULT_LIFTER}", help="Comma list: lite, base, campaign (the "
                               "campaign recipe's model; random weights, for speed) and/or manifest names / "
                               "checkpoint files."),
    batch: int = typer.Option(2, help="Windows per forward pass for the lifter benchmark."),
    repeats: int = typer.Option(3, help="Timed forward passes per model."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    threads: int = typer.Option(None, help="torch threads (default: torch's choice)."),
    end_to_end: bool = typer.Option(True, "--e2e/--no-e2e", help="Also time mbcli lift on CLIP."),
    bf16: bool = typer.Option(True, "--bf16/--no-bf16", help="Also time the lifters in bfloat16."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Also time the lifters through ONNX Runtime."),
    fit: bool = typer.Option(True, "--fit/--no-fit", help="Also time body fitting (mbcli mesh): anny when it is "
                             "available, SMPL when $MBCLI_SMPL_MODEL is set."),
    action: bool = typer.Option(True, "--action/--no-action", help="Also time action recognition (the shipped "
                                "action model on a 3000-frame track, classifier and open-vocabulary scoring)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    train: str = typer.Option(None, "--train", help="Instead: time training with this recipe (built-in name or "
                              "YAML): frames/s, FLOP/s and the share of the chip's measured bf16 peak."),
    train_steps: int = typer.Option(20, "--train-steps", help="--train: timed steps (after 5 warm-up steps)."),
    baseline: bool = typer.Option(False, "--baseline", help="--train: the loop before issue 11 (numpy sampler on a "
                                  "thread, unfused AdamW, a host read-back every step), for before/after figures."),
    sets: list[str] = typer.Option([], "--set", help="--train: override a recipe value, KEY=VALUE (YAML), e.g. "
                                   "batch_size=128, compile=true, model.overrides.dim_feat=128; repeatable."),
    data: Path = typer.Option(None, "--data", help="--train: Human3.6M folder (default: the recipe's, else "
                              "../shared/data/h36m)."),
) -> None:
    """Measure lifter frames/s (batch of non-overlapping 243-frame windows), end-to-end fps and peak RSS; with
    --train RECIPE, training throughput instead."""
    import torch

    if train is not None:
        _bench_train(train, sets, data, device, threads, train_steps, baseline, json_out)
        return

    from mbcli.model import DSTformer, load_model, preset, resolve_device
    from mbcli.pipeline import LiftConfig, run_lift

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    table = Table(title=f"mbcli bench ({dev.type}, {torch.get_num_threads()} threads)")
    table.add_column("what")
    table.add_column("figure", justify="right")
    figures: dict = {"device": dev.type, "threads": torch.get_num_threads(), "lifter_fps": {}}
    if end_to_end:
        if not clip.is_file():
            con.error(f"{clip}: clip not found; skipping the end-to-end figure")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                for label, formats in (("json,bvh,npz", ("json", "bvh", "npz")),
                                       ("all (incl. video)", ("json", "bvh", "npz", "video"))):
                    t = time.perf_counter()
                    res = run_lift(clip, Path(tmp) / label.replace(" ", "_"),
                                   LiftConfig(formats=formats, device=device))
                    dt = time.perf_counter() - t
                    fps = res.frames / dt
                    figures[f"e2e_fps[{label}]"] = round(fps, 2)
                    table.add_row(f"end to end, {label}: {clip.name} ({res.frames} frames)", f"{fps:.1f} fps")
                    figures[f"e2e_timings_s[{label}]"] = {k: round(v, 3) for k, v in res.timings.items()}
    if end_to_end:
        figures["peak_rss_mb_end_to_end"] = round(_peak_rss_mb(), 1)
        table.add_row("peak RSS after the end-to-end runs", f"{figures['peak_rss_mb_end_to_end']:.0f} MB")
    for name in [m.strip() for m in models.split(",") if m.strip()]:
        if name in ("lite", "base"):
            model = DSTformer(preset(name)).eval().to(dev)
        elif name == "campaign":
            from mbcli.train.recipe import load_recipe

            spec = load_recipe("campaign-lifter").model
            model = DSTformer(preset(spec.preset, **spec.overrides)).eval().to(dev)
        else:
            model = load_model(name, device=str(dev))
        T = model.config.maxlen
        x = torch.randn(batch, T, 17, 3, device=dev)
        fps = lifter_fps(model, x, repeats, dev)
        figures["lifter_fps"][name] = round(fps, 1)
        table.add_row(f"lifter {name} ({batch}x{T} frames, fp32)", f"{fps:.0f} frames/s")
        vfps = video_fps(model, dev)
        figures.setdefault("lift_video_fps", {})[name] = round(vfps, 1)
        table.add_row(f"lifting a 3000-frame track with {name} (default windows, flip, fp32)",
                      f"{vfps:.0f} video frames/s")
        if onnx and dev.type == "cpu":
            from mbcli.inference.onnx_runtime import OnnxLifterModel

            fps_onnx = lifter_fps(OnnxLifterModel(model, batch, T), x.cpu().numpy(), repeats, dev)
            figures["lifter_fps"][name + "@onnx"] = round(fps_onnx, 1)
            table.add_row(f"lifter {name} ({batch}x{T} frames, fp32, onnxruntime)", f"{fps_onnx:.0f} frames/s")
        if bf16:
            fps16 = lifter_fps(model.to(torch.bfloat16), x.to(torch.bfloat16), repeats, dev)
            figures["lifter_fps"][name + "@bf16"] = round(fps16, 1)
            table.add_row(f"lifter {name} ({batch}x{T} frames, bf16)", f"{fps16:.0f} frames/s")
        del model
    if fit:
        for name, fps, err in fit_speeds():
            if fps is None:
                table.add_row(f"body fit, {name}", err)
                continue
            figures.setdefault("fit_fps", {})[name] = round(fps, 1)
            table.add_row(f"body fit, {name} (300 frames, 100 L-BFGS iterations, 1 thread)",
                          f"{fps:.0f} frames/s, {err:.1f} mm")
    if action:
        for name, fps in action_speeds(dev):
            figures.setdefault("action_fps", {})[name] = round(fps, 1)
            table.add_row(f"action recognition, {name} (3000-frame track at 30 fps)", f"{fps:.0f} frames/s")
    figures["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    table.add_row("peak RSS of the whole benchmark (ONNX export of base included)", f"{figures['peak_rss_mb']:.0f} MB")
    con.out.print(table)
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
