"""``mbcli eval``: the standard Human3.6M benchmark (S9, S11; MPJPE and P-MPJPE per action); with ``--task action``
an action checkpoint's top-1/top-5 on Human3.6M, or on NTU RGB+D's test split with ``--ntu PATH [--protocol]``;
with ``--task zeroshot`` a text-aligned checkpoint on held-out CMU subjects. The evaluations are in
mbcli/train/eval_tasks.py; this file validates the options and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.app import app, handle_errors
from mbcli.cli.options import Device, Flip, JsonOut, WeightsConfig, check_json_out
from mbcli.errors import ConfigError
from mbcli.labels import ZERO_SHOT_HOLDOUT
from mbcli.weights import DEFAULT_ACTION, DEFAULT_LIFTER


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for i, c in enumerate(columns):
        table.add_column(c, justify="right" if i == 1 or "mm" in c else "left")
    for r in rows:
        table.add_row(*r)
    return table


def _print(table: Table, doc: dict[str, Any], json_out: Path | None) -> None:
    from mbcli.export import write_atomic

    con.out.print(table)
    if json_out:
        write_atomic(json_out, json.dumps(doc, indent=2) + "\n")


def _accuracy_table(title: str, what: str, unit: str, res: Any) -> tuple[Table, dict[str, Any]]:
    """Per-class top-1 rows, then the overall top-1 / top-5 / window top-1 row (H36M and NTU evaluations)."""
    d = res.to_dict()
    per = d.get("per_action_top1_percent", d.get("per_class_top1_percent", {}))
    rows = [[a, f"{v:.1f}"] for a, v in per.items()]
    rows.append([f"[bold]all {unit}", f"[bold]top-1 {res.top1:.1f}, top-5 {res.top5:.1f} "
                                      f"(windows: top-1 {res.window_top1:.1f})"])
    return _table(title, [what, "top-1 (%)"], rows), d


@app.command("eval")
@handle_errors
def eval_(
    weights: Annotated[str, typer.Option("--weights", help="Lifter weights: manifest name or checkpoint file "
                                         "(--task action / zeroshot: the shipped action model, action-default, "
                                         "unless given).")] = DEFAULT_LIFTER,
    weights_config: WeightsConfig = None,
    input: Annotated[str, typer.Option("--input", help="sh (Stacked Hourglass detections, the headline) or gt "
                                       "(projected ground truth).")] = "sh",
    quick: Annotated[bool, typer.Option("--quick", help="Fixed subset (one camera, first 300 frames per "
                                        "sequence).")] = False,
    data: Annotated[Path | None, typer.Option("--data", help="Folder laid out like ../shared/data/h36m (default: "
                                              "that one).")] = None,
    flip: Flip = True,
    stride: Annotated[int | None, typer.Option(help="Window stride (default: a third of the model's window).")] = None,
    device: Device = "auto",
    json_out: JsonOut = None,
    task: Annotated[str, typer.Option("--task", help="pose (MPJPE), world (root trajectory, floor, foot contacts "
                                      "and skate with the true cameras), action (cross-subject top-1/top-5 of an "
                                      "action checkpoint given with --weights) or zeroshot (a text-aligned checkpoint "
                                      "on held-out CMU subjects, their descriptions as labels).")] = "pose",
    holdout: Annotated[str, typer.Option("--holdout", help="--task zeroshot: the CMU subjects the model was not "
                                         "trained on.")] = ",".join(ZERO_SHOT_HOLDOUT),
    ntu: Annotated[Path | None, typer.Option("--ntu", help="--task action on NTU RGB+D instead of Human3.6M: pyskl's "
                                             "ntu60_hrnet.pkl / ntu120_hrnet.pkl or a folder of .skeleton "
                                             "files.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="--ntu: the split whose test part is scored, xsub "
                                                 "(default), xview or xset.")] = None,
) -> None:
    """Evaluate a lifter on Human3.6M S9 and S11 (59 of the 60 sequences exist in the shared data)."""
    from mbcli.train import eval_tasks as T

    check_json_out(json_out)
    if task not in T.TASKS:
        raise ConfigError(f"--task must be pose, world, action or zeroshot, got {task!r}")
    if (ntu is not None or protocol is not None) and task != "action":
        raise ConfigError(f"--{'ntu' if ntu is not None else 'protocol'} goes with --task action, not --task {task}")
    if protocol is not None and ntu is None:
        raise ConfigError("--protocol needs --ntu PATH (the NTU RGB+D data to score)")
    if task in ("action", "zeroshot") and weights == DEFAULT_LIFTER:
        weights = DEFAULT_ACTION
    with con.stage_progress() as on_progress:
        on_step = (lambda d, t: on_progress("eval", d, t)) if on_progress else None
        if task == "pose":
            res = T.eval_pose(weights, weights_config, input, quick, data, flip, stride, device, on_step)
        elif task == "world":
            world_res = T.eval_world(weights, weights_config, input, quick, data, flip, stride, device, on_step)
        elif task == "action" and ntu is not None:
            ntu_res = T.eval_action_ntu(weights, ntu, protocol or "xsub", device, on_step, con.warn)
        elif task == "action":
            act_res = T.eval_action(weights, input, quick, data, device, on_step)
        else:
            subjects = tuple(h.strip() for h in holdout.split(",") if h.strip())
            zs_res = T.eval_zero_shot(weights, subjects, device, on_step, con.warn)
    if task == "pose":
        d = res.to_dict()
        rows = [[a, f"{v['mpjpe_mm']:.1f}", f"{v['pmpjpe_mm']:.1f}"] for a, v in d["per_action"].items()]
        rows.append(["[bold]average", f"[bold]{res.protocol1_mpjpe_mm:.1f}", f"[bold]{res.protocol2_pmpjpe_mm:.1f}"])
        _print(_table(f"Human3.6M S9+S11, input {input}{' (quick subset)' if quick else ''}: {res.sequences} "
                      f"sequences, {res.frames} frames", ["action", "MPJPE (mm)", "P-MPJPE (mm)"], rows), d, json_out)
    elif task == "world":
        w = world_res
        rows = [["root position, true focal length", f"{w.root_error_mm:.0f} mm"],
                ["root position, focal length prior (60 degree field of view)", f"{w.root_error_prior_mm:.0f} mm"],
                ["absolute MPJPE, camera frame (true focal length)", f"{w.abs_mpjpe_mm:.0f} mm"],
                ["floor: up direction", f"{w.floor_angle_deg:.1f} degrees"],
                ["floor: camera height", f"{w.camera_height_error_mm:.0f} mm"
                                         f"{f' ({w.floor_fallbacks} level-camera fallbacks)' if w.floor_fallbacks else ''}"],
                ["foot contact labels vs the true motion's", f"precision {100 * w.contact_precision:.1f}%, recall "
                                                             f"{100 * w.contact_recall:.1f}%"],
                ["foot skate (feet labelled planted), before -> after foot locking",
                 f"{w.skate_mm_per_frame:.2f} -> {w.skate_after_mm_per_frame:.2f} mm/frame (true motion "
                 f"{w.skate_gt_mm_per_frame:.2f})"],
                ["floor penetration, before -> after", f"{w.penetration_mm:.1f} -> {w.penetration_after_mm:.1f} mm "
                                                       f"mean; {100 * w.penetration_share:.1f}% -> "
                                                       f"{100 * w.penetration_after_share:.1f}% deeper than 1 cm"],
                ["foot locking moves knees and ankles by", f"{w.lock_change_mm:.1f} mm mean (absolute MPJPE "
                                                           f"{w.abs_mpjpe_mm:.0f} -> {w.abs_mpjpe_after_mm:.0f} mm)"]]
        _print(_table(f"Human3.6M S9+S11 in the world, input {input}{' (quick subset)' if quick else ''}: "
                      f"{w.sequences} sequences, {w.frames} frames", ["what", "error"], rows), w.to_dict(), json_out)
    elif task == "action" and ntu is not None:
        _print(*_accuracy_table(f"NTU RGB+D {ntu_res.num_classes} action recognition, {protocol or 'xsub'} test "
                                f"split: {ntu_res.samples} samples, {ntu_res.windows} windows", "class", "samples",
                                ntu_res), json_out)
    elif task == "action":
        _print(*_accuracy_table(f"Human3.6M action recognition, S9+S11, input {input}"
                                f"{' (quick subset)' if quick else ''}: {act_res.sequences} sequences, "
                                f"{act_res.windows} windows", "action", "sequences", act_res), json_out)
    else:
        d = zs_res.to_dict()
        rows = [[a, f"{v:.1f}", max(zs_res.confusions[a].items(), key=lambda kv: kv[1])[0]]
                for a, v in d["per_label_top1_percent"].items()]
        rows.append(["[bold]all sequences", f"[bold]top-1 {zs_res.top1:.1f}, top-5 {zs_res.top5:.1f}",
                     f"chance {d['chance_top1_percent']:.1f} / {d['chance_top5_percent']:.1f}"])
        _print(_table(f"Zero-shot on CMU subjects {', '.join(zs_res.holdout)}: {zs_res.sequences} sequences, "
                      f"{len(zs_res.labels)} candidate descriptions", ["description", "top-1 (%)",
                                                                       "most often predicted"], rows), d, json_out)
        for k, v in sorted(d["by_label_novelty"].items()):
            what = "seen in training (other subjects)" if k == "seen" else "never seen in training"
            con.out.print(f"descriptions {what}: {v['sequences']} sequences, top-1 {v['top1_percent']:.1f}, "
                          f"top-5 {v['top5_percent']:.1f} ({', '.join(v['labels'])})")
