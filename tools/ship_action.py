"""Turn an action training run's checkpoint into the shipped action model: float16 weights, no optimizer or sampler
state, evaluated.

    python tools/ship_action.py runs/action1/last.pt weights/action_small_h36m.pt

Keeps what load_action_model needs (model config and weights, the action head and its config, classes, label
sentences and their text embeddings, the training meta). Prints, as JSON, the file's sha256 and the evaluation
figures of the shipped file: Human3.6M cross-subject action top-1/top-5 (S9+S11, SH and GT 2D, and the quick SH
subset; `mbcli eval --task action`) and, when it has a text head, zero-shot on the held-out CMU subjects (`mbcli eval --task zeroshot`).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mbcli.model import save_checkpoint
from mbcli.model.action import load_action_model
from mbcli.train.evaluate_action import evaluate_action, evaluate_zero_shot_cmu
from mbcli.train.recipe import load_recipe
from mbcli.weights import sha256

KEEP = ("action_head", "head_config", "classes", "label_bank", "text_bank")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_checkpoint")
    ap.add_argument("out")
    ap.add_argument("--skip-eval", action="store_true")
    args = ap.parse_args()
    obj = torch.load(args.run_checkpoint, map_location="cpu", weights_only=False)
    model, _ = load_action_model(args.run_checkpoint)
    meta = dict(obj.get("meta", {}))
    meta["step"] = int(obj.get("step", meta.get("step", 0)))
    if "cmu_holdout" not in meta:  # runs started before the loop recorded it: take it from the built-in recipe
        recipe = load_recipe(meta["recipe"])
        meta.update(cmu_fraction=recipe.cmu_fraction, cmu_holdout=list(recipe.cmu_holdout))
    extra = {k: obj[k] for k in KEEP if k in obj}
    extra["action_head"] = {k: v.half() if v.is_floating_point() else v for k, v in extra["action_head"].items()}
    out = save_checkpoint(args.out, model.backbone, meta=meta, half=True, **extra)
    shipped, _ = load_action_model(out)
    figures: dict = {}
    if not args.skip_eval:
        for inp, quick in (("sh", False), ("gt", False), ("sh", True)):
            t = time.perf_counter()
            key = f"h36m_{inp}{'_quick' if quick else ''}"
            figures[key] = {**evaluate_action(shipped, inp, quick=quick).to_dict(),
                            "seconds": round(time.perf_counter() - t, 1)}
            print(key, figures[key]["top1_percent"], figures[key]["top5_percent"], flush=True)
        if shipped.head.embed is not None:
            holdout = tuple(meta.get("cmu_holdout") or ("08", "13"))
            figures["zeroshot_cmu"] = evaluate_zero_shot_cmu(shipped, holdout).to_dict()
    print(json.dumps({"file": str(out), "sha256": sha256(out), "meta": meta, "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
