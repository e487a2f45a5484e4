"""``mbcli bench``: lifter throughput, end-to-end fps on a sample clip, and peak memory; or training throughput."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.app import app, handle_errors
from mbcli.cli.options import JsonOut, RecipeSets, check_json_out
from mbcli.weights import DEFAULT_LIFTER

DEFAULT_CLIP = Path("samples/sports2d_640.mp4")


def _print(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("figure", justify="right")
    for a, b in rows:
        table.add_row(a, b)
    con.out.print(table)


def _frame_counts(text: str) -> tuple[int, ...]:
    from mbcli.errors import ConfigError

    try:
        counts = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--memory takes a comma list of frame counts, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise ConfigError(f"--memory takes frame counts of at least 1, got {text!r}")
    return counts


@app.command()
@handle_errors
def bench(
    clip: Annotated[Path | None, typer.Option(help="Clip for the end-to-end measurement (default: the shipped "
                                              "samples/sports2d_640.mp4 when run from a checkout).")] = None,
    models: Annotated[str, typer.Option(help="Comma list: lite, base, campaign (the campaign recipe's model; random "
                                        "weights, for speed) and/or manifest names / checkpoint files.")
                      ] = f"lite,base,campaign,{DEFAULT_LIFTER}",
    batch: Annotated[int, typer.Option(help="Windows per forward pass for the lifter benchmark.")] = 2,
    repeats: Annotated[int, typer.Option(help="Timed forward passes per model.")] = 3,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's choice).")] = None,
    end_to_end: Annotated[bool, typer.Option("--e2e/--no-e2e", help="Also time mbcli lift on CLIP.")] = True,
    bf16: Annotated[bool, typer.Option("--bf16/--no-bf16", help="Also time the lifters in bfloat16.")] = True,
    onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="Also time the lifters through ONNX Runtime.")] = True,
    fit: Annotated[bool, typer.Option("--fit/--no-fit", help="Also time body fitting (mbcli mesh): anny when it is "
                                      "available, SMPL when $MBCLI_SMPL_MODEL is set.")] = True,
    action: Annotated[bool, typer.Option("--action/--no-action", help="Also time action recognition (the shipped "
                                         "action model on a 3000-frame track, classifier and open-vocabulary "
                                         "scoring).")] = True,
    memory: Annotated[str | None, typer.Option("--memory", help="Instead: peak RSS of mbcli lift (JSON, NPZ, BVH) "
                                               "against input length, each in a fresh process, on a synthetic "
                                               "2D input of 2 people (detection skipped): a comma list of frame "
                                               "counts, e.g. 230,2760,9200 (108000: an hour at 30 fps); lifter: the "
                                               "last of --models (default: the shipped one).")] = None,
    json_out: JsonOut = None,
    train: Annotated[str | None, typer.Option("--train", help="Instead: time training with this recipe (built-in "
                                              "name or YAML): frames/s, FLOP/s and the share of the chip's measured "
                                              "bf16 peak.")] = None,
    train_steps: Annotated[int, typer.Option("--train-steps", help="--train: timed steps (after 5 warm-up "
                                             "steps).")] = 20,
    baseline: Annotated[bool, typer.Option("--baseline", help="--train: the loop before issue 11 (numpy sampler on a "
                                           "thread, unfused AdamW, a host read-back every step), for before/after "
                                           "figures.")] = False,
    sets: RecipeSets = [],  # noqa: B006  (Typer reads the default; it is never mutated)
    data: Annotated[Path | None, typer.Option("--data", help="--train: Human3.6M folder (default: the recipe's, else "
                                              "../shared/data/h36m).")] = None,
) -> None:
    """Measure lifter frames/s (batch of non-overlapping 243-frame windows), end-to-end fps and peak RSS; with
    --train RECIPE, training throughput instead; with --memory FRAMES, peak RSS against input length instead."""
    from mbcli.bench.training import run_training_bench, set_threads
    from mbcli.export import write_atomic

    check_json_out(json_out)
    set_threads(threads)
    if memory is not None:
        from mbcli.bench.memory import memory_rows

        lengths = _frame_counts(memory)
        with con.console.status("lifting synthetic inputs of " + ", ".join(map(str, lengths)) + " frames"):
            rows, figures = memory_rows(lengths, models.split(",")[-1].strip() or DEFAULT_LIFTER)
        title = "mbcli bench --memory"
    elif train is not None:
        with con.console.status("timing training (data load, warm-up, timed steps)"):
            title, rows, figures = run_training_bench(train, sets, data, device, train_steps, baseline)
    else:
        import torch

        from mbcli.bench.speed import SpeedBenchConfig, run_speed_bench

        if end_to_end and clip is None:
            clip = DEFAULT_CLIP
            if not clip.is_file():
                con.warn(f"{clip} not found here: no end-to-end rows (pass --clip PATH)")
                clip = None
        cfg = SpeedBenchConfig(clip=clip if end_to_end else None,
                               models=tuple(m.strip() for m in models.split(",") if m.strip()), batch=batch,
                               repeats=repeats, device=device, bf16=bf16, onnx=onnx, fit=fit, action=action)
        rows, figures = run_speed_bench(cfg)
        title = f"mbcli bench ({figures['device']}, {torch.get_num_threads()} threads)"
    _print(title, rows)
    if json_out:
        write_atomic(json_out, json.dumps(figures, indent=2) + "\n")
