"""Turn a training run's checkpoint into a shipped lifter: float16 weights-only file in weights/, evaluated.

    python tools/ship_lifter.py runs/cpu1/last.pt weights/lifter_small_h36m.pt --stride 27

Prints the evaluation figures (Human3.6M S9+S11, SH and GT-2D input, full and quick) as JSON and the manifest
entry to paste into weights/manifest.toml.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from mbcli.inference.predictors import Lifter, LiftOptions
from mbcli.model import load_model, save_checkpoint
from mbcli.train.evaluate import evaluate
from mbcli.weights import sha256


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_checkpoint")
    ap.add_argument("out")
    ap.add_argument("--stride", type=int, default=None, help="eval window stride (default: window/3)")
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    obj = torch.load(args.run_checkpoint, map_location="cpu", weights_only=False)
    model = load_model(args.run_checkpoint)
    meta = {k: v for k, v in obj.get("meta", {}).items()}
    meta["step"] = int(obj.get("step", meta.get("step", 0)))
    out = save_checkpoint(args.out, model, meta=meta, half=True)
    shipped = load_model(out)
    L = shipped.config.maxlen
    lifter = Lifter(shipped, "cpu", LiftOptions(window=L, stride=args.stride or max(1, L // 3), flip=True,
                                                batch_size=64))
    figures = {}
    for quick in ([True] if args.skip_full else [True, False]):
        for inp in ("sh", "gt"):
            t = time.perf_counter()
            r = evaluate(lifter, inp, quick=quick)
            key = f"{inp}{'_quick' if quick else ''}"
            figures[key] = r.to_dict()
            figures[key]["seconds"] = round(time.perf_counter() - t, 1)
            print(key, r.protocol1_mpjpe_mm, r.protocol2_pmpjpe_mm, flush=True)
    print(json.dumps({"file": str(out), "sha256": sha256(out), "meta": meta, "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
