"""``mbcli action``: any input -> tracked people -> action probabilities per window (segment) and overall.

1. The action model and the labels are loaded first (a built-in label set, a comma list scored in text space, or
   the model's own classes; mbcli/labels.py), so bad weights or labels fail before detection.
2. The input is read and its people chosen (pipeline/inputs.py).
3. Each person's track is cut into windows and scored (inference/action.py): one PersonActions each.
4. With ``json``, the document of export/action_json.py is written all or nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from mbcli.detect import check_detector
from mbcli.errors import ClipTooShort, ConfigError
from mbcli.labels import resolve_labels
from mbcli.pipeline.inputs import ProgressFn, check_fps, input_kind, read_people
from mbcli.pipeline.lift import LiftConfig
from mbcli.pipeline.outputs import Output, check_json_destination, write_outputs
from mbcli.track import check_person
from mbcli.types import PersonActions
from mbcli.weights import DEFAULT_ACTION


@dataclass(frozen=True)
class ActionConfig:
    """``mbcli action`` settings. weights: a manifest name (action-default: the shipped H36M action model) or an
    action checkpoint (mbcli train, task: action); labels: None (the model's classes), a built-in set name (h36m,
    ntu60, ntu120) or a comma-separated list (open vocabulary); top_k: labels listed per person and segment; step:
    frame step inside a window (None: fps / 25); json: a file to write the result to; lift: how people are read
    (person, device, fps)."""

    weights: str = DEFAULT_ACTION
    labels: str | None = None
    top_k: int = 5
    step: int | None = None
    json: str | None = None
    lift: LiftConfig = field(default_factory=LiftConfig)


@dataclass
class ActionRun:
    """What ``run_action`` found: the labels scored, one PersonActions per chosen person, the files written and
    seconds per stage; partial: why the input was read only in part (a video that ended early), else ""; notes: the
    people left out (too short for one window). The JSON's notes are both."""

    labels: list[str]
    people: list[PersonActions]
    files: list[Path]
    timings: dict[str, float]
    partial: str = ""
    notes: list[str] = field(default_factory=list)


def _check(cfg: ActionConfig) -> None:
    if cfg.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {cfg.top_k}")
    if cfg.step is not None and cfg.step < 1:
        raise ConfigError(f"--step must be at least 1, got {cfg.step}")
    check_person(cfg.lift.person)
    check_detector(cfg.lift.detector)
    check_fps(cfg.lift.fps)


def run_action(input_path: str | os.PathLike, cfg: ActionConfig | None = None,
               on_progress: ProgressFn | None = None) -> ActionRun:
    """Recognise the actions of every chosen person of a video or keypoint file (segments and overall)."""
    from mbcli.export.action_json import write_action_json
    from mbcli.inference.action import ActionRecognizer
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model

    cfg = cfg or ActionConfig()
    _check(cfg)
    path = Path(input_path)
    kind = input_kind(path)
    if cfg.json is not None:
        check_json_destination(Path(cfg.json), [path])
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    model, meta = load_action_model(cfg.weights)
    rec = ActionRecognizer(model, meta, resolve_device(cfg.lift.device), resolve_labels(cfg.labels))
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    people = read_people(path, kind, person=cfg.lift.person, detector=cfg.lift.detector,
                         detect_max_width=cfg.lift.detect_max_width, fps=cfg.lift.fps, on_progress=on_progress)
    timings["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    found: list[PersonActions] = []
    notes: list[str] = []
    for tid, kp in zip(people.ids, people.keypoints):
        try:
            found.append(rec.recognize(kp, cfg.step, track_id=tid))
        except ClipTooShort as e:  # one short track is left out with a note; with nobody recognised it is the error
            if len(people.ids) == 1:
                raise
            notes.append(f"person {tid} left out: {e}")
    if not found:
        raise ClipTooShort(f"no person's track is long enough for action recognition ({notes[-1]})")
    timings["recognize"] = time.perf_counter() - t0
    top_k = min(cfg.top_k, len(rec.labels))
    said = [n for n in (people.partial, *notes) if n]  # the JSON's notes
    outs = [Output(Path(cfg.json), lambda p: write_action_json(p, rec.labels, found, top_k, said))] if cfg.json else []
    files = write_outputs(outs)
    return ActionRun(list(rec.labels), found, files, timings, people.partial, notes)
