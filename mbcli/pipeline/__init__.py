"""The flows behind mbcli's commands, one module each, over shared input reading and output writing.

- ``inputs``: what a path holds (a video, an mbcli.motion file, a 2D keypoint file), decided by content once; reading
  it into tracked h36m17 people (detecting and tracking a video), and choosing people.
- ``outputs``: one staged, all-or-nothing writer used by every flow.
- ``lift``: ``mbcli lift``, people -> 3D -> JSON, NPZ, BVH, overlay video.
- ``mesh``: ``mbcli mesh``, one person -> body-model fit -> parameter file, GLB, mesh overlay video.
- ``action``: ``mbcli action``, people -> action probabilities per segment and overall.
Flows report progress through ``on_progress(stage, done, total)`` and never print; they import neither the CLI
nor ``mbcli.train``.
"""

from __future__ import annotations

from typing import Any

_PUBLIC = {"LiftConfig": "lift", "LiftResult": "lift", "run_lift": "lift", "MeshConfig": "mesh",
           "MeshResult": "mesh", "run_mesh": "mesh", "ActionConfig": "action", "ActionRun": "action",
           "run_action": "action"}


def __getattr__(name: str) -> Any:
    """``from mbcli.pipeline import run_lift`` (the Python API) without importing every flow (and torch) up front."""
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(f"mbcli.pipeline.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'mbcli.pipeline' has no attribute {name!r}")
