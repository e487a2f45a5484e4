"""``mbcli mesh``: video, keypoint file or motion.json -> body-model parameters (SMPL or anny), overlay, GLB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors
from mbcli.pipeline import LiftConfig, MeshConfig, run_mesh
from mbcli.weights import DEFAULT_LIFTER


@app.command()
@handle_errors
def mesh(
    input: Path = typer.Argument(..., help="A video, an mbcli.motion JSON from `mbcli lift` (its 3D is used as is), "
                                 "or any 2D keypoint file `mbcli lift` reads (lifted first)."),
    out: Path = typer.Option(None, "--out", "-o", help="Parameter file to write (.npz). Default: smpl.npz, or "
                             "body.npz with --body-model anny."),
    body_model: str = typer.Option("smpl", "--body-model", help="smpl (needs --smpl-model) or anny (open model; "
                                   "optional extra, see the README)."),
    smpl_model: str = typer.Option(None, "--smpl-model", help="SMPL model file (.pkl or .npz) from "
                                   "https://smpl.is.tue.mpg.de; default $MBCLI_SMPL_MODEL."),
    video: Path = typer.Option(None, "--video", help="Write a mesh overlay video here (.mp4; video input only). "
                               "Default: OUT with .mp4 for video input."),
    no_video: bool = typer.Option(False, "--no-video", help="Do not render the overlay video."),
    glb: Path = typer.Option(None, "--glb", help="Write an animated skinned mesh here (.glb). Default: OUT with "
                             ".glb for anny."),
    person: str = typer.Option("largest", "--person", "-p", help="largest, or a track id."),
    fov: float = typer.Option(60.0, help="The camera's diagonal field of view in degrees (for the 2D fit and the "
                              "overlay; phones ~70-80, most webcams ~60-70)."),
    iterations: int = typer.Option(100, help="Optimiser iterations of the fit (L-BFGS)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda (lifting)."),
    weights: str = typer.Option(DEFAULT_LIFTER, help="Lifter weights (as for mbcli lift)."),
    fps: float = typer.Option(None, help="Frame rate of a keypoint file that does not record one (default 30)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Fit SMPL (or anny) to one person: parameters for every frame, a mesh overlay video and a GLB."""
    name = "smpl.npz" if body_model == "smpl" else "body.npz"
    out = out or Path(name)
    is_video = input.is_file() and input.suffix.lower() not in (".json",)
    video_out = None if no_video else (video or (out.with_suffix(".mp4") if is_video else None))
    glb_out = glb or (out.with_suffix(".glb") if body_model == "anny" else None)
    cfg = MeshConfig(out=str(out), body_model=body_model, smpl_model=smpl_model, person=person,
                     video=str(video_out) if video_out else None, glb=str(glb_out) if glb_out else None, fov=fov,
                     iterations=iterations, lift=LiftConfig(device=device, weights=weights, fps=fps))
    with con.stage_progress(progress) as on_progress:
        res = run_mesh(input, cfg, on_progress=on_progress)
    fit = res.fit
    table = Table(title=f"mbcli mesh: {input.name}", show_header=False)
    table.add_row("body model", f"{fit.model.name} ({fit.model.num_vertices} vertices, {fit.model.num_joints} joints)")
    table.add_row("person", f"track {res.track_id}, {fit.num_frames} frames at {res.fps:g} fps")
    err = fit.error_mm
    table.add_row("fit error", f"{err.mean():.1f} mm mean (median {float(np.median(err)):.1f}, max {err.max():.1f}) "
                  "to the lifted 3D joints, root-relative")
    table.add_row("fit speed", f"{fit.fps:.0f} frames/s ({fit.iterations} iterations, {fit.seconds:.2f} s)")
    table.add_row("time", ", ".join(f"{k} {v:.2f}s" for k, v in res.timings.items()))
    table.add_row("files written", "\n".join(str(p) for p in res.files))
    for n in res.notes:
        table.add_row("note", n)
    con.out.print(table)
