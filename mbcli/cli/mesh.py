"""``mbcli mesh``: video, keypoint file or motion.json -> body-model parameters (SMPL or anny), overlay, GLB."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.app import app, exit_if_partial, handle_errors
from mbcli.cli.options import Detector, Device, Focal, Fov, Fps, LifterWeights, ShowProgress
from mbcli.pipeline.lift import LiftConfig
from mbcli.pipeline.mesh import MeshConfig, MeshResult, run_mesh
from mbcli.weights import DEFAULT_LIFTER


def summary_table(title: str, res: MeshResult) -> Table:
    """The summary ``mbcli mesh`` prints: model, person, fit error and speed, time per stage, files, notes."""
    m = res.motion
    table = Table(title=title, show_header=False)
    table.add_row("body model", f"{m.model} ({m.num_vertices} vertices, {m.num_joints} joints)")
    table.add_row("person", f"track {res.track_id}, {m.num_frames} frames at {m.fps:g} fps")
    err = m.error_mm
    table.add_row("fit error", f"{err.mean():.1f} mm mean (median {float(np.median(err)):.1f}, max {err.max():.1f}) "
                  "to the lifted 3D joints, root-relative")
    speed = m.num_frames / max(res.fit_seconds, 1e-9)
    table.add_row("fit speed", f"{speed:.0f} frames/s ({res.fit_iterations} iterations, {res.fit_seconds:.2f} s)")
    con.add_run_rows(table, res.timings, res.files, res.notes)
    return table


@app.command()
@handle_errors
def mesh(
    input: Annotated[Path, typer.Argument(help="A video, an mbcli.motion JSON from `mbcli lift` (its 3D is used as "
                                          "is), or any 2D keypoint file `mbcli lift` reads (lifted first).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Parameter file to write (.npz). Default: "
                                             "smpl.npz, or body.npz with --body-model anny.")] = None,
    body_model: Annotated[str, typer.Option("--body-model", help="smpl (needs --smpl-model) or anny (open model; "
                                            "optional extra, see the README).")] = "smpl",
    smpl_model: Annotated[str | None, typer.Option("--smpl-model", help="SMPL model file (.pkl or .npz) from "
                                                   "https://smpl.is.tue.mpg.de; default $MBCLI_SMPL_MODEL.")] = None,
    overlay: Annotated[Path | None, typer.Option("--overlay", help="Write a mesh overlay video here (.mp4; video "
                                                 "input only). Default: OUT with .mp4 for video input.")] = None,
    no_overlay: Annotated[bool, typer.Option("--no-overlay", help="Do not render the overlay video.")] = False,
    glb: Annotated[Path | None, typer.Option("--glb", help="Write an animated skinned mesh here (.glb). Default: OUT "
                                             "with .glb for anny.")] = None,
    person: Annotated[str, typer.Option("--person", "-p", help="largest, or a track id.")] = "largest",
    focal: Focal = None,
    fov: Fov = None,
    iterations: Annotated[int, typer.Option(help="Optimiser iterations of the fit (L-BFGS).")] = 100,
    device: Device = "auto",
    weights: LifterWeights = DEFAULT_LIFTER,
    detector: Detector = "default",
    fps: Fps = None,
    progress: ShowProgress = True,
) -> None:
    """Fit SMPL (or anny) to one person: parameters for every frame, a mesh overlay video and a GLB."""
    out = out or Path("smpl.npz" if body_model == "smpl" else "body.npz")
    is_video = input.is_file() and input.suffix.lower() not in (".json",)
    overlay_out = None if no_overlay else (overlay or (out.with_suffix(".mp4") if is_video else None))
    glb_out = glb or (out.with_suffix(".glb") if body_model == "anny" else None)
    cfg = MeshConfig(out=str(out), body_model=body_model, smpl_model=smpl_model, person=person,
                     overlay=str(overlay_out) if overlay_out else None, glb=str(glb_out) if glb_out else None, fov=fov,
                     focal=focal,
                     iterations=iterations,
                     lift=LiftConfig(device=device, weights=weights, fps=fps, detector=detector))
    with con.stage_progress(progress) as on_progress:
        res = run_mesh(input, cfg, on_progress=on_progress)
    con.out.print(summary_table(f"mbcli mesh: {input.name}", res))
    exit_if_partial(res.partial)
