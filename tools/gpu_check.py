#!/usr/bin/env python3
"""The first minutes of a GPU window: is the training path right on this GPU, and how fast is it (issue 11).

    PYTHONUNBUFFERED=1 python tools/gpu_check.py --packed .data/h36m-packed --out $OUT --deadline-minutes 3

1. the chip: name, torch/Python versions, a bf16 matrix-product peak and a device copy bandwidth;
2. correctness: the device sampler on the GPU against the numpy sampler (Kolmogorov-Smirnov distances of the same
   statistics as tests/test_device_sampler.py, on the real training data); the campaign model's forward on the GPU
   against the CPU in float32 and under bf16 autocast (relative error); the shipped lifter's quick evaluation on the
   GPU against its recorded CPU figure;
3. speed: ``mbcli bench --train`` for the campaign recipe (compiled, and the pre-issue-11 loop), then
4. the collapse: the collapse-probe recipe (the run that collapsed on an H200) as it was and with its fix (warm-up
   and a velocity ramp), ``--collapse-seconds`` each, the guard judging from step 100; then more speed rows
   (DSTformer-lite at 243 frames, the issue's 150k frames/s target; eager; batch 256), until the deadline.
Writes gpu_check.json and gpu_check.log to --out and prints a short table last. Runs from the repository root
without installing mbcli.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch._dynamo  # noqa: E402

LOG: list[str] = []


def say(msg: str) -> None:
    LOG.append(msg)
    print(msg, flush=True)


def copy_bandwidth(dev: torch.device) -> float:
    """Bytes/s of a device-to-device copy of 1 GiB (read + write counted)."""
    a = torch.empty(2 ** 28, device=dev)
    b = torch.empty_like(a)
    b.copy_(a)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        b.copy_(a)
    torch.cuda.synchronize()
    return 10 * 2 * a.numel() * 4 / (time.perf_counter() - t)


def sampler_agreement(data_dir: str, dev: torch.device) -> dict:
    from scipy.stats import ks_2samp

    from mbcli.train.augment import ClipSampler, CorruptionConfig
    from mbcli.train.data import load_h36m
    from mbcli.train.device_sampler import DeviceClipSampler

    seqs = load_h36m(data_dir, ("S1",), with_sh=True)
    cfg = CorruptionConfig()
    n, L = 1500, 243
    a = ClipSampler(seqs, L, cfg, seed=0).batch(n)
    b = tuple(t.cpu().numpy() for t in DeviceClipSampler(seqs, L, cfg, seed=0, device=dev).batch(n))
    out = {}
    for name, f in {"x": lambda x, t: x[..., 0][x[..., 2] > 0], "conf": lambda x, t: x[..., 2][x[..., 2] > 0],
                    "target_x": lambda x, t: t[..., 0].ravel(),
                    "speed": lambda x, t: np.linalg.norm(np.diff(t, axis=1), axis=-1).mean(axis=(1, 2))}.items():
        out[f"ks_{name}"] = float(ks_2samp(f(*a), f(*b)).statistic)
    out["masked_numpy"], out["masked_device"] = float((a[0][..., 2] == 0).mean()), float((b[0][..., 2] == 0).mean())
    return out


def forward_agreement(dev: torch.device) -> dict:
    from mbcli.model import DSTformer, preset
    from mbcli.train.recipe import load_recipe

    torch.backends.cuda.matmul.allow_tf32 = False  # true float32 on the GPU for the fp32 comparison
    r = load_recipe("campaign-lifter")
    torch.manual_seed(0)
    m = DSTformer(preset(r.model.preset, **r.model.overrides)).eval()
    x = torch.randn(4, m.config.maxlen, 17, 3)
    with torch.inference_mode():
        ref = m.double()(x.double())
        m.float()
        cpu = m(x)
        md = m.to(dev)
        gpu = md(x.to(dev)).cpu()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf = md(x.to(dev)).float().cpu()

    def rel(a: torch.Tensor) -> float:
        return float((a.double() - ref).norm() / ref.norm())

    return {"rel_err_cpu_fp32": rel(cpu), "rel_err_gpu_fp32": rel(gpu), "rel_err_gpu_bf16_autocast": rel(bf)}


def quick_eval(data_dir: str, dev: torch.device) -> dict:
    from mbcli.inference.predictors import Lifter, LiftOptions
    from mbcli.model import load_model
    from mbcli.train.evaluate import evaluate
    from mbcli.weights import DEFAULT_LIFTER, entry

    torch.backends.cuda.matmul.allow_tf32 = False
    model = load_model(DEFAULT_LIFTER, device=str(dev))
    L = model.config.maxlen
    t = time.perf_counter()
    res = evaluate(Lifter(model, dev, LiftOptions(window=L, stride=max(1, L // 3), batch_size=64)), "sh", True,
                   data_dir)
    return {"quick_sh_gpu": res.protocol1_mpjpe_mm, "quick_sh_recorded": float(entry(DEFAULT_LIFTER)[
        "eval_quick_sh_mpjpe_mm"]), "seconds": time.perf_counter() - t}


def collapse_probe(data_dir: str, dev: torch.device, seconds: float, fixed: bool, out: Path,
                   extra: list[str]) -> dict:
    """The run that collapsed in issue 11 (collapse-probe: 128 wide, depth 5, 81 frames, batch 256, lr 1e-3 from
    step 0, velocity x20 from step 0), for ``seconds``; ``fixed``: with 200 warm-up steps and the velocity term
    ramped in over 500. The guard judges from step 100. Returns the verdict and the last validation row."""
    from mbcli.errors import TrainingError
    from mbcli.train.loop import train
    from mbcli.train.recipe import load_recipe, with_overrides

    sets = [f"data_dir={data_dir}", f"max_minutes={seconds / 60}", "eval_every=25", "log_every=25",
            "checkpoint_minutes=100", "guard.after_steps=100", "guard.stall_evals=0"]
    if fixed:
        sets += ["warmup_steps=200", "loss.velocity_ramp_steps=500"]
    sets += extra
    run = out / ("collapse_fixed" if fixed else "collapse_probe")
    verdict = "healthy"
    try:
        train(with_overrides(load_recipe("collapse-probe"), sets), run, device=str(dev))
    except TrainingError as e:
        verdict = f"{e.kind}: {e}"
    rows = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_bone_ratio" in r]
    return {"verdict": verdict, "steps": rows[-1]["step"] if rows else 0,
            "val": [(r["step"], round(r["val_mpjpe_mm_gt2d"], 1), round(r["val_bone_ratio"], 3)) for r in val]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packed", type=Path, help="the packed Human3.6M copy")
    ap.add_argument("--data", help="an unpacked Human3.6M folder instead")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--deadline-minutes", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per speed row")
    ap.add_argument("--collapse-seconds", type=float, default=30.0, help="training time of each collapse row")
    ap.add_argument("--set", action="append", default=[], help="override every speed and collapse row's recipe (a "
                    "CPU try-out: --set model.preset=tiny --set batch_size=2 --set clip_len=27 ...)")
    a = ap.parse_args()
    t0 = time.monotonic()
    a.out.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    res: dict = {"torch": torch.__version__, "python": platform.python_version(), "device": str(dev)}
    if dev.type == "cuda":
        res["gpu"] = torch.cuda.get_device_name()
    data_dir = a.data
    if a.packed:
        from mbcli.train.campaign import unpack

        data_dir = str(unpack(a.packed, Path(tempfile.mkdtemp()) / "h36m"))
    say(f"{res} data {data_dir} ({time.monotonic() - t0:.0f} s)")
    from mbcli.train.bench import bench_training, matmul_peak
    from mbcli.train.recipe import load_recipe, with_overrides

    checks = [("peak", lambda: {"bf16_tflops": matmul_peak(dev, torch.bfloat16) / 1e12,
                                **({"copy_gb_s": copy_bandwidth(dev) / 1e9} if dev.type == "cuda" else {})}),
              ("sampler", lambda: sampler_agreement(data_dir, dev)),
              ("forward", lambda: forward_agreement(dev)),
              ("quick_eval", lambda: quick_eval(data_dir, dev))]
    for name, fn in checks:
        try:
            res[name] = fn()
        except Exception as e:  # noqa: BLE001 - report and go on: the window is short
            res[name] = {"error": f"{type(e).__name__}: {e}"}
            say(traceback.format_exc())
        say(f"{name}: {json.dumps(res[name])} ({time.monotonic() - t0:.0f} s)")
    camp = load_recipe("campaign-lifter")
    lite = with_overrides(camp, ["model.preset=lite", "model.overrides={}", "batch_size=64"])
    rows = [("campaign compiled", camp, [], False), ("campaign before (issue-11 baseline)", camp, [], True),
            ("collapse probe", None, [], False), ("collapse probe, fixed", None, [], True),
            ("lite 243 B64 compiled", lite, [], False), ("lite 243 B64 before", lite, [], True),
            ("campaign eager", camp, ["compile=false"], False),
            ("campaign compiled B256", camp, ["batch_size=256"], False)]  # most needed first: the deadline cuts
    res["speed"] = {}
    cache: dict = {}
    longest = 60.0  # seconds a row may take (compile included), raised to the longest row seen
    for name, recipe, sets, baseline in rows:
        left = a.deadline_minutes * 60 - (time.monotonic() - t0)
        if left < 1.3 * longest:
            say(f"speed {name}: skipped ({left:.0f} s left before the deadline, a row may take {longest:.0f} s)")
            continue
        t_row = time.monotonic()
        torch._dynamo.reset()  # each compiled row starts clean (no shapes remembered from the previous one)
        try:
            if recipe is None:  # the collapse probe and its fix (baseline: fixed), a.collapse_seconds each
                res.setdefault("collapse", {})[name] = collapse_probe(data_dir, dev, a.collapse_seconds, baseline,
                                                                      Path(tempfile.mkdtemp()), a.set)
                say(f"{name}: {json.dumps(res['collapse'][name])} ({time.monotonic() - t0:.0f} s)")
                longest = max(longest, time.monotonic() - t_row)
                continue
            r = with_overrides(dataclasses.replace(recipe, data_dir=data_dir), [*sets, *a.set])
            res["speed"][name] = bench_training(r, str(dev), steps=a.steps, baseline=baseline, cache=cache)
        except Exception as e:  # noqa: BLE001
            res["speed"][name] = {"error": f"{type(e).__name__}: {e}"}
            say(traceback.format_exc())
        longest = max(longest, time.monotonic() - t_row)
        say(f"speed {name}: {json.dumps(res['speed'][name])} ({time.monotonic() - t0:.0f} s)")
    res["seconds"] = time.monotonic() - t0
    (a.out / "gpu_check.json").write_text(json.dumps(res, indent=1) + "\n")
    (a.out / "gpu_check.log").write_text("\n".join(LOG) + "\n")
    print("\n| speed row | frames/s | ms/step | sampler ms | model ms | share of bf16 peak |")
    print("|---|---|---|---|---|---|")
    for name, r in res["speed"].items():
        if "error" in r:
            print(f"| {name} | error: {r['error'][:60]} | | | | |")
            continue
        print(f"| {name} | {r['train_frames_per_s']:,.0f} | {r['step_ms']:.1f} | {r['sampler_ms']:.1f} | "
              f"{r['model_ms']:.1f} | {100 * r['share_of_bf16_peak']:.1f}% |")
    for name, c in res.get("collapse", {}).items():
        print(f"{name}: {c.get('verdict', c.get('error', ''))[:90]}; (step, val mm, bone ratio) {c.get('val', [])[-3:]}")
    s, f, q = res.get("sampler", {}), res.get("forward", {}), res.get("quick_eval", {})
    print(f"sampler KS max {max((v for k, v in s.items() if k.startswith('ks_')), default=float('nan')):.3f}; "
          f"forward rel err gpu fp32 {f.get('rel_err_gpu_fp32', float('nan')):.1e} bf16 "
          f"{f.get('rel_err_gpu_bf16_autocast', float('nan')):.1e}; quick SH on GPU {q.get('quick_sh_gpu')} "
          f"(recorded {q.get('quick_sh_recorded')}); {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
