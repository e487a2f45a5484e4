"""``mbcli lift``: video or keypoint file -> 3D motion files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors
from mbcli.pipeline import LiftConfig, parse_formats, run_lift, summary_dict
from mbcli.weights import DEFAULT_LIFTER


@app.command()
@handle_errors
def lift(
    input: Path = typer.Argument(..., help="A video, an mbcli.motion JSON, or a COCO/AlphaPose/OpenPose/MMPose "
                                 "keypoint file (or an OpenPose folder)."),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder (created if missing)."),
    formats: str = typer.Option("all", "--formats", "-f", help="Comma list of json,bvh,npz,video, or all."),
    person: str = typer.Option("all", "--person", "-p", help="all, largest, or a track id."),
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu or cuda."),
    weights: str = typer.Option(DEFAULT_LIFTER, help="Lifter weights: a name from weights/manifest.toml or a "
                                "checkpoint file (ours or MotionBERT's)."),
    weights_config: str = typer.Option(None, help="base or lite, for MotionBERT checkpoint files."),
    window: int = typer.Option(243, help="Window length in frames (at most the model's maxlen)."),
    stride: int = typer.Option(None, help="Frames between window starts (default: two thirds of the "
                               "window, so windows overlap by a third); overlaps are blended."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Flip test-time augmentation."),
    batch_size: int = typer.Option(8, help="Windows per forward pass."),
    precision: str = typer.Option("fp32", help="fp32 (exact) or bf16 (faster on CPU, ~1% deviation)."),
    runtime: str = typer.Option("torch", help="torch, or onnx (ONNX Runtime on the CPU: same fp32 results, faster; "
                                "the first run per weights exports a cached model)."),
    detect_max_width: int = typer.Option(None, help="Downscale frames wider than this for detection."),
    fps: float = typer.Option(None, help="Frame rate of a keypoint file that does not record one (default 30)."),
    video: Path = typer.Option(None, help="Source video for the overlay when INPUT is a keypoint file."),
    bvh_units: str = typer.Option("m", help="BVH length units: m (Blender) or cm (Maya/MotionBuilder)."),
    raw_3d: bool = typer.Option(False, "--raw-3d", help="Write the network's 3D joints as they are; by default the "
                                "JSON/NPZ joints are the BVH skeleton's (fixed bone lengths), so all files agree."),
    azimuth: float = typer.Option(30.0, help="Azimuth of the 3D view in the overlay video, degrees."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Detect, track and lift every person in INPUT to 3D; write JSON, BVH, NPZ and a side-by-side video."""
    cfg = LiftConfig(formats=parse_formats(formats), person=person, device=device, weights=weights,
                     weights_config=weights_config, window=window, stride=stride, flip=flip, batch_size=batch_size,
                     precision=precision, runtime=runtime,
                     detect_max_width=detect_max_width, fps=fps, video=str(video) if video else None,
                     bvh_units=bvh_units, azimuth=azimuth, raw_3d=raw_3d)
    with con.stage_progress(progress) as on_progress:
        res = run_lift(input, out, cfg, on_progress=on_progress)
    s = summary_dict(res)
    table = Table(title=f"mbcli lift: {input.name}", show_header=False)
    table.add_row("people", str(s["people"]) + "  (track ids " + ", ".join(str(r.track_id) for r in res.results) + ")")
    table.add_row("frames", str(s["frames"]))
    table.add_row("lifter weights", s["weights"])
    if s["fps_end_to_end"]:
        table.add_row("fps achieved", f"{s['fps_end_to_end']:.1f} (end to end, incl. model load)")
    table.add_row("time", ", ".join(f"{k} {v:.2f}s" for k, v in s["timings_s"].items()))
    table.add_row("files written", "\n".join(s["files"]))
    for n in s["notes"]:
        table.add_row("note", n)
    con.out.print(table)
