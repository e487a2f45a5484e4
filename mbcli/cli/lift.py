"""``mbcli lift``: video or keypoint file -> 3D motion files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.app import app, exit_if_partial, handle_errors
from mbcli.cli.options import (
    DetectMaxWidth,
    Detector,
    Device,
    Flip,
    Focal,
    Fov,
    Fps,
    LifterWeights,
    Person,
    ShowProgress,
    WeightsConfig,
)
from mbcli.pipeline.lift import LiftConfig, LiftResult, parse_formats, run_lift
from mbcli.types import Keypoints2D
from mbcli.weights import DEFAULT_LIFTER


def summary_table(title: str, res: LiftResult) -> Table:
    """The summary ``mbcli lift`` prints: people, frames, weights, speed, time per stage, files, notes."""
    table = Table(title=title, show_header=False)
    table.add_row("people", f"{len(res.results)}  (track ids {', '.join(str(r.track_id) for r in res.results)})")
    table.add_row("frames", str(res.frames))
    for r in res.results[:8]:
        table.add_row(f"person {r.track_id}", person_span(r.keypoints_2d))
    table.add_row("lifter weights", res.weights)
    if res.scene is not None:
        K, floor = res.scene.camera, res.scene.floor
        table.add_row("camera", f"focal {K.fx:.0f} px ({K.source}), {floor.tilt_deg:.1f} degrees from level, "
                                f"{floor.height_m:.2f} m above the floor")
        table.add_row("floor", f"from the feet ({floor.inliers} of {floor.samples} samples)" if floor.method == "feet"
                      else "level camera assumed (see note)")
    total = sum(res.timings.values())
    if total > 0 and res.frames:
        table.add_row("fps achieved", f"{res.frames / total:.1f} (end to end, incl. model load)")
    con.add_run_rows(table, res.timings, res.files, res.notes)
    return table


def person_span(kp: Keypoints2D) -> str:
    """Where a person's track runs and how much of it the detector saw, e.g. "frames 12-229, seen in 96% of them"."""
    fi = kp.frame_indices
    if not len(fi):
        return "no frames"
    seen = float((kp.scores > 0).any(axis=1).mean())
    return f"frames {fi[0]}-{fi[-1]}, seen in {100 * seen:.0f}% of them"


@app.command()
@handle_errors
def lift(
    input: Annotated[Path, typer.Argument(help="A video, an mbcli.motion JSON, or a COCO/AlphaPose/OpenPose/MMPose "
                                          "keypoint file (or an OpenPose folder).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")] = Path("out"),
    formats: Annotated[str, typer.Option("--formats", "-f", help="Comma list of json,bvh,npz,video, or all.")] = "all",
    person: Person = "all",
    device: Device = "auto",
    weights: LifterWeights = DEFAULT_LIFTER,
    weights_config: WeightsConfig = None,
    window: Annotated[int, typer.Option(help="Window length in frames (at most the model's maxlen).")] = 243,
    stride: Annotated[int | None, typer.Option(help="Frames between window starts (default: two thirds of the "
                                               "window, so windows overlap by a third); overlaps are blended.")] = None,
    flip: Flip = True,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = 8,
    precision: Annotated[str, typer.Option(help="fp32 (exact) or bf16 (faster on CPU, ~1% deviation).")] = "fp32",
    runtime: Annotated[str, typer.Option(help="torch, or onnx (ONNX Runtime on the CPU: same fp32 results; faster "
                                         "only for the lite model, slower for the default lifter, see the README's "
                                         "Speed; the first run per weights exports a cached model).")] = "torch",
    detector: Detector = "default",
    detect_max_width: DetectMaxWidth = None,
    fps: Fps = None,
    video: Annotated[Path | None, typer.Option(help="Source video for the overlay when INPUT is a keypoint "
                                               "file.")] = None,
    bvh_units: Annotated[str, typer.Option(help="BVH length units: m (Blender) or cm (Maya/MotionBuilder).")] = "m",
    raw_3d: Annotated[bool, typer.Option("--raw-3d", help="Write the network's 3D joints as they are; by default the "
                                         "JSON/NPZ joints are the BVH skeleton's (fixed bone lengths), so all files "
                                         "agree.")] = False,
    azimuth: Annotated[float, typer.Option(help="Azimuth of the 3D view in the overlay video, degrees.")] = 30.0,
    focal: Focal = None,
    fov: Fov = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="BVH without root motion (root-relative, standing on "
                                           "y = 0, the camera's up), as before world placement.")] = False,
    foot_lock: Annotated[bool, typer.Option("--foot-lock/--no-foot-lock", help="Pin planted feet in the world motion "
                                            "(no sliding, no floor penetration).")] = True,
    progress: ShowProgress = True,
) -> None:
    """Detect, track and lift every person in INPUT to 3D; write JSON, BVH, NPZ and a side-by-side video."""
    cfg = LiftConfig(formats=parse_formats(formats), person=person, device=device, weights=weights,
                     weights_config=weights_config, window=window, stride=stride, flip=flip, batch_size=batch_size,
                     precision=precision, runtime=runtime, detector=detector, detect_max_width=detect_max_width,
                     fps=fps, video=str(video) if video else None, bvh_units=bvh_units, raw_3d=raw_3d,
                     azimuth=azimuth, focal=focal, fov=fov, in_place=in_place, foot_lock=foot_lock)
    with con.stage_progress(progress) as on_progress:
        res = run_lift(input, out, cfg, on_progress=on_progress)
    con.out.print(summary_table(f"mbcli lift: {input.name}", res))
    exit_if_partial(res.partial)
