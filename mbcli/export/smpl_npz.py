"""Body-model parameter files: ``smpl.npz`` (AMASS / smplx layout, FORMATS.md section 2.2) and ``body.npz`` (anny).

Input: a BodyMotion (mbcli.types), whose world frame (Z-up like AMASS, floor at z = 0, the root turned about J0) is
made in mbcli/body/motion.py; nothing here runs a body model.

smpl.npz keys (float32 unless noted; no object arrays, so ``np.load(allow_pickle=False)`` works):
  poses (N,156)        AMASS/SMPL-H layout, axis-angle radians: [0:3] root, [3:66] SMPL joints 1-21, [66:156] hands 0
  trans (N,3)          root translation, world Z-up, metres
  betas (10,)          SMPL shape;  gender () str: the model file's gender, "neutral" when it does not say
  mocap_framerate, mocap_frame_rate  () float64: the video's frame rate (both spellings readers use)
  global_orient (N,3), body_pose (N,69), transl (N,3)   smplx.SMPL's arguments, world frame
  global_orient_cam (N,3), transl_cam (N,3)             the same in the camera frame
  frame_indices (N,) int64  the video frame of each row;  surface_model_type "smpl", up_axis "z", units "m"
body.npz (any body model; anny): the model's own parameters from ``BodyModel.params_arrays`` in the world frame,
their ``*_cam`` twins for the per-frame ones, plus fps, frame_indices, surface_model_type, up_axis, units.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from mbcli.errors import ExportError
from mbcli.export import write_atomic
from mbcli.geometry import matrix_to_axis_angle
from mbcli.types import BodyMotion, SkinnedMesh

ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # (x, y, z) -> (x, z, -y)


def _check(m: BodyMotion) -> None:
    if not np.isfinite(m.fps) or m.fps <= 0:
        raise ExportError(f"body-model export needs a positive frame rate, got {m.fps}")
    if not (np.isfinite(m.rotmats_cam).all() and np.isfinite(m.transl_cam).all() and np.isfinite(m.shape).all()):
        raise ExportError("the body fit has non-finite values; nothing written")


def smpl_arrays(m: BodyMotion) -> dict[str, np.ndarray]:
    """The arrays of smpl.npz (module docstring) for an SMPL motion."""
    if m.model != "smpl" or m.num_joints != 24:
        raise ExportError(f"smpl.npz needs an SMPL fit, got a {m.model} body")
    _check(m)
    N = m.num_frames
    aa_w = matrix_to_axis_angle(m.rotmats_world).astype(np.float32)  # (N,24,3)
    aa_c = matrix_to_axis_angle(m.rotmats_cam).astype(np.float32)
    poses = np.zeros((N, 156), np.float32)
    poses[:, :66] = aa_w[:, :22].reshape(N, 66)
    betas = np.zeros(10, np.float32)
    betas[:min(10, len(m.shape))] = m.shape[:10]
    return {
        "poses": poses, "trans": m.transl_world.astype(np.float32), "betas": betas,
        "gender": np.array(m.gender, dtype="<U7"),
        "mocap_framerate": np.array(float(m.fps)), "mocap_frame_rate": np.array(float(m.fps)),
        "global_orient": aa_w[:, 0].copy(), "body_pose": aa_w[:, 1:].reshape(N, 69).copy(),
        "transl": m.transl_world.astype(np.float32),
        "global_orient_cam": aa_c[:, 0].copy(), "transl_cam": m.transl_cam.astype(np.float32),
        "frame_indices": m.frame_indices, "surface_model_type": np.array("smpl"), "up_axis": np.array("z"),
        "units": np.array("m"),
    }


def body_arrays(m: BodyMotion) -> dict[str, np.ndarray]:
    """The arrays of body.npz (module docstring) for any body model."""
    _check(m)
    out = dict(m.params_world)
    for k, v in m.params_cam.items():
        if v.ndim >= 1 and v.shape[0] == m.num_frames and not np.array_equal(v, m.params_world[k]):
            out[f"{k}_cam"] = v
    out.update({"fps": np.array(float(m.fps)), "frame_indices": m.frame_indices,
                "surface_model_type": np.array(m.model), "up_axis": np.array("z"), "units": np.array("m")})
    return out


def glb_inputs(m: BodyMotion, mesh: SkinnedMesh) -> dict:
    """Keyword arguments of export.glb.write_skinned_glb for a motion, in glTF's frame (Y up, metres; the Z-up world
    turned (x, y, z) -> (x, z, -y), floor at y = 0). SMPL's pose blend shapes have no place in a skinned glTF and
    are left out (a few mm on bent joints)."""
    R_w = m.rotmats_world.copy()  # the root is turned below
    J0 = m.root_rest
    R_w[:, 0] = ZUP_TO_YUP @ R_w[:, 0]
    t_g = (m.transl_world + J0) @ ZUP_TO_YUP.T - J0
    return {"rest_vertices": mesh.vertices, "faces": mesh.faces, "skin_weights": mesh.skin_weights,
            "joint_rest": mesh.joints, "parents": mesh.parents, "joint_names": list(mesh.joint_names),
            "local_rotations": R_w, "root_translation": t_g, "name": mesh.model}


def _save(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    for k, v in arrays.items():
        if v.dtype == object:
            raise ExportError(f"internal: {k} is an object array")
    buf = io.BytesIO()
    # numpy's stub types the arrays as **kwds: ArrayLike beside allow_pickle: bool, and mypy checks a **dict against
    # every keyword, so it wants each array to be a bool too; no body parameter is named "allow_pickle"
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return write_atomic(path, buf.getvalue())


def write_smpl_npz(path: str | os.PathLike, m: BodyMotion) -> Path:
    """Write smpl.npz atomically; returns its Path."""
    return _save(path, smpl_arrays(m))


def write_body_npz(path: str | os.PathLike, m: BodyMotion) -> Path:
    """Write body.npz atomically; returns its Path."""
    return _save(path, body_arrays(m))


def write_parameters(path: str | os.PathLike, m: BodyMotion) -> Path:
    """The parameter file of ``mbcli mesh``: smpl.npz for SMPL, body.npz for any other model."""
    return write_smpl_npz(path, m) if m.model == "smpl" else write_body_npz(path, m)
