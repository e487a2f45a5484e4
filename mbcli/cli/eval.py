"""``mbcli eval``: the standard Human3.6M benchmark (S9, S11; MPJPE and P-MPJPE per action)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors
from mbcli.weights import DEFAULT_LIFTER


@app.command("eval")
@handle_errors
def eval_(
    weights: str = typer.Option(DEFAULT_LIFTER, help="Lifter weights: manifest name or checkpoint file."),
    weights_config: str = typer.Option(None, help="base or lite, for MotionBERT checkpoint files."),
    input: str = typer.Option("sh", "--input", help="sh (Stacked Hourglass detections, the headline) or gt "
                              "(projected ground truth)."),
    quick: bool = typer.Option(False, "--quick", help="Fixed subset (one camera, first 300 frames per sequence)."),
    data: Path = typer.Option(None, "--data", help="Folder laid out like ../shared/data/h36m (default: that one)."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Flip test-time augmentation."),
    stride: int = typer.Option(None, help="Window stride (default: a third of the model's window)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_out: Path = typer.Option(None, "--json", help="Also write the result as JSON to this path."),
    task: str = typer.Option("pose", "--task", help="pose (MPJPE) or action (cross-subject top-1/top-5 of an action "
                             "checkpoint given with --weights)."),
) -> None:
    """Evaluate a lifter on Human3.6M S9 and S11 (59 of the 60 sequences exist in the shared data)."""
    from mbcli.export import write_atomic

    if task == "action":
        _eval_action(weights, input, quick, data, device, json_out)
        return
    if task != "pose":
        from mbcli.errors import ConfigError

        raise ConfigError(f"--task must be pose or action, got {task!r}")
    from mbcli.inference.predictors import Lifter, LiftOptions
    from mbcli.model import load_model, resolve_device
    from mbcli.train.evaluate import evaluate

    dev = resolve_device(device)
    model = load_model(weights, device=str(dev), config=weights_config)
    L = model.config.maxlen
    lifter = Lifter(model, dev, LiftOptions(window=L, stride=stride or max(1, L // 3), flip=flip, batch_size=16))
    with con.stage_progress() as on_progress:
        res = evaluate(lifter, input, quick, str(data) if data else None,
                       on_progress=(lambda d, t: on_progress("eval", d, t)) if on_progress else None)
    d = res.to_dict()
    table = Table(title=f"Human3.6M S9+S11, input {input}{' (quick subset)' if quick else ''}: "
                        f"{res.sequences} sequences, {res.frames} frames")
    for col in ("action", "MPJPE (mm)", "P-MPJPE (mm)"):
        table.add_column(col, justify="right" if "mm" in col else "left")
    for a, v in d["per_action"].items():
        table.add_row(a, f"{v['mpjpe_mm']:.1f}", f"{v['pmpjpe_mm']:.1f}")
    table.add_row("[bold]average", f"[bold]{res.protocol1_mpjpe_mm:.1f}", f"[bold]{res.protocol2_pmpjpe_mm:.1f}")
    con.out.print(table)
    if json_out:
        write_atomic(json_out, json.dumps(d, indent=2) + "\n")


def _eval_action(weights: str, input: str, quick: bool, data: Path | None, device: str, json_out: Path | None) -> None:
    from mbcli.export import write_atomic
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.evaluate_action import evaluate_action

    dev = resolve_device(device)
    model, _ = load_action_model(weights)
    with con.stage_progress() as on_progress:
        res = evaluate_action(model, input, quick, str(data) if data else None, device=str(dev),
                              on_progress=(lambda d, t: on_progress("eval", d, t)) if on_progress else None)
    d = res.to_dict()
    table = Table(title=f"Human3.6M action recognition, S9+S11, input {input}{' (quick subset)' if quick else ''}: "
                        f"{res.sequences} sequences, {res.windows} windows")
    table.add_column("action")
    table.add_column("top-1 (%)", justify="right")
    for a, v in d["per_action_top1_percent"].items():
        table.add_row(a, f"{v:.1f}")
    table.add_row("[bold]all sequences", f"[bold]top-1 {res.top1:.1f}, top-5 {res.top5:.1f} "
                  f"(windows: top-1 {res.window_top1:.1f})")
    con.out.print(table)
    if json_out:
        write_atomic(json_out, json.dumps(d, indent=2) + "\n")
