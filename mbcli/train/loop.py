"""The one training loop for the lifter: sample clips, corrupt, regress metric 3D, checkpoint, resume.

- AdamW with weight decay; a linear warm-up over ``warmup_steps``, then the learning rate is multiplied by ``lr_decay`` every ``epoch_steps`` steps
  (MotionBERT decays 0.99 per epoch).
- bf16 autocast on CPU and CUDA when ``amp: bf16`` (weights and optimizer stay float32).
- Every ``checkpoint_minutes`` (and at the end) ``last.pt`` is written atomically with the model config, weights,
  optimizer, step, the sampler's random state and torch's RNG state, so ``resume=True`` continues exactly where a
  killed run stopped. Metrics go to ``metrics.jsonl`` (one JSON object per log line).
- Progress is reported through ``on_progress(step, total, metrics)``; nothing is printed here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mbcli.model import DSTformer, preset, resolve_device, save_checkpoint
from mbcli.model.checkpoint import build_model
from mbcli.train.augment import ClipSampler
from mbcli.train.data import TEST_SUBJECTS, load_h36m
from mbcli.train.losses import lifter_loss
from mbcli.train.recipe import Recipe

ProgressFn = Callable[[int, int, dict], None]


def _lr_at(recipe: Recipe, step: int) -> float:
    warm = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    return warm * recipe.lr * recipe.lr_decay ** (step // max(1, recipe.epoch_steps))


def _quick_val(model: DSTformer, val: ClipSampler, device: torch.device, batches: int = 4) -> float:
    """MPJPE (mm) on fixed clean-GT clips of the test subjects (a training-time signal, not the benchmark)."""
    state = val.state()
    errs = []
    model.eval()
    with torch.inference_mode():
        for _ in range(batches):
            x, y = val.batch(16)
            p = model(torch.from_numpy(x).to(device)).float().cpu().numpy()
            p = p - p[:, :, :1]
            errs.append(np.linalg.norm(p - y, axis=-1).mean())
    val.set_state(state)
    model.train()
    return float(np.mean(errs) * 1000)


def train(recipe: Recipe, out_dir: str | Path, device: str = "auto", resume: bool = False,
          on_progress: ProgressFn | None = None, max_steps: int | None = None) -> Path:
    """Run (or resume) a recipe; returns the path of the final checkpoint ``last.pt``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    cfg = preset(recipe.model.preset, **{**recipe.model.overrides, "output_units": "m"})
    seqs = load_h36m(recipe.data_dir, tuple(recipe.subjects), with_sh=recipe.use_sh)
    sampler = ClipSampler(seqs, min(recipe.clip_len, cfg.maxlen), recipe.corruption, seed=recipe.seed)
    val_seqs = load_h36m(recipe.data_dir, TEST_SUBJECTS, with_sh=False, cameras=(0,))
    val = ClipSampler(val_seqs, min(recipe.clip_len, cfg.maxlen), recipe.corruption, seed=1234, clean=True)

    model = DSTformer(cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    step = 0
    ckpt = out / "last.pt"
    if resume and ckpt.is_file():
        obj = torch.load(ckpt, map_location="cpu", weights_only=False)
        model = build_model(obj["model"], cfg, str(ckpt)).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        opt.load_state_dict(obj["optimizer"])
        step = int(obj["step"])
        sampler.set_state(obj["sampler_state"])
        torch.set_rng_state(obj["torch_rng"])
    total = recipe.steps if max_steps is None else min(recipe.steps, max_steps)
    model.train()
    log = open(out / "metrics.jsonl", "a")
    t_start = time.monotonic()
    t_ckpt = t_start
    elapsed_before = 0.0
    if resume and ckpt.is_file():
        elapsed_before = float(obj.get("meta", {}).get("train_seconds", 0.0))

    def save() -> None:
        meta = {"recipe": recipe.name, "step": step, "train_seconds": elapsed_before + time.monotonic() - t_start,
                "device": str(dev), "output_units": "m", "frame": "camera", "root_relative": True}
        save_checkpoint(ckpt, model, meta=meta, optimizer=opt.state_dict(), step=step,
                        sampler_state=sampler.state(), torch_rng=torch.get_rng_state())

    amp = recipe.amp == "bf16"
    try:
        while step < total:
            lr = _lr_at(recipe, step)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = sampler.batch(recipe.batch_size)
            xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                pred = model(xt)
            pred = pred.float()
            pred = pred - pred[:, :, :1]
            ramp = recipe.loss.velocity_ramp_steps
            w_vel = recipe.loss.w_velocity * (min(1.0, step / ramp) if ramp else 1.0)
            loss, parts = lifter_loss(pred, yt, recipe.loss.w_scale, w_vel)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"loss became {float(loss)} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            opt.step()
            step += 1
            metrics = {"step": step, "loss": float(loss.detach()), "lr": lr, **parts}
            if step % recipe.eval_every == 0 or step == total:
                metrics["val_mpjpe_mm_gt2d"] = _quick_val(model, val, dev)
            if step % recipe.log_every == 0 or "val_mpjpe_mm_gt2d" in metrics:
                metrics["elapsed_s"] = round(elapsed_before + time.monotonic() - t_start, 1)
                log.write(json.dumps(metrics) + "\n")
                log.flush()
            if on_progress:
                on_progress(step, total, metrics)
            now = time.monotonic()
            if now - t_ckpt > recipe.checkpoint_minutes * 60:
                save()
                t_ckpt = now
            if recipe.max_minutes and (now - t_start) > recipe.max_minutes * 60:
                break
    finally:
        log.close()
    save()
    return ckpt
