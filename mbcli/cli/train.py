"""``mbcli train``: run a training recipe (built-in name or YAML path), checkpointing and resumable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mbcli.cli import console as con
from mbcli.cli.app import app, handle_errors
from mbcli.cli.options import Device, RecipeSets


@app.command()
@handle_errors
def train(
    config: Annotated[str, typer.Option("--config", "-c", help="Recipe: a built-in name (e.g. pose-h36m-cpu, smoke) "
                                        "or a YAML file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (checkpoints, metrics.jsonl).")
                   ] = Path("runs/train"),
    device: Device = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps in total.")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Start from these weights (e.g. a pretraining run's "
                                              "last.pt); overrides the recipe's init_from.")] = None,
    ntu_data: Annotated[Path | None, typer.Option("--ntu-data", help="NTU RGB+D data (pyskl pickle or folder of "
                                                  ".skeleton files) for the action-ntu60 recipe; overrides the "
                                                  "recipe's ntu_data.")] = None,
    sets: RecipeSets = [],  # noqa: B006  (Typer reads the default; it is never mutated)
) -> None:
    """Train the DSTformer lifter on Human3.6M with MotionBERT-style 2D corruption, or an action model.

    Multi-GPU: torchrun --nproc_per_node N -m mbcli train --config ... (DistributedDataParallel; rank 0 reports).
    """
    from mbcli.train.loop import preflight
    from mbcli.train.loop import train as run
    from mbcli.train.recipe import load_recipe, prepare_recipe

    recipe = prepare_recipe(load_recipe(config), sets, init=init, ntu_data=ntu_data)
    if os.environ.get("RANK", "0") != "0":
        run(recipe, out, device=device, resume=resume, max_steps=max_steps)
        return
    # (train does it too) before the progress bar: a refusal is the only line
    start = preflight(out, resume, max_steps, recipe)
    if resume:
        con.out.print(f"resuming {out} at step {start} of {recipe.steps}")
    cols = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*cols, console=con.console) as bar:
        task = bar.add_task("train", total=recipe.steps, loss="-")

        def on_progress(step: int, total: int, m: dict) -> None:
            bar.update(task, completed=step, total=total, loss=f"{m['loss']:.4f}" if "loss" in m else "-")

        ckpt = run(recipe, out, device=device, resume=resume, on_progress=on_progress, max_steps=max_steps)
    con.out.print(f"checkpoint: {ckpt}\nmetrics: {out / 'metrics.jsonl'}")
