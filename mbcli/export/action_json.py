"""The JSON of ``mbcli action --json`` (README: action JSON): the labels scored, then per person the top labels
overall and per segment (window of video frames, end exclusive), probabilities rounded to 4 decimals."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from mbcli.export import write_atomic
from mbcli.types import ActionScores, PersonActions


def _top(scores: ActionScores, k: int) -> list[dict]:
    return [{"label": label, "prob": round(p, 4)} for label, p in scores.top(k)]


def action_document(labels: Sequence[str], people: Sequence[PersonActions], top_k: int,
                    notes: Sequence[str] = ()) -> dict:
    """{"labels": [...], "people": [{"track_id", "overall": top, "segments": [{"start_frame", "end_frame",
    "top"}]}]}, each top a list of {"label", "prob"} best first; "notes": [...] (what the run could not do: a
    video that ended early, a person too short to recognise) only when there are any."""
    doc: dict = {"labels": list(labels)}
    if notes:
        doc["notes"] = list(notes)
    doc["people"] = [
        {"track_id": int(p.track_id), "overall": _top(p.overall, top_k),
         "segments": [{"start_frame": s.window[0], "end_frame": s.window[1], "top": _top(s, top_k)}
                      for s in p.segments]}
        for p in people]
    return doc


def write_action_json(path: str | os.PathLike, labels: Sequence[str], people: Sequence[PersonActions],
                      top_k: int, notes: Sequence[str] = ()) -> Path:
    """Write the document atomically; returns its Path."""
    return write_atomic(path, json.dumps(action_document(labels, people, top_k, notes), indent=1) + "\n")
