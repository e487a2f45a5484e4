"""The DSTformer lifter: config, network, checkpoints, and ``load_model`` (the public entry point)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mbcli.errors import ConfigError
from mbcli.model.checkpoint import load_checkpoint, save_checkpoint
from mbcli.model.config import DSTformerConfig, preset
from mbcli.model.dstformer import DSTformer
from mbcli.weights import resolve

__all__ = ["DSTformer", "DSTformerConfig", "load_model", "load_checkpoint", "preset", "resolve_device",
           "save_checkpoint"]


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cpu' or 'cuda[:n]' as given (cuda must exist)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was requested but no CUDA GPU is available (use --device cpu or auto)")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def load_model(
    path_or_name: str | os.PathLike, device: str = "cpu", config: str | DSTformerConfig | None = None
) -> DSTformer:
    """Load a DSTformer in eval mode: a checkpoint file (ours or MotionBERT's) or a weights-manifest name.

    ``forward(x)`` takes normalised (B, T, 17, 3) input (x, y, confidence) and returns (B, T, 17, 3).
    ``model.meta`` holds the checkpoint's metadata (its manifest entry's name when loaded by name).
    """
    p = Path(path_or_name)
    meta: dict = {}
    if not p.exists() and os.sep not in str(path_or_name) and not str(path_or_name).endswith((".bin", ".pt", ".pth")):
        p, entry = resolve(str(path_or_name))
        meta["name"] = entry["name"]
    model, ck_meta = load_checkpoint(p, config)
    model.meta = {**ck_meta, **meta, "path": str(p)}
    return model.to(resolve_device(device)).eval()
