"""Where mbcli's shipped model files live, and the manifest that describes them.

``weights/`` sits at the repository root beside the package (override with the MBCLI_WEIGHTS_DIR environment
variable). ``weights/manifest.toml`` holds one ``[[model]]`` table per file: name, file, sha256, source, licence,
and for lifters their training recipe and evaluation figures. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from mbcli.errors import WeightsError

DEFAULT_LIFTER = "lifter-default"


def weights_dir() -> Path:
    env = os.environ.get("MBCLI_WEIGHTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "weights"


def manifest() -> list[dict]:
    path = weights_dir() / "manifest.toml"
    if not path.is_file():
        raise WeightsError(f"weights manifest not found: {path} (set MBCLI_WEIGHTS_DIR to the weights folder)")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise WeightsError(f"weights manifest {path} is not valid TOML: {e}") from None
    return list(data.get("model", []))


def entry(name: str) -> dict:
    """The manifest entry called ``name``; ``lifter-default`` resolves through the entry marked default = true."""
    models = manifest()
    for m in models:
        if m.get("name") == name or (name == DEFAULT_LIFTER and m.get("kind") == "lifter" and m.get("default")):
            return m
    names = ", ".join(m.get("name", "?") for m in models)
    raise WeightsError(f"no model named {name!r} in the weights manifest; available: {names}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(name: str, verify: bool = False) -> tuple[Path, dict]:
    """Path of the file behind manifest entry ``name`` (checked to exist, and its sha256 when ``verify``)."""
    e = entry(name)
    path = weights_dir() / e["file"]
    if not path.is_file():
        raise WeightsError(f"model file {path} listed in the manifest is missing")
    if verify and e.get("sha256") and sha256(path) != e["sha256"]:
        raise WeightsError(f"model file {path} does not match its sha256 in the manifest (corrupt or replaced)")
    return path, e
