"""Save and load DSTformer checkpoints: ours, and MotionBERT's official files.

Our format (a dict saved with torch.save, loadable with ``weights_only=True``):
    {"format": "mbcli.checkpoint", "version": 1, "config": DSTformerConfig.to_dict(), "model": state_dict,
     "meta": {...}, and during training "optimizer", "step", ...}
Weights may be stored in float16 to halve the file; they are loaded as float32. ``save_weights`` writes float16
weights only and splits them into parts of at most 16 MiB (``shards``: [{file, sha256}], read back transparently).

MotionBERT's files (REFERENCE.md section 1, "Checkpoint keys"): pose checkpoints hold ``model_pos``, mesh/action
ones ``model`` with a ``backbone.`` sub-tree; keys carry the ``module.`` prefix of nn.DataParallel. They hold no
config: pass ``config="base"`` or ``"lite"`` (or a DSTformerConfig); without one the architecture is inferred from
the tensor shapes (heads default to 8). Their head predicts normalised image units, so output_units="normalized".

Loading is always strict: a missing or unexpected key, or a shape mismatch, raises WeightsError naming the keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mbcli.errors import WeightsError
from mbcli.fsutil import atomic_path
from mbcli.model.config import DSTformerConfig, preset
from mbcli.model.dstformer import DSTformer

FORMAT = "mbcli.checkpoint"


def _strip_prefixes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def _infer_config(sd: dict[str, torch.Tensor], output_units: str) -> DSTformerConfig:
    try:
        dim_feat, dim_in = sd["joints_embed.weight"].shape
        depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks_st."))
        hidden = sd["blocks_st.0.mlp_s.fc1.weight"].shape[0]
        dim_rep = sd["pre_logits.fc.weight"].shape[0]
        dim_out = sd["head.weight"].shape[0]
        maxlen = sd["temp_embed"].shape[1]
        num_joints = sd["pos_embed"].shape[1]
    except (KeyError, ValueError, IndexError) as e:
        raise WeightsError(f"not a DSTformer state dict (could not infer its shape: {e})") from None
    return DSTformerConfig(
        dim_in=dim_in, dim_out=dim_out, dim_feat=dim_feat, dim_rep=dim_rep, depth=depth,
        mlp_ratio=hidden / dim_feat, num_joints=num_joints, maxlen=maxlen,
        att_fuse="ts_attn.0.weight" in sd, output_units=output_units,
    )


def _why_unreadable(path: Path, e: Exception) -> str:
    """Our own sentence for torch.load's failure (its messages are pages of advice about weights_only)."""
    text = str(e)
    try:
        with path.open("rb") as f:
            zipped = f.read(2) == b"PK"
    except OSError:
        zipped = False
    if "central directory" in text or "PytorchStreamReader" in text:
        return "the file is truncated or corrupt (an incomplete PyTorch archive)"
    if "Weights only load failed" in text or "UnpicklingError" in type(e).__name__:
        if zipped:
            return ("it stores Python objects besides tensors and plain values, and mbcli never runs a checkpoint's "
                    "code (torch.load weights_only); save the state dict alone")
        return "it is not a PyTorch checkpoint (corrupt, or another format)"
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return first[:200]


def _read(path: Path, merge: bool = True) -> Any:
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated/corrupt/pickled files
        raise WeightsError(f"cannot read checkpoint {path}: {_why_unreadable(path, e)}") from None
    return _merge_shards(obj, path) if merge else obj


SHARD_BYTES = 16 * 2 ** 20  # a weights file is split into parts of at most this size (a GPU window returns 16 MiB files)


def _merge_shards(obj: Any, path: Path) -> Any:
    """A checkpoint split by save_weights: read its parts (beside it, sha256-checked) into one state dict."""
    import hashlib

    if not (isinstance(obj, dict) and obj.get("shards")):
        return obj
    sd = dict(obj["model"])
    for part in obj["shards"]:
        p = path.parent / part["file"]
        if not p.is_file():
            raise WeightsError(f"{path} is split in parts and its part {p.name} is missing")
        if hashlib.sha256(p.read_bytes()).hexdigest() != part["sha256"]:
            raise WeightsError(f"part {p.name} of {path} does not match the sha256 recorded in {path.name}")
        sd.update(_read(p, merge=False))
    return {**obj, "model": sd, "shards": []}


def save_weights(path: str | os.PathLike, model: DSTformer, meta: dict | None = None,
                 max_bytes: int = SHARD_BYTES) -> list[Path]:
    """Weights only, in float16, for shipping: one file, or when the tensors pass ``max_bytes`` the file plus parts
    ``<stem>.part2.pt``, ... (plain state dicts) that it lists with their sha256. Loads like any checkpoint."""
    import hashlib

    path = Path(path)
    sd = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
          for k, v in model.state_dict().items()}
    budget = int(max_bytes * 0.95)  # torch.save's per-tensor framing
    groups: list[dict[str, torch.Tensor]] = [{}]
    used = 0
    for k, v in sd.items():
        n = v.numel() * v.element_size()
        if groups[-1] and used + n > budget:
            groups.append({})
            used = 0
        groups[-1][k] = v
        used += n
    written: list[Path] = []
    shards = []
    for i, g in enumerate(groups[1:], start=2):
        p = path.with_name(f"{path.stem}.part{i}{path.suffix}")
        with atomic_path(p) as tmp:
            torch.save(g, tmp)
        shards.append({"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
        written.append(p)
    obj = {"format": FORMAT, "version": 1, "config": model.config.to_dict(), "model": groups[0], "meta": meta or {},
           "shards": shards}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return [path, *written]


def state_dict_and_config(
    obj: Any, config: str | DSTformerConfig | None = None, source: str = "checkpoint"
) -> tuple[dict[str, torch.Tensor], DSTformerConfig, dict]:
    """Find the DSTformer weights and config inside a loaded checkpoint object."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{source}: expected a dict checkpoint, got {type(obj).__name__}")
    meta: dict = {}
    if obj.get("format") == FORMAT:
        sd = obj["model"]
        cfg = DSTformerConfig.from_dict(obj["config"])
        meta = dict(obj.get("meta", {}))
        if config is not None:
            raise WeightsError(f"{source} carries its own config; do not pass config=")
        return _strip_prefixes(sd), cfg, meta
    if "model_pos" in obj:
        sd = obj["model_pos"]
        meta = {"source_format": "motionbert", "epoch": obj.get("epoch")}
    elif "model" in obj and isinstance(obj["model"], dict):
        sd = {k: v for k, v in _strip_prefixes(obj["model"]).items() if k.startswith("backbone.")}
        sd = {k[len("backbone."):]: v for k, v in sd.items()}
        meta = {"source_format": "motionbert-backbone", "epoch": obj.get("epoch")}
        if not sd:
            raise WeightsError(f"{source}: 'model' holds no DSTformer backbone weights")
    elif all(isinstance(v, torch.Tensor) for v in obj.values()) and obj:
        sd = obj
        meta = {"source_format": "state_dict"}
    else:
        raise WeightsError(f"{source}: unrecognised checkpoint layout (keys: {', '.join(sorted(obj)[:8])})")
    sd = _strip_prefixes(sd)
    if config is None:
        cfg = _infer_config(sd, "normalized")
    elif isinstance(config, str):
        cfg = preset(config, output_units="normalized")
    else:
        cfg = config
    return sd, cfg, meta


def build_model(sd: dict[str, torch.Tensor], cfg: DSTformerConfig, source: str = "checkpoint") -> DSTformer:
    """A DSTformer with ``sd`` loaded strictly (float32)."""
    model = DSTformer(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(k for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{label} {len(keys)}: {', '.join(keys[:5])}{more}")
        raise WeightsError(f"{source} does not match the DSTformer config: " + "; ".join(parts))
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model


def load_checkpoint(
    path: str | os.PathLike, config: str | DSTformerConfig | None = None
) -> tuple[DSTformer, dict]:
    """Load any supported checkpoint file; returns (model in eval mode on CPU, meta)."""
    path = Path(path)
    sd, cfg, meta = state_dict_and_config(_read(path), config, source=str(path))
    model = build_model(sd, cfg, source=str(path))
    return model.eval(), meta


def save_checkpoint(
    path: str | os.PathLike, model: DSTformer, meta: dict | None = None, half: bool = False, **extra: Any
) -> Path:
    """Atomically write our checkpoint format (weights in float16 when ``half``)."""
    path = Path(path)
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
          for k, v in model.state_dict().items()}
    obj = {"format": FORMAT, "version": 1, "config": model.config.to_dict(), "model": sd, "meta": meta or {}, **extra}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path
