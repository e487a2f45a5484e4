"""``mbcli train``: run a training recipe (built-in name or YAML path), checkpointing and resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors


@app.command()
@handle_errors
def train(
    config: str = typer.Option(..., "--config", "-c", help="Recipe: a built-in name (e.g. pose-h36m-cpu, smoke) or a "
                               "YAML file."),
    out: Path = typer.Option(Path("runs/train"), "--out", "-o", help="Run folder (checkpoints, metrics.jsonl)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    max_steps: int = typer.Option(None, help="Stop after this many steps in total."),
    init: Path = typer.Option(None, "--init", help="Start from these weights (e.g. a pretraining run's last.pt); "
                              "overrides the recipe's init_from."),
    ntu_data: Path = typer.Option(None, "--ntu-data", help="NTU RGB+D data (pyskl pickle or folder of .skeleton "
                                  "files) for the action-ntu60 recipe; overrides the recipe's ntu_data."),
    sets: list[str] = typer.Option([], "--set", help="Override a recipe value, KEY=VALUE (YAML), e.g. "
                                   "batch_size=128, loss.w_velocity=0, compile=true; repeatable."),
) -> None:
    """Train the DSTformer lifter on Human3.6M with MotionBERT-style 2D corruption, or an action model.

    Multi-GPU: torchrun --nproc_per_node N -m mbcli train --config ... (DistributedDataParallel; rank 0 reports).
    """
    import dataclasses
    import os

    from mbcli.train.loop import train as run
    from mbcli.train.recipe import load_recipe, ntu_data_path, with_overrides

    recipe = with_overrides(load_recipe(config), sets)
    if init is not None:
        recipe = dataclasses.replace(recipe, init_from=str(init))
    if ntu_data is not None:
        recipe = dataclasses.replace(recipe, ntu_data=str(ntu_data))
    if recipe.dataset != "h36m":
        ntu_data_path(recipe)  # a missing path fails before the progress bar starts
    if os.environ.get("RANK", "0") != "0":
        run(recipe, out, device=device, resume=resume, max_steps=max_steps)
        return
    cols = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*cols, console=con.console) as bar:
        task = bar.add_task("train", total=recipe.steps, loss="-")

        def on_progress(step: int, total: int, m: dict) -> None:
            bar.update(task, completed=step, total=total, loss=f"{m['loss']:.4f}" if "loss" in m else "-")

        ckpt = run(recipe, out, device=device, resume=resume, on_progress=on_progress, max_steps=max_steps)
    con.out.print(f"checkpoint: {ckpt}\nmetrics: {out / 'metrics.jsonl'}")
