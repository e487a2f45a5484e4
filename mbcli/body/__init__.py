"""Body models: SMPL loaded from a user-supplied file (never shipped: its licence forbids it) and a stateless
forward pass in torch. Fitting to 3D joints will live here too."""

from __future__ import annotations

from mbcli.body.smpl import (
    SMPL_ENV,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_URL,
    SMPLModel,
    axis_angle_to_matrix_torch,
    load_smpl,
    resolve_smpl_path,
    smpl_forward,
)

__all__ = ["SMPL_ENV", "SMPL_JOINT_NAMES", "SMPL_PARENTS", "SMPL_URL", "SMPLModel", "axis_angle_to_matrix_torch",
           "load_smpl", "resolve_smpl_path", "smpl_forward"]
