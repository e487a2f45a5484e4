"""Training throughput of a recipe on this machine: frames/s, achieved FLOP/s against the chip's measured peak, and
where the time goes (``mbcli bench --train RECIPE``).

The recipe's own data, sampler, model, loss and optimiser run exactly as in ``mbcli train`` (train/loop.py
StepModel), without checkpoints or validation:
- ``step``: a full training step (draw a batch, forward, backward, AdamW), timed over ``steps`` steps after
  ``warmup`` untimed ones (torch.compile compiles during the warm-up); one synchronisation at each end;
- ``sampler``: drawing batches alone; ``model``: forward + backward + AdamW on one fixed batch.
FLOPs are the analytic count of DSTformerConfig.forward_flops, x3 for training (the backward pass costs about twice
the forward). The peak is measured here, with a large matrix product in bfloat16 (and in float32 when the recipe
trains without autocast), so the share says how much of what this chip can do the training reaches.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch

from mbcli.model import DSTformer, preset, resolve_device
from mbcli.train.loop import Prefetcher, StepModel, _load_data
from mbcli.train.recipe import Recipe


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(fn: Callable[[], object], n: int, dev: torch.device) -> float:
    """Seconds per call of fn over n calls (after the caller's warm-up), synchronised at both ends only."""
    _sync(dev)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    _sync(dev)
    return (time.perf_counter() - t) / n


def matmul_peak(dev: torch.device, dtype: torch.dtype) -> float:
    """Measured FLOP/s of a large square matrix product in ``dtype`` on ``dev`` (random data, median of a few)."""
    n = 8192 if dev.type == "cuda" else 1024
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, generator=g).to(dtype)
    b = torch.randn(n, n, device=dev, generator=g).to(dtype)
    reps = 20 if dev.type == "cuda" else 3
    a @ b
    times = sorted(_timed(lambda: a @ b, reps, dev) for _ in range(3))
    return 2.0 * n ** 3 / times[1]


def bench_training(recipe: Recipe, device: str = "auto", steps: int = 20, warmup: int = 5,
                   baseline: bool = False, cache: dict | None = None) -> dict:
    """Frames/s and FLOP/s of ``recipe``'s training step on ``device`` (see the module docstring). ``baseline``: the
    loop as it was before the device sampler (issue 11): numpy clips drawn on a background thread, AdamW without
    the fused kernel, no compile, and the loss read back to the host after every step. ``cache``: a dict kept
    between calls so that rows with the same data and clip length load it once."""
    dev = resolve_device(device)
    if baseline:
        recipe = dataclasses.replace(recipe, sampler="numpy", fused_adamw=False, compile=False,
                                     prefetch=max(2, recipe.prefetch))
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(recipe.seed)
    cfg = preset(recipe.model.preset, **{**recipe.model.overrides, "output_units": "m"})
    L = min(recipe.clip_len, cfg.maxlen)
    recipe = dataclasses.replace(recipe, text_align=0.0, task="pose", val_clips=1)  # the lifter's step
    t0 = time.perf_counter()
    key = (recipe.sampler, L, recipe.data_dir, recipe.use_sh, recipe.corruption, recipe.cmu_fraction)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = _load_data(recipe, L, recipe.seed, dev, with_labels=False)
    data = cache[key]
    load_s = time.perf_counter() - t0
    run = StepModel.build(recipe, DSTformer(cfg), dev)
    for group in run.opt.param_groups:
        group["lr"] = recipe.lr
    B = recipe.batch_size

    feed = Prefetcher(data.sampler, B, recipe.prefetch) if baseline else None

    def draw(prefetched: bool = True) -> tuple[torch.Tensor, ...]:
        drawn = feed.batch() if feed and prefetched else data.sampler.batch(B)
        return tuple(d if isinstance(d, torch.Tensor) else torch.from_numpy(d).to(dev) for d in drawn)

    def step(batch: tuple[torch.Tensor, ...]) -> None:
        loss, _ = run.step(batch, warmup)
        if baseline:
            float(loss.detach())  # the old loop's per-step finiteness check and log values

    try:
        t0 = time.perf_counter()
        for _ in range(warmup):
            step(draw())
        _sync(dev)
        warmup_s = time.perf_counter() - t0
        step_s = _timed(lambda: step(draw()), steps, dev)
    finally:
        if feed:
            feed.close()
    sampler_s = _timed(lambda: draw(prefetched=False), steps, dev)
    fixed = draw(prefetched=False)
    model_s = _timed(lambda: step(fixed), steps, dev)
    frames = B * L
    flops = 3 * cfg.forward_flops(L) * B
    peak_bf16 = matmul_peak(dev, torch.bfloat16)
    out = {
        "recipe": recipe.name, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "batch": B, "clip_len": L, "amp": recipe.amp, "compile": recipe.compile,
        "sampler": recipe.sampler, "fused_adamw": recipe.fused_adamw, "baseline": baseline,
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "train_frames_per_s": frames / step_s, "step_ms": 1000 * step_s,
        "sampler_ms": 1000 * sampler_s, "model_ms": 1000 * model_s,
        "warmup_s": warmup_s, "data_load_s": load_s,
        "train_gflop_per_frame": flops / frames / 1e9, "achieved_tflops": flops / step_s / 1e12,
        "peak_bf16_tflops": peak_bf16 / 1e12, "share_of_bf16_peak": flops / step_s / peak_bf16,
    }
    if recipe.amp != "bf16":
        peak32 = matmul_peak(dev, torch.float32)
        out.update(peak_fp32_tflops=peak32 / 1e12, share_of_fp32_peak=flops / step_s / peak32)
    return out
