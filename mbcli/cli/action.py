"""``mbcli action``: video or keypoint file -> the actions of every tracked person, per segment and overall."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors
from mbcli.pipeline import ActionConfig, LiftConfig, run_action
from mbcli.weights import DEFAULT_ACTION


def _runs(segments: list[dict]) -> list[tuple[int, int, str, float]]:
    """Consecutive segments with the same best label merged: (start, end, label, mean prob)."""
    out: list[list] = []
    for s in segments:
        best = s["top"][0]
        if out and out[-1][2] == best["label"] and s["start_frame"] <= out[-1][1]:
            out[-1][1] = max(out[-1][1], s["end_frame"])
            out[-1][3].append(best["prob"])
        else:
            out.append([s["start_frame"], s["end_frame"], best["label"], [best["prob"]]])
    return [(a, b, lab, sum(p) / len(p)) for a, b, lab, p in out]


@app.command()
@handle_errors
def action(
    input: Path = typer.Argument(..., help="A video, an mbcli.motion JSON or any 2D keypoint file mbcli lift reads."),
    labels: str = typer.Option(None, "--labels", help="Open vocabulary: comma-separated labels, or a built-in set "
                               "(h36m, ntu60, ntu120). Default: the model's own classes."),
    weights: str = typer.Option(DEFAULT_ACTION, "--weights", help="Manifest name or action checkpoint (mbcli train "
                                "--config action-h36m)."),
    top_k: int = typer.Option(5, "--top-k", help="Labels listed per person and per segment."),
    json_out: Path = typer.Option(None, "--json", help="Write the result as JSON (schema in the README)."),
    person: str = typer.Option("all", "--person", "-p", help="all, largest, or a track id."),
    step: int = typer.Option(None, help="Frame step inside a window (default: fps / 25)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    fps: float = typer.Option(None, help="Frame rate of a keypoint file that does not record one (default 30)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Top actions of each tracked person, over time and overall."""
    cfg = ActionConfig(weights=weights, labels=labels, top_k=top_k, step=step,
                       json=str(json_out) if json_out else None,
                       lift=LiftConfig(person=person, device=device, fps=fps))
    with con.stage_progress(progress) as on_progress:
        res = run_action(input, cfg, on_progress=on_progress)
    for p in res.doc["people"]:
        con.out.print(f"[bold]{input.name}, person {p['track_id']}[/]")  # a title line (a table title wraps)
        table = Table(show_header=True)
        table.add_column("frames")
        table.add_column("action", justify="left")
        table.add_column("prob", justify="right")
        for e in p["overall"]:
            table.add_row("overall", e["label"], f"{e['prob']:.2f}")
        for a, b, lab, pr in _runs(p["segments"]):
            table.add_row(f"{a}-{b - 1}", lab, f"{pr:.2f}")
        con.out.print(table)
    for f in res.files:
        con.out.print(f"written: {f}")
