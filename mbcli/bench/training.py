"""Training throughput as ``mbcli bench --train RECIPE`` reports it: rows (what, figure) over the measurement of
mbcli/train/bench.py (frames/s, where the time goes, FLOP/s and the share of the chip's measured peaks)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from mbcli.errors import ConfigError

MAX_TRAIN_STEPS = 100_000  # --train-steps (more only runs longer)
MAX_THREADS = 1024  # --threads (torch cannot take every integer)


def run_training_bench(name: str, sets: list[str], data: Path | None, device: str, steps: int,
                       baseline: bool) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    """(title, rows, figures) of timing ``steps`` training steps of recipe ``name`` with overrides ``sets``."""
    from mbcli.train.bench import bench_training
    from mbcli.train.recipe import load_recipe, with_overrides

    if not 1 <= steps <= MAX_TRAIN_STEPS:
        raise ConfigError(f"--train-steps must be from 1 to {MAX_TRAIN_STEPS}, got {steps}")
    recipe = with_overrides(load_recipe(name), sets)
    if data is not None:
        recipe = dataclasses.replace(recipe, data_dir=str(data))
    r = bench_training(recipe, device, steps=steps, baseline=baseline)
    title = (f"mbcli bench --train {recipe.name}{' --baseline' if baseline else ''} ({r['device']}, "
             f"{r['threads']} threads)")
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
    return title, rows, r


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads for a benchmark (None: keep the count the CLI chose at start, mbcli/threads.py)."""
    if threads is not None:
        if not 1 <= threads <= MAX_THREADS:
            raise ConfigError(f"--threads must be from 1 to {MAX_THREADS}, got {threads}")
        torch.set_num_threads(threads)
