"""From a live fit to plain arrays: the world frame, the floor and the rest mesh that exports need.

World frame. The fit lives in the OpenCV camera frame (x right, y down, z forward). Exports are Z-up like AMASS,
metres. With the clip's Floor (mbcli/world/floor.py, the same one ``mbcli lift`` finds), the world is the lift's Y-up
world turned Z-up: (x, y, z) -> (x, -z, y), so gravity is -z whatever the camera's tilt, and the floor is z = 0.
Without one (no 2D keypoints to place the person), the camera is assumed level: x_w = x_c, y_w = z_c (away from the
camera), z_w = -y_c, and the floor is put at z = 0 from the body's lowest vertices (the 5th percentile over the clip
of each frame's lowest vertex, so a jump does not lift the floor). Rotating body-model parameters is not rotating the translation alone:
``global_orient`` turns about the root joint J0(shape), so with the camera-to-world rotation A,
R0_w = A R0 and transl_w = A (transl + J0) - J0 (FORMATS.md: the naive A transl is off by 0.22 m).

This is the last place a body model runs for ``mbcli mesh``'s files: ``body_motion`` and ``skinned_mesh`` return the
stage objects of mbcli.types (BodyMotion, SkinnedMesh), which exporters turn into files without a model. (The mesh
overlay video is the exception: pipeline/mesh.py poses the fit in chunks of frames while the renderer asks for them.)
"""

from __future__ import annotations

import numpy as np
import torch

from mbcli.body.base import BodyModel
from mbcli.body.fit import BodyFit
from mbcli.types import BodyMotion, Floor, SkinnedMesh

CAMERA_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # level camera
YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # the lift's world -> AMASS-like
_CHUNK = 512  # frames posed at once when looking for the floor


def root_rest_joint(model: BodyModel, shape: np.ndarray) -> np.ndarray:
    """(3,) the unposed root joint J0(shape), metres."""
    with torch.no_grad():
        J = model.rest_joints(torch.as_tensor(shape, dtype=model.dtype, device=model.device).reshape(1, -1))
    return J[0, 0].double().cpu().numpy()


def lowest_vertex_heights(model: BodyModel, shape: np.ndarray, rotmats_w: np.ndarray,
                          transl_w: np.ndarray) -> np.ndarray:
    """(T,) each frame's lowest vertex height (z) in the world frame, posing the mesh in chunks."""
    out = np.empty(len(rotmats_w))
    s = torch.as_tensor(shape, dtype=model.dtype, device=model.device)
    with torch.no_grad():
        for a in range(0, len(rotmats_w), _CHUNK):
            R = torch.as_tensor(rotmats_w[a:a + _CHUNK], dtype=model.dtype, device=model.device)
            t = torch.as_tensor(transl_w[a:a + _CHUNK], dtype=model.dtype, device=model.device)
            v, _ = model.forward(s, R, t)
            out[a:a + len(R)] = v[..., 2].amin(dim=1).double().cpu().numpy()
    return out


def to_world(fit: BodyFit, floor: Floor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fit's rotations (T,J,3,3) and translations (T,3) in the Z-up world frame of the module docstring."""
    J0 = root_rest_joint(fit.model, fit.shape)
    A = CAMERA_TO_ZUP if floor is None else YUP_TO_ZUP @ floor.R_cam_to_world
    R = fit.rotmats.astype(np.float64).copy()
    R[:, 0] = A @ R[:, 0]
    t = (fit.transl.astype(np.float64) + J0) @ A.T - J0
    if floor is not None:
        t += YUP_TO_ZUP @ floor.camera_position
    else:
        low = lowest_vertex_heights(fit.model, fit.shape, R, t)
        t[:, 2] -= float(np.percentile(low, 5))
    return R, t


def model_gender(model: BodyModel) -> str:
    """The gender the model file declares ("male", "female"), else "neutral"."""
    gender = getattr(getattr(model, "model", None), "gender", "neutral")
    return gender if gender in ("male", "female", "neutral") else "neutral"


def body_motion(fit: BodyFit, frame_indices: np.ndarray, fps: float, floor: Floor | None = None) -> BodyMotion:
    """The fit as a BodyMotion: camera-frame and world-frame parameters (world from ``floor``, else the level-camera
    fallback that poses the mesh once for the floor), the model's own parameter layout in both frames, the fitted
    joints and errors. frame_indices (T,) video frames."""
    m = fit.model
    R_w, t_w = to_world(fit, floor)
    return BodyMotion(
        model=m.name, gender=model_gender(m), shape=fit.shape, rotmats_cam=fit.rotmats, transl_cam=fit.transl,
        rotmats_world=R_w, transl_world=t_w, root_rest=root_rest_joint(m, fit.shape),
        params_world=m.params_arrays(fit.shape, R_w, t_w), params_cam=m.params_arrays(fit.shape, fit.rotmats,
                                                                                       fit.transl),
        joints_cam=fit.joints, error_mm=fit.error_mm, frame_indices=frame_indices, fps=float(fps),
        num_vertices=m.num_vertices)


def skinned_mesh(model: BodyModel, shape: np.ndarray) -> SkinnedMesh:
    """The model's rest mesh, joints and skin weights at ``shape`` (S,)."""
    with torch.no_grad():
        s = torch.as_tensor(shape, dtype=model.dtype, device=model.device)
        vertices = model.rest_vertices(s).double().cpu().numpy()
        joints = model.rest_joints(s.reshape(1, -1))[0].double().cpu().numpy()
    return SkinnedMesh(model.name, vertices, np.asarray(model.faces), model.skin_weights(), joints,
                       np.asarray(model.parents), tuple(model.joint_names))
