"""Body-model parameter files: ``smpl.npz`` (AMASS / smplx layout, FORMATS.md section 2.2) and ``body.npz`` (anny).

World frame. The fit lives in the OpenCV camera frame (x right, y down, z forward). Files are written Z-up like AMASS:
x_w = x_c, y_w = z_c (away from the camera), z_w = -y_c (the camera is assumed level), metres, and the floor is put
at z = 0 from the body's lowest vertices (the 5th percentile over the clip of each frame's lowest vertex, so a
jump does not lift the floor). Rotating body-model parameters is not rotating the translation alone:
``global_orient`` turns about the root joint J0(shape), so with the camera-to-world rotation A,
go_w = A go and transl_w = A (transl + J0) - J0 (FORMATS.md: the naive A transl is off by 0.22 m).

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
import torch

from mbcli.body.fit import BodyFit
from mbcli.errors import ExportError
from mbcli.export import write_atomic
from mbcli.geometry import matrix_to_axis_angle

CAMERA_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_CHUNK = 512


def _root_joint(fit: BodyFit) -> np.ndarray:
    m = fit.model
    with torch.no_grad():
        J = m.rest_joints(torch.as_tensor(fit.shape, dtype=m.dtype, device=m.device).reshape(1, -1))
    return J[0, 0].double().cpu().numpy()


def lowest_vertex_heights(fit: BodyFit, rotmats_w: np.ndarray, transl_w: np.ndarray) -> np.ndarray:
    """(N,) each frame's lowest vertex height (z) in the world frame, posing the mesh in chunks."""
    m = fit.model
    out = np.empty(len(rotmats_w))
    s = torch.as_tensor(fit.shape, dtype=m.dtype, device=m.device)
    with torch.no_grad():
        for a in range(0, len(rotmats_w), _CHUNK):
            R = torch.as_tensor(rotmats_w[a:a + _CHUNK], dtype=m.dtype, device=m.device)
            t = torch.as_tensor(transl_w[a:a + _CHUNK], dtype=m.dtype, device=m.device)
            v, _ = m.forward(s, R, t)
            out[a:a + len(R)] = v[..., 2].amin(dim=1).double().cpu().numpy()
    return out


def to_world(fit: BodyFit, floor: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The fit's rotations (N,J,3,3) and translations (N,3) in the Z-up world frame of the module docstring."""
    A = CAMERA_TO_ZUP
    J0 = _root_joint(fit)
    R = fit.rotmats.astype(np.float64).copy()
    R[:, 0] = A @ R[:, 0]
    t = (fit.transl.astype(np.float64) + J0) @ A.T - J0
    if floor:
        low = lowest_vertex_heights(fit, R, t)
        t[:, 2] -= float(np.percentile(low, 5))
    return R, t


def _check(fit: BodyFit, fps: float, frame_indices: np.ndarray) -> np.ndarray:
    if not np.isfinite(fps) or fps <= 0:
        raise ExportError(f"body-model export needs a positive frame rate, got {fps}")
    fi = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
    if len(fi) != fit.num_frames:
        raise ExportError(f"{len(fi)} frame indices for {fit.num_frames} fitted frames")
    if not (np.isfinite(fit.rotmats).all() and np.isfinite(fit.transl).all() and np.isfinite(fit.shape).all()):
        raise ExportError("the body fit has non-finite values; nothing written")
    return fi


World = tuple[np.ndarray, np.ndarray]


def smpl_arrays(fit: BodyFit, fps: float, frame_indices: np.ndarray, gender: str = "neutral",
                world: World | None = None) -> dict[str, np.ndarray]:
    """The arrays of smpl.npz (module docstring) for an SMPL fit; ``world`` is ``to_world(fit)`` when the caller
    has it already (it poses the whole mesh for the floor)."""
    if fit.model.name != "smpl" or fit.rotmats.shape[1] != 24:
        raise ExportError(f"smpl.npz needs an SMPL fit, got a {fit.model.name} body")
    fi = _check(fit, fps, frame_indices)
    N = fit.num_frames
    R_w, t_w = world or to_world(fit)
    aa_w = matrix_to_axis_angle(R_w).astype(np.float32)  # (N,24,3)
    aa_c = matrix_to_axis_angle(fit.rotmats.astype(np.float64)).astype(np.float32)
    poses = np.zeros((N, 156), np.float32)
    poses[:, :66] = aa_w[:, :22].reshape(N, 66)
    betas = np.zeros(10, np.float32)
    betas[:min(10, len(fit.shape))] = fit.shape[:10]
    gender = gender if gender in ("male", "female", "neutral") else "neutral"
    return {
        "poses": poses, "trans": t_w.astype(np.float32), "betas": betas, "gender": np.array(gender, dtype="<U7"),
        "mocap_framerate": np.array(float(fps)), "mocap_frame_rate": np.array(float(fps)),
        "global_orient": aa_w[:, 0].copy(), "body_pose": aa_w[:, 1:].reshape(N, 69).copy(),
        "transl": t_w.astype(np.float32),
        "global_orient_cam": aa_c[:, 0].copy(), "transl_cam": fit.transl.astype(np.float32),
        "frame_indices": fi, "surface_model_type": np.array("smpl"), "up_axis": np.array("z"), "units": np.array("m"),
    }


def body_arrays(fit: BodyFit, fps: float, frame_indices: np.ndarray,
                world: World | None = None) -> dict[str, np.ndarray]:
    """The arrays of body.npz (module docstring) for any body model (``world`` as for smpl_arrays)."""
    fi = _check(fit, fps, frame_indices)
    m = fit.model
    R_w, t_w = world or to_world(fit)
    world = m.params_arrays(fit.shape, R_w, t_w)
    cam = m.params_arrays(fit.shape, fit.rotmats, fit.transl)
    out = dict(world)
    for k, v in cam.items():
        if v.ndim >= 1 and v.shape[0] == fit.num_frames and not np.array_equal(v, world[k]):
            out[f"{k}_cam"] = v
    out.update({"fps": np.array(float(fps)), "frame_indices": fi, "surface_model_type": np.array(m.name),
                "up_axis": np.array("z"), "units": np.array("m")})
    return out


def glb_inputs(fit: BodyFit, world: World | None = None) -> dict:
    """Keyword arguments of export.glb.write_skinned_glb for a fit, in glTF's frame (Y up, metres; the world of
    ``to_world`` turned (x, y, z) -> (x, z, -y), floor at y = 0). SMPL's pose blend shapes have no place in a
    skinned glTF and are left out (a few mm on bent joints)."""
    m = fit.model
    R_w, t_w = world or to_world(fit)
    R_w = R_w.copy()  # the root is turned below; ``world`` may be shared with the npz writer
    B = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # Z-up -> Y-up
    J0 = _root_joint(fit)
    R_w[:, 0] = B @ R_w[:, 0]
    t_g = (t_w + J0) @ B.T - J0
    with torch.no_grad():
        s = torch.as_tensor(fit.shape, dtype=m.dtype, device=m.device)
        rest_v = m.rest_vertices(s).double().cpu().numpy()
        rest_j = m.rest_joints(s.reshape(1, -1))[0].double().cpu().numpy()
    return {"rest_vertices": rest_v, "faces": np.asarray(m.faces), "skin_weights": m.skin_weights(),
            "joint_rest": rest_j, "parents": np.asarray(m.parents), "joint_names": list(m.joint_names),
            "local_rotations": R_w, "root_translation": t_g, "name": m.name}


def _save(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    for k, v in arrays.items():
        if v.dtype == object:
            raise ExportError(f"internal: {k} is an object array")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_atomic(path, buf.getvalue())


def write_smpl_npz(path: str | os.PathLike, fit: BodyFit, fps: float, frame_indices: np.ndarray,
                   gender: str = "neutral", world: World | None = None) -> Path:
    """Write smpl.npz atomically; returns its Path."""
    return _save(path, smpl_arrays(fit, fps, frame_indices, gender, world))


def write_body_npz(path: str | os.PathLike, fit: BodyFit, fps: float, frame_indices: np.ndarray,
                   world: World | None = None) -> Path:
    """Write body.npz atomically; returns its Path."""
    return _save(path, body_arrays(fit, fps, frame_indices, world))
