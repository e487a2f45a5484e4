"""Options that several commands share, declared once (Typer ``Annotated`` types) so their names, defaults and help
mean the same everywhere. A command declares ``device: Device = "auto"``; the default stays in the signature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Device = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu or cuda.")]
LifterWeights = Annotated[str, typer.Option("--weights", help="Lifter weights: a name from weights/manifest.toml or "
                                            "a checkpoint file (ours or MotionBERT's).")]
WeightsConfig = Annotated[str | None, typer.Option("--weights-config", help="base or lite, for MotionBERT "
                                                   "checkpoint files without a config.")]
Fps = Annotated[float | None, typer.Option("--fps", help="Frame rate of a keypoint file that does not record one "
                                           "(default 30).")]
Person = Annotated[str, typer.Option("--person", "-p", help="all, largest, or a track id.")]
ShowProgress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]
Flip = Annotated[bool, typer.Option("--flip/--no-flip", help="Flip test-time augmentation.")]
Detector = Annotated[str, typer.Option("--detector", help="2D detector for video input: default (BlazePose full "
                                       "landmarks), blazepose-lite (faster, less precise) or blazepose-heavy (the "
                                       "slowest and most precise; built from its .tflite first, see "
                                       "weights/manifest.toml).")]
DetectMaxWidth = Annotated[int | None, typer.Option("--detect-max-width", help="Downscale frames wider than this "
                                                    "for detection.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Also write the result as JSON to this path.")]


def check_json_out(path: Path | None) -> None:
    """Preflight for --json: a .json file in a writable place (ConfigError before the work, not after it)."""
    from mbcli.pipeline.outputs import check_json_destination

    if path is not None:
        check_json_destination(path)
RecipeSets = Annotated[list[str], typer.Option("--set", help="Override a recipe value, KEY=VALUE (YAML), e.g. "
                                              "batch_size=128, loss.w_velocity=0, compile=true; repeatable.")]
Focal = Annotated[float | None, typer.Option("--focal", help="The camera's focal length in pixels, if known (places "
                                              "people at the right distance).")]
Fov = Annotated[float | None, typer.Option("--fov", help="Else the camera's diagonal field of view in degrees (phones "
                                           "~65-80, webcams ~55-78). Default: a 60 degree prior.")]
