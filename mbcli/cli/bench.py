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


def _check_video_options(memory: str | None, video: Path | None, detections: Path | None) -> None:
    """--video and --detections belong to --memory; the video must be a file, the cache a file or made from it."""
    from mbcli.bench.memory import cached_frames
    from mbcli.errors import ConfigError

    if memory is None and (video is not None or detections is not None):
        raise ConfigError("--video and --detections go with --memory FRAMES")
    if video is not None and not video.is_file():
        raise ConfigError(f"--video {video}: no such file")
    if detections is not None and detections.is_file():
        cached_frames(detections)  # a readable cache, before the long work
    elif detections is not None:
        if video is None:
            raise ConfigError(f"--detections {detections}: no such file (give --video CLIP to make it)")
        if not detections.parent.is_dir():
            raise ConfigError(f"--detections {detections}: its folder does not exist")


def _memory_bench(lengths: tuple[int, ...], weights: str, video: Path | None,
                  detections: Path | None) -> tuple[str, list[tuple[str, str]], dict[str, object]]:
    """Title, rows and figures of --memory: the synthetic 2D input, or a video whose detections are replayed."""
    import tempfile

    from mbcli.bench.memory import clip_detections, memory_rows

    counts = ", ".join(map(str, lengths))
    if video is None and detections is None:
        with con.console.status(f"lifting synthetic inputs of {counts} frames"):
            rows, figures = memory_rows(lengths, weights)
        return "mbcli bench --memory", rows, figures
    with tempfile.TemporaryDirectory(prefix="mbcli-bench-") as tmp:
        if detections is not None and detections.is_file():
            cache = detections
        else:
            with con.console.status(f"detecting {video} once, for real, to replay its detections"):
                cache = clip_detections(video, detections, Path(tmp))
        with con.console.status(f"lifting replayed videos of {counts} frames"):
            rows, figures = memory_rows(lengths, weights, detections=cache)
    if video is not None:
        figures["video"] = str(video)
    return "mbcli bench --memory (video: detections replayed, decoding and detector networks not run)", rows, figures


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
    threads: Annotated[int | None, typer.Option(help="torch threads (default: what every command picks: "
                                                "$MBCLI_THREADS, else the CPUs the load average leaves free, so "
                                                "figures depend on the machine's load).")] = None,
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
                                               "2D input of 2 people (detection skipped), or with --video on a "
                                               "video: a comma list of frame counts, e.g. 230,2760,9200 (108000: "
                                               "an hour at 30 fps); lifter: the last of --models (default: the "
                                               "shipped one).")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="--memory: measure a video of each length made by "
                                               "looping this clip: the clip is decoded and detected once, for real, "
                                               "and its detections are replayed for every length, so decoding and "
                                               "the detector networks are NOT run (nor measured); tracking, "
                                               "re-identification, 2D cleaning, lifting, placing and exports "
                                               "are.")] = None,
    detections: Annotated[Path | None, typer.Option("--detections", help="--memory: replay this cache of a clip's "
                                                    "detections instead of detecting --video (written there from "
                                                    "--video when the file does not exist yet).")] = None,
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
    --train RECIPE, training throughput instead; with --memory FRAMES, peak RSS against input length instead (of a
    synthetic 2D file, or with --video CLIP of the clip looped, its detections replayed)."""
    from mbcli.bench.training import run_training_bench, set_threads
    from mbcli.export import write_atomic

    check_json_out(json_out)
    lengths = _frame_counts(memory) if memory is not None else ()
    _check_video_options(memory, video, detections)
    set_threads(threads)
    if memory is not None:
        title, rows, figures = _memory_bench(lengths, models.split(",")[-1].strip() or DEFAULT_LIFTER, video,
                                             detections)
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
        n = torch.get_num_threads()
        title = f"mbcli bench ({figures['device']}, {n} thread{'' if n == 1 else 's'})"
    _print(title, rows)
    if json_out:
        write_atomic(json_out, json.dumps(figures, indent=2) + "\n")
