"""Where mbcli's shipped model files live, and the manifest that describes them.

``weights_dir()`` looks in this order and takes the first that applies:

1. ``$MBCLI_WEIGHTS_DIR`` when set (taken as it is, even without a manifest, so that errors name it);
2. the source checkout's ``weights/`` folder at the repository root beside the package (a clone or an editable
   install), when it holds a ``manifest.toml``;
3. the package data of an installed wheel (or non-editable ``pip install .``): ``mbcli/_weights/``, which setup.py
   fills from ``weights/`` with the manifest and the files it marks as shipped (their ``.partN`` pieces included).

When none holds a manifest the answer is the checkout's path, so that errors name the folder a clone would have.

``manifest.toml`` holds one ``[[model]]`` table per file: name, file, sha256, source, licence, and for lifters their
training recipe and evaluation figures. Nothing is ever downloaded at run time. An entry with ``shipped = false``
describes a file that is neither in the repository nor in the wheel but that a user can build bit-exactly with the
command in its ``build`` field (checked against its sha256 like the others).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from mbcli.errors import WeightsError

DEFAULT_LIFTER = "lifter-default"
DEFAULT_ACTION = "action-default"
WEIGHTS_ENV = "MBCLI_WEIGHTS_DIR"
PACKAGE_DATA = "_weights"  # mbcli/_weights/: where a wheel carries weights/ (setup.py maps the package onto it)
_VERIFIED: dict[Path, float] = {}  # path -> mtime at which its sha256 matched the manifest


def weights_dir() -> Path:
    """The folder of model files and their manifest (lookup order in the module docstring)."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent
    checkout, installed = here.parent / "weights", here / PACKAGE_DATA
    if not (checkout / "manifest.toml").is_file() and (installed / "manifest.toml").is_file():
        return installed
    return checkout


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
    """The manifest entry called ``name``; ``<kind>-default`` (lifter-default, action-default) resolves through the
    entry of that kind marked default = true."""
    models = manifest()
    kind = name[:-len("-default")] if name.endswith("-default") else None
    for m in models:
        if m.get("name") == name or (kind and m.get("kind") == kind and m.get("default")):
            return m
    names = ", ".join(m.get("name", "?") for m in models)
    raise WeightsError(f"no model named {name!r} in the weights manifest; available: {names}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_path(filename: str, verify: bool = True) -> Path:
    """Path of a model file in weights_dir(); raises WeightsError when it is missing or (``verify``) its sha256
    differs from the manifest's (checked once per process and file version)."""
    folder = weights_dir()
    path = folder / filename
    if not path.is_file():
        known = {m.get("file"): m for m in manifest()} if (folder / "manifest.toml").is_file() else {}
        e = known.get(filename, {})
        if e.get("shipped", True) is False:
            raise WeightsError(f"{e.get('name', filename)} is not shipped ({e.get('why_not_shipped', 'see the weights manifest')});"
                               f" build it once: {e.get('build', 'see weights/manifest.toml')}")
        raise WeightsError(f"model file {path} is missing; it ships in the repository's weights/ folder and in "
                           f"the wheel (set {WEIGHTS_ENV} to use another folder)")
    if verify and _VERIFIED.get(path) != path.stat().st_mtime:
        known = {m.get("file"): m for m in manifest()} if (folder / "manifest.toml").is_file() else {}
        want = known.get(filename, {}).get("sha256")
        if want:
            got = sha256(path)
            if got != want:
                raise WeightsError(f"model file {path} has sha256 {got[:12]}..., the manifest expects {want[:12]}...: "
                                   "the file is corrupt or a git-lfs pointer; restore it")
        _VERIFIED[path] = path.stat().st_mtime
    return path


def resolve(name: str, verify: bool = True) -> tuple[Path, dict]:
    """Path of the file behind manifest entry ``name`` (checked against its sha256 when ``verify``)."""
    e = entry(name)
    return file_path(e["file"], verify), e
