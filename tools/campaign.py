#!/usr/bin/env python3
"""The lifter training campaign, one GPU window at a time (mbcli/train/campaign.py has the whole story).

On the GPU machine, as one device command (the packed Human3.6M copy carried in a git-ignored .data/ folder):

    PYTHONUNBUFFERED=1 python tools/campaign.py round --packed .data/h36m-packed --out $OUT --budget-minutes 7

Back here, with the files the command returned:

    python tools/campaign.py ingest /work/.device/<...>/files --gpu-seconds 640 [--promote]
    python tools/campaign.py status

``round`` trains the campaign recipe from the committed campaign weights for a wall-clock budget, evaluates the quick
subset (and the full protocol when time allows) and writes lifter_campaign.pt + round.json + metrics.jsonl to --out;
``ingest`` commits nothing itself: it updates weights/campaign/ and weights/campaign.toml for you to commit;
``promote`` makes the latest ingested round the default lifter when its full-protocol figures beat the default's.
Runs from the repository root without installing mbcli (python 3.11/3.12, torch >= 2.11; no PyAV needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbcli.errors import MbcliError  # noqa: E402


def _round(a: argparse.Namespace) -> None:
    from mbcli.train.campaign import run_round

    rec = run_round(a.out, a.budget_minutes, device=a.device, packed=a.packed, data_dir=a.data,
                    deadline_minutes=a.deadline_minutes, full=not a.no_full, recipe_sets=tuple(a.set))
    print("\n| round | status | steps | frames/s | train s | quick SH | quick GT | full SH | full GT |")
    print("|---|---|---|---|---|---|---|---|---|")

    def fig(k: str) -> str:
        r = rec.get(k)
        return f"{r['protocol1_mpjpe_mm']:.1f} / {r['protocol2_pmpjpe_mm']:.1f}" if r else "-"

    print(f"| {rec['round']} | {rec['status']} | {rec.get('steps', '-')} | {rec.get('frames_per_s', '-')} | "
          f"{rec.get('train_seconds', '-')} | {fig('quick_sh')} | {fig('quick_gt')} | {fig('full_sh')} | "
          f"{fig('full_gt')} |")


def _ingest(a: argparse.Namespace) -> None:
    from mbcli.train.campaign import ROUND_FILE, beats_default, ingest, promote

    row = ingest(a.dir, a.gpu_seconds, force=a.force)
    print(f"ingested round {row['round']}: weights/campaign/ and a row in weights/campaign.toml")
    ok, why = beats_default(json.loads((a.dir / ROUND_FILE).read_text()))
    print(why)
    if a.promote and ok:
        promote(device=a.device)


def _promote(a: argparse.Namespace) -> None:
    from mbcli.train.campaign import promote

    promote(a.round, device=a.device)


def _status(a: argparse.Namespace) -> None:
    from mbcli.train.campaign import read_log
    from mbcli.weights import DEFAULT_LIFTER, entry

    spec, rounds = read_log()
    print(f"campaign recipe {spec.recipe}, {len(rounds)} round(s), "
          f"{sum(float(r.get('gpu_seconds') or 0) for r in rounds) / 60:.1f} GPU minutes")
    for r in rounds:
        print(f"  round {r['round']} {r.get('date')} {r.get('status')}: {r.get('steps')} steps, quick SH "
              f"{r.get('quick_sh_mpjpe_mm', '-')} GT {r.get('quick_gt_mpjpe_mm', '-')}, full SH "
              f"{r.get('full_sh_mpjpe_mm', '-')} GT {r.get('full_gt_mpjpe_mm', '-')} mm")
    e = entry(DEFAULT_LIFTER)
    print(f"default lifter {e['name']}: full SH {e.get('eval_full_sh_mpjpe_mm')} GT {e.get('eval_full_gt_mpjpe_mm')} mm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("round", help="one campaign round (a GPU command)")
    r.add_argument("--out", type=Path, required=True, help="folder for the files to bring back ($OUT)")
    r.add_argument("--budget-minutes", type=float, default=7.0, help="training wall-clock budget")
    r.add_argument("--deadline-minutes", type=float, default=9.3,
                   help="the whole round must end by then (the full protocol is skipped when it would not)")
    r.add_argument("--packed", type=Path, help="the packed Human3.6M copy (h36m-packed) to unpack first")
    r.add_argument("--data", help="an unpacked Human3.6M folder instead of --packed")
    r.add_argument("--device", default="auto")
    r.add_argument("--no-full", action="store_true", help="quick subset only")
    r.add_argument("--set", action="append", default=[], help="override a campaign recipe value, KEY=VALUE")
    r.set_defaults(fn=_round)
    i = sub.add_parser("ingest", help="take a round's returned files into weights/campaign and the campaign log")
    i.add_argument("dir", type=Path)
    i.add_argument("--gpu-seconds", type=float, help="device time the window cost (the device tool's held_s)")
    i.add_argument("--promote", action="store_true", help="promote it when it beats the default lifter")
    i.add_argument("--force", action="store_true", help="ingest a round that ended collapsed, diverged or in error")
    i.add_argument("--device", default="cpu", help="where promotion re-measures the quick subset")
    i.set_defaults(fn=_ingest)
    p = sub.add_parser("promote", help="make the latest ingested round the default lifter")
    p.add_argument("--round", type=int)
    p.add_argument("--device", default="cpu")
    p.set_defaults(fn=_promote)
    s = sub.add_parser("status", help="the campaign log and the default lifter's figures")
    s.set_defaults(fn=_status)
    a = ap.parse_args()
    try:
        a.fn(a)
    except MbcliError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
