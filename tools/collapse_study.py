#!/usr/bin/env python3
"""Why a lifter run collapses: train recipe variants side by side and measure, along the way, what each loss term
does to the output's scale (issue 11; README "Training", "The collapse").

    python tools/collapse_study.py --config collapse-probe --steps 40 --every 10 --out runs/collapse \
        --variant base: --variant warmup:warmup_steps=200 --variant novel:loss.w_velocity=0 --set batch_size=32

Each ``--variant NAME:KEY=VALUE,KEY=VALUE`` trains the recipe (with the common ``--set`` overrides; the same seed and
clips for every variant; no guard, no checkpoint) and, every ``--every`` steps, measures on one fixed batch of 16
training clips:
- ``bone``: predicted / true bone length (1: right size, 0: collapsed onto the root); ``val``: validation MPJPE (mm);
- ``dL/ds`` of each loss term: the derivative of the term along the output's own scale, L(s * pred) at s = 1
  (negative: growing the skeleton lowers the term; positive: the term pulls the skeleton smaller);
- ``|g|`` of each term: the norm of its gradient over all parameters (who drives the update);
- ``sat``: the share of the tanh motion representation at |r| > 0.99 (saturated units pass no gradient);
- ``jstd``: the spread of the representation across joints over its overall spread (0: every joint the same).
Prints a table per variant and writes ``study.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mbcli.model import DSTformer, preset  # noqa: E402
from mbcli.train import losses  # noqa: E402
from mbcli.train.health import bone_ratio  # noqa: E402
from mbcli.train.loop import StepModel, _load_data, _lr_at, _quick_val  # noqa: E402
from mbcli.train.recipe import load_recipe, with_overrides  # noqa: E402


def probe(model: torch.nn.Module, batch: tuple[torch.Tensor, ...], recipe) -> dict:
    x, y = batch[0], batch[1]
    rep = model.representation(x)
    pred = model.head(rep).float()
    pred = pred - pred[:, :, :1]
    out = {"bone": float(bone_ratio(pred.detach(), y)),
           "sat": float((rep.detach().abs() > 0.99).float().mean()),
           "jstd": float(rep.detach().std(dim=2).mean() / rep.detach().std().clamp_min(1e-12))}
    terms = {"mpjpe": lambda p: losses.mpjpe(p, y),
             "n_mpjpe": lambda p: recipe.loss.w_scale * losses.n_mpjpe(p, y),
             "velocity": lambda p: recipe.loss.w_velocity * losses.velocity(p, y)}
    params = [p for p in model.parameters() if p.requires_grad]
    for name, fn in terms.items():
        s = torch.ones((), requires_grad=True, device=pred.device)
        (ds,) = torch.autograd.grad(fn(s * pred.detach()), s)
        g = torch.autograd.grad(fn(pred), params, retain_graph=True, allow_unused=True)
        out[f"dLds_{name}"] = float(ds)
        out[f"g_{name}"] = float(torch.sqrt(sum((gi.float() ** 2).sum() for gi in g if gi is not None)))
    out["mpjpe_mm"] = float(losses.mpjpe(pred.detach(), y)) * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="collapse-probe")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("runs/collapse"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--variant", action="append", default=[], help="NAME:KEY=VALUE,KEY=VALUE")
    a = ap.parse_args()
    dev = torch.device(a.device)
    base = with_overrides(load_recipe(a.config), [*a.set, f"steps={a.steps}"])
    results: dict = {}
    loaded: dict = {}
    for spec in a.variant or ["base:"]:
        name, _, kv = spec.partition(":")
        recipe = with_overrides(base, [s for s in kv.split(",") if s])
        cfg = preset(recipe.model.preset, **{**recipe.model.overrides, "output_units": "m"})
        L = min(recipe.clip_len, cfg.maxlen)
        key = (L, recipe.corruption, recipe.data_dir, recipe.use_sh)
        if key not in loaded:  # variants that see the same data share it (and the fixed probe batch)
            data = _load_data(dataclasses.replace(recipe, val_clips=64), L, recipe.seed, dev, with_labels=False)
            loaded[key] = (data, data.sampler.batch(16))
        data, fixed = loaded[key]
        torch.manual_seed(recipe.seed)
        data.sampler.gen.manual_seed(recipe.seed)  # every variant sees the same clips
        run = StepModel.build(recipe, DSTformer(cfg), dev)
        rows = []
        for step in range(a.steps + 1):
            if step % a.every == 0:
                run.model.eval()
                val = _quick_val(run.model, data.val)
                run.model.train()
                r = {"step": step, "val": round(val["val_mpjpe_mm_gt2d"], 1),
                     **{k: round(v, 4) for k, v in probe(run.model, fixed, recipe).items()}}
                rows.append(r)
                print(name, json.dumps(r), flush=True)
            if step == a.steps:
                break
            for group in run.opt.param_groups:
                group["lr"] = _lr_at(recipe, step)
            run.step(data.sampler.batch(recipe.batch_size), step)
        results[name] = {"overrides": kv, "rows": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "study.json").write_text(json.dumps(results, indent=1) + "\n")
    cols = ["step", "val", "bone", "dLds_mpjpe", "dLds_n_mpjpe", "dLds_velocity", "g_mpjpe", "g_n_mpjpe",
            "g_velocity", "sat", "jstd"]
    for name, res in results.items():
        print(f"\n{name} ({res['overrides'] or 'recipe as is'})")
        print("| " + " | ".join(cols) + " |")
        for r in res["rows"]:
            print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    main()
