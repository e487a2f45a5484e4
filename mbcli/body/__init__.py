"""Body models behind one interface (body/base.py): SMPL from a user-supplied file (never shipped: its licence
forbids it) and the open anny model (optional extra); fitting them to lifted 3D joints and 2D keypoints (fit.py)."""

from __future__ import annotations

from mbcli.body.base import BodyModel
from mbcli.body.smpl import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPLBody,
    SMPLModel,
    axis_angle_to_matrix_torch,
    smpl_forward,
)
from mbcli.body.smpl_file import SMPL_ENV, SMPL_URL, load_smpl, resolve_smpl_path

BODY_MODELS = ("smpl", "anny")


def load_anny(*args, **kwargs) -> BodyModel:
    """The anny body model (body/anny_model.py; built once into a cache from the optional anny package:
    body/anny_cache.py)."""
    from mbcli.body.anny_model import load_anny as _load

    return _load(*args, **kwargs)


def load_body_model(name: str, smpl_model: str | None = None) -> BodyModel:
    """"smpl" (from ``smpl_model`` or $MBCLI_SMPL_MODEL) or "anny" (needs the optional anny package)."""
    from mbcli.errors import ConfigError

    if name == "smpl":
        return SMPLBody(load_smpl(smpl_model))
    if name == "anny":
        return load_anny()
    raise ConfigError(f"unknown body model {name!r}; choose from: {', '.join(BODY_MODELS)}")


__all__ = ["BODY_MODELS", "SMPL_ENV", "SMPL_JOINT_NAMES", "SMPL_PARENTS", "SMPL_URL", "BodyModel", "SMPLBody",
           "SMPLModel", "axis_angle_to_matrix_torch", "load_anny", "load_body_model", "load_smpl", "resolve_smpl_path",
           "smpl_forward"]
