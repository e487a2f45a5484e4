"""``mbcli action``: video or keypoint file -> the actions of every tracked person, per segment and overall."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.app import app, exit_if_partial, handle_errors
from mbcli.cli.options import Detector, Device, Fps, JsonOut, Person, ShowProgress
from mbcli.pipeline.action import ActionConfig, run_action
from mbcli.pipeline.lift import LiftConfig
from mbcli.types import ActionScores
from mbcli.weights import DEFAULT_ACTION


def merged_runs(segments: tuple[ActionScores, ...]) -> list[tuple[int, int, str, float]]:
    """Consecutive, touching segments with the same best label merged: (start, end, label, mean probability of
    that label over the merged segments)."""
    out: list[tuple[int, int, str, list[float]]] = []
    for s in segments:
        label, prob = s.top(1)[0]
        prob = round(prob, 4)
        start, end = s.window
        if out and out[-1][2] == label and start <= out[-1][1]:
            a, b, _, probs = out[-1]
            out[-1] = (a, max(b, end), label, probs + [prob])
        else:
            out.append((start, end, label, [prob]))
    return [(a, b, label, sum(p) / len(p)) for a, b, label, p in out]


@app.command()
@handle_errors
def action(
    input: Annotated[Path, typer.Argument(help="A video, an mbcli.motion JSON or any 2D keypoint file mbcli lift "
                                          "reads.")],
    labels: Annotated[str | None, typer.Option("--labels", help="Open vocabulary: comma-separated labels, or a "
                                               "built-in set (h36m, ntu60, ntu120). Default: the model's own "
                                               "classes.")] = None,
    weights: Annotated[str, typer.Option("--weights", help="Manifest name or action checkpoint (mbcli train "
                                         "--config action-h36m).")] = DEFAULT_ACTION,
    top_k: Annotated[int, typer.Option("--top-k", help="Labels listed per person and per segment.")] = 5,
    json_out: JsonOut = None,
    person: Person = "all",
    step: Annotated[int | None, typer.Option(help="Frame step inside a window (default: fps / 25).")] = None,
    device: Device = "auto",
    detector: Detector = "default",
    fps: Fps = None,
    progress: ShowProgress = True,
) -> None:
    """Top actions of each tracked person, over time and overall."""
    cfg = ActionConfig(weights=weights, labels=labels, top_k=top_k, step=step,
                       json=str(json_out) if json_out else None,
                       lift=LiftConfig(person=person, device=device, fps=fps, detector=detector))
    with con.stage_progress(progress) as on_progress:
        res = run_action(input, cfg, on_progress=on_progress)
    k = min(top_k, len(res.labels))
    for p in res.people:
        con.out.print(f"[bold]{input.name}, person {p.track_id}[/]")  # a title line (a table title wraps)
        table = Table(show_header=True)
        table.add_column("frames")
        table.add_column("action", justify="left")
        table.add_column("prob", justify="right")
        for label, prob in p.overall.top(k):
            table.add_row("overall", label, f"{round(prob, 4):.2f}")
        for a, b, label, prob in merged_runs(p.segments):
            table.add_row(f"{a}-{b - 1}", label, f"{prob:.2f}")
        con.out.print(table)
    for f in res.files:
        con.out.print(f"written: {f}")
    for note in res.notes:
        con.out.print(f"note: {note}", soft_wrap=True)
    exit_if_partial(res.partial)
