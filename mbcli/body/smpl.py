"""The SMPL body model: its arrays (SMPLModel), a stateless forward pass in torch, and SMPLBody, SMPL behind the
fitter's interface. Reading the model files (load_smpl): body/smpl_file.py.

Model: Loper, Mahmood, Romero, Pons-Moll, Black, "SMPL: A Skinned Multi-Person Linear Model", SIGGRAPH Asia 2015.
Symbols: B batch, V = 6890 vertices, J = 24 joints, S shape coefficients (betas), P = 207 = 23 * 9 pose features.

Forward pass (``smpl_forward``), the paper's equations in the order they are evaluated:
  v_shaped = T + shapedirs . beta                      shape blend shapes (eq. 8), (B,V,3)
  J_rest   = J_regressor @ v_shaped                    joint regression (eq. 10), (B,J,3)
  R_j      = exp(theta_j)                              Rodrigues, axis-angle radians -> (B,J,3,3)
  v_posed  = v_shaped + posedirs . vec(R_1..23 - I)    pose blend shapes (eq. 9); the root is not a pose feature
  G_j      = G_parent(j) [R_j | J_j - J_parent(j)],  G_0 = [R_0 | J_0]     kinematic chain (eq. 3)
  v        = sum_j w_vj G_j [I | -J_j] v_posed         linear blend skinning with the rest pose removed (eq. 2)
  joints   = translation of G_j                        the posed skeleton joints (24, from the chain)
``transl`` is then added to vertices and joints. Rotation matrices act on column vectors (x' = R x). Units and axes
are the model file's: metres, SMPL's canonical frame (y up, the body facing +z, its left side on +x).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import torch

from mbcli.body.base import BodyModel, TensorPlacement, correspondence_matrix
from mbcli.errors import ConfigError
from mbcli.geometry import matrix_to_axis_angle
from mbcli.skeletons import SMPL24

NUM_VERTICES = 6890
NUM_JOINTS = 24
NUM_POSE_FEATURES = (NUM_JOINTS - 1) * 9
SMPL_JOINT_NAMES: tuple[str, ...] = SMPL24.joints
SMPL_PARENTS: tuple[int, ...] = SMPL24.parents


@dataclass(frozen=True, eq=False)
class SMPLModel:
    """SMPL's arrays. Float arrays are torch tensors of one dtype and device; topology is numpy int64.

    v_template (V,3) rest mesh in metres; shapedirs (V,3,S) shape blend shapes; posedirs (V,3,P) pose blend shapes
    (P = 207 features, joints 1..23 row-major 3x3 each); J_regressor (J,V) dense; weights (V,J) skinning weights;
    parents (J,) parent index per joint, -1 for the root, every parent before its child; faces (F,3) vertex indices;
    gender 'neutral' | 'male' | 'female' | 'unknown'; J_regressor_extra (K,V) and J_regressor_h36m (17,V) only when
    the file carries them; path the file it came from.
    """

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    J_regressor: torch.Tensor
    weights: torch.Tensor
    parents: np.ndarray
    faces: np.ndarray
    gender: str = "unknown"
    J_regressor_extra: torch.Tensor | None = None
    J_regressor_h36m: torch.Tensor | None = None
    path: str = ""

    def __post_init__(self) -> None:
        V, J = self.v_template.shape[0], self.J_regressor.shape[0]
        expected = {"v_template": (V, 3), "shapedirs": (V, 3, None), "posedirs": (V, 3, (J - 1) * 9),
                    "J_regressor": (J, V), "weights": (V, J)}
        for name, shape in expected.items():
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.dim() != len(shape) or any(
                    s is not None and d != s for d, s in zip(t.shape, shape)):
                raise ValueError(f"SMPLModel.{name} must be a tensor of shape {shape}, got "
                                 f"{tuple(getattr(t, 'shape', ()))}")
        if self.parents.shape != (J,) or self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"SMPLModel: parents must be ({J},) and faces (F,3), got {self.parents.shape}, "
                             f"{self.faces.shape}")

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[-1])

    @functools.cached_property
    def joint_basis(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(J_regressor @ v_template (J,3), J_regressor @ shapedirs (J,3,S)): rest joints are linear in betas."""
        V, S = self.num_vertices, self.num_betas
        J_dirs = (self.J_regressor @ self.shapedirs.reshape(V, 3 * S)).reshape(-1, 3, S)
        return self.J_regressor @ self.v_template, J_dirs

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.J_regressor.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> SMPLModel:
        """A copy with every float tensor moved to ``device`` and/or cast to ``dtype``."""

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype)

        extra, h36m = self.J_regressor_extra, self.J_regressor_h36m
        return dataclasses.replace(
            self, v_template=move(self.v_template), shapedirs=move(self.shapedirs), posedirs=move(self.posedirs),
            J_regressor=move(self.J_regressor), weights=move(self.weights),
            J_regressor_extra=None if extra is None else move(extra), J_regressor_h36m=None if h36m is None else move(h36m))


# ---------------------------------------------------------------------------------------------------------------
# Forward pass


def axis_angle_to_matrix_torch(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues: rotation vectors (...,3) (axis * angle, radians) -> rotation matrices (...,3,3).

    R = I + a K + b K^2 with K the cross-product matrix of the (unnormalised) vector, a = sin(t)/t and
    b = (1 - cos t)/t^2; below t^2 = 1e-6 their Taylor series are used, so R and its gradient are finite at zero.
    """
    if aa.shape[-1] != 3:
        raise ValueError(f"axis-angle input must end in 3, got {tuple(aa.shape)}")
    x, y, z = aa.unbind(-1)
    t2 = x * x + y * y + z * z
    small = t2 < 1e-6
    t2_safe = torch.where(small, torch.ones_like(t2), t2)
    t = torch.sqrt(t2_safe)
    a = torch.where(small, 1.0 - t2 / 6.0, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24.0, (1.0 - torch.cos(t)) / t2_safe)
    ax, ay, az = a * x, a * y, a * z
    bxy, bxz, byz = b * x * y, b * x * z, b * y * z
    bxx, byy, bzz = b * x * x, b * y * y, b * z * z
    # K^2 = v v^T - t^2 I, so b K^2 contributes b v v^T off the diagonal and b (v_i^2 - t^2) on it.
    R = torch.stack([
        1.0 + bxx - b * t2, bxy - az, bxz + ay,
        bxy + az, 1.0 + byy - b * t2, byz - ax,
        bxz - ay, byz + ax, 1.0 + bzz - b * t2,
    ], dim=-1)
    return R.reshape(*aa.shape[:-1], 3, 3)


@functools.lru_cache(maxsize=8)
def _chain_order(parents: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(joint, parent) pairs for joints 1..J-1; parents[0] must be -1 and each parent must precede its child."""
    if parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(parents) if j > 0):
        raise ValueError(f"parents must be -1 for joint 0 and precede their children, got {parents}")
    return tuple((j, parents[j]) for j in range(1, len(parents)))


def _rotations(model: SMPLModel, global_orient: torch.Tensor, body_pose: torch.Tensor,
               pose2rot: bool) -> torch.Tensor:
    """Per-joint local rotations (B,J,3,3) from axis-angle (pose2rot) or rotation-matrix input."""
    J = model.num_joints
    kw: TensorPlacement = {"dtype": model.dtype, "device": model.device}
    go = torch.as_tensor(global_orient, **kw)
    bp = torch.as_tensor(body_pose, **kw)
    B = go.shape[0]
    if pose2rot:
        if go.numel() != B * 3 or bp.numel() != B * (J - 1) * 3:
            raise ValueError(f"axis-angle input needs global_orient (B,3) and body_pose (B,{(J - 1) * 3}) or "
                             f"(B,{J - 1},3); got {tuple(go.shape)} and {tuple(bp.shape)}")
        pose = torch.cat([go.reshape(B, 1, 3), bp.reshape(B, J - 1, 3)], dim=1)  # (B,J,3)
        return axis_angle_to_matrix_torch(pose)  # (B,J,3,3)
    if go.numel() != B * 9 or bp.numel() != B * (J - 1) * 9:
        raise ValueError(f"rotation-matrix input (pose2rot=False) needs global_orient (B,3,3) and body_pose "
                         f"(B,{J - 1},3,3); got {tuple(go.shape)} and {tuple(bp.shape)}")
    return torch.cat([go.reshape(B, 1, 3, 3), bp.reshape(B, J - 1, 3, 3)], dim=1)  # (B,J,3,3)


def smpl_forward(
    model: SMPLModel,
    betas: torch.Tensor,
    global_orient: torch.Tensor,
    body_pose: torch.Tensor,
    transl: torch.Tensor | None = None,
    pose2rot: bool = True,
    vertex_ids: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SMPL's forward pass for a batch; differentiable, no Python loop over the batch.

    betas (B,S), (1,S) or (S,) with S <= model.num_betas (missing coefficients count as 0); global_orient (B,3) and
    body_pose (B,69) or (B,23,3) as axis-angle radians, or with ``pose2rot=False`` rotation matrices (B,3,3) or
    (B,1,3,3) and (B,23,3,3); transl (B,3) metres or None. Returns vertices (B,V,3) and joints (B,J,3), both
    translated by transl, in the model's dtype and device. The joints are the posed skeleton's 24 (smplx's
    ``SMPL`` output appends 21 joints picked from vertices; its first 24 equal these). ``vertex_ids`` (K,) poses
    only those vertices (vertices is then (B,K,3)): the joints need the whole shaped mesh only through
    J_regressor, which is linear, so a fit that looks at a few vertices never touches the other 6890 - K.
    """
    kw: TensorPlacement = {"dtype": model.dtype, "device": model.device}
    V, J = model.num_vertices, model.num_joints
    rot = _rotations(model, global_orient, body_pose, pose2rot)  # (B,J,3,3)
    B = rot.shape[0]
    betas = torch.as_tensor(betas, **kw)
    betas = betas.reshape(1, -1) if betas.dim() == 1 else betas
    S = betas.shape[-1]
    if S > model.num_betas:
        raise ConfigError(f"{S} shape coefficients (betas) given but the SMPL model file has only {model.num_betas}")
    if betas.dim() != 2 or betas.shape[0] not in (1, B):
        raise ValueError(f"betas must be (S,), (1,S) or ({B},S), got {tuple(betas.shape)}")

    # Vertex-major layout: per-vertex quantities are (V,3,B), so each large product is a single matrix product.
    # Shape blend shapes; the rest joints use J_regressor's linearity: J(T + D beta) = J T + (J D) beta.
    shapedirs = model.shapedirs[:, :, :S]  # (V,3,S)
    J_template, J_dirs = model.joint_basis  # (J,3), (J,3,S_model)
    J_dirs = J_dirs[:, :, :S]
    J_rest = J_template + (betas @ J_dirs.reshape(J * 3, S).T).reshape(-1, J, 3)
    J_rest = J_rest.expand(B, J, 3)
    v_template, posedirs, skin = model.v_template, model.posedirs, model.weights
    if vertex_ids is not None:
        ids = torch.as_tensor(np.asarray(vertex_ids, dtype=np.int64), device=model.device)
        v_template, shapedirs, posedirs, skin = v_template[ids], shapedirs[ids], posedirs[ids], skin[ids]
        V = int(ids.numel())
    v_shaped = v_template.unsqueeze(-1) + (shapedirs.reshape(V * 3, S) @ betas.T).reshape(V, 3, -1)

    # Pose blend shapes: features are (R - I) of joints 1..J-1, row-major.
    eye = torch.eye(3, **kw)
    pose_feature = (rot[:, 1:] - eye).reshape(B, (J - 1) * 9)  # (B,P)
    v_posed = v_shaped + (posedirs.reshape(V * 3, (J - 1) * 9) @ pose_feature.T).reshape(V, 3, B)

    # Kinematic chain: global rotation and position of every joint.
    parents = tuple(int(p) for p in model.parents)
    R_glob: list[torch.Tensor] = [rot[:, 0]]  # each (B,3,3)
    t_glob: list[torch.Tensor] = [J_rest[:, 0]]  # each (B,3)
    for j, p in _chain_order(parents):
        R_glob.append(R_glob[p] @ rot[:, j])
        bone = (J_rest[:, j] - J_rest[:, p]).unsqueeze(-1)  # (B,3,1)
        t_glob.append(t_glob[p] + (R_glob[p] @ bone).squeeze(-1))
    R_all = torch.stack(R_glob, dim=1)  # (B,J,3,3)
    joints = torch.stack(t_glob, dim=1)  # (B,J,3)

    # Linear blend skinning: G_j applied to (x - J_rest_j), blended per vertex by the skinning weights.
    offset = joints - (R_all @ J_rest.unsqueeze(-1)).squeeze(-1)  # (B,J,3)
    # Per joint 12 numbers, [columns of R | offset]; one (V,J) @ (J,12*B) product blends them for every vertex.
    A = torch.cat([R_all.transpose(-1, -2), offset.unsqueeze(-2)], dim=-2)  # (B,J,4,3)
    T = (skin @ A.permute(1, 2, 3, 0).reshape(J, 12 * B)).reshape(V, 4, 3, B)
    c0, c1, c2, t = T.unbind(1)  # each (V,3,B)
    x0, x1, x2 = v_posed.unsqueeze(-2).unbind(1)  # each (V,1,B)
    vertices = (c0 * x0 + c1 * x1 + c2 * x2 + t).permute(2, 0, 1).contiguous()  # (B,V,3)

    if transl is not None:
        transl = torch.as_tensor(transl, **kw).reshape(-1, 1, 3)
        vertices = vertices + transl
        joints = joints + transl
    return vertices, joints


# ---------------------------------------------------------------------------------------------------------------
# SMPL behind the fitter's interface (body/base.py)

# SMPL -> h36m17. Human3.6M's hip joints sit where the mocap pelvis markers put them: about 9 cm above SMPL's
# femoral-head hip joints (level with SMPL's pelvis joint) and twice as far apart (hip width 0.27 m against SMPL's
# ~0.14 m; thigh 0.45 m against ~0.36 m). So an h36m hip is SMPL's pelvis plus the full hip-to-hip vector, and the
# h36m root is SMPL's pelvis; this keeps the mean SMPL shape's h36m17 bone lengths near Human3.6M's means instead of
# asking the shape coefficients to stretch the legs. Thorax (level with the shoulders) is between SMPL's neck and
# shoulder joints; spine half-way up SMPL's spine1-spine2. Human3.6M's head joints sit lower than a nose and a crown
# (thorax-neck_nose 0.116 m, neck_nose-head_top 0.115 m): neck_nose is 3/4 of the way from the nose vertex 332 to
# SMPL's head joint, head_top 70% of the way from the head joint to the crown vertex 412 (the same blend measured on
# anny, whose mesh we can inspect, gives 0.137 and 0.11 m). Vertex ids are SMPL's topology (every SMPL release).
SMPL_NOSE_VERTEX = 332
SMPL_HEAD_TOP_VERTEX = 412
SMPL_H36M_RECIPE: dict[str, list[tuple[str | int, float]]] = {
    "pelvis": [("pelvis", 1.0)],
    "right_hip": [("pelvis", 1.0), ("right_hip", 1.0), ("left_hip", -1.0)],
    "right_knee": [("right_knee", 1.0)],
    "right_ankle": [("right_ankle", 1.0)],
    "left_hip": [("pelvis", 1.0), ("left_hip", 1.0), ("right_hip", -1.0)],
    "left_knee": [("left_knee", 1.0)],
    "left_ankle": [("left_ankle", 1.0)],
    "spine": [("spine1", 0.5), ("spine2", 0.5)],
    "thorax": [("neck", 0.5), ("left_shoulder", 0.25), ("right_shoulder", 0.25)],
    "neck_nose": [("head", 0.75), (SMPL_NOSE_VERTEX, 0.25)],
    "head_top": [(SMPL_HEAD_TOP_VERTEX, 0.7), ("head", 0.3)],
    "left_shoulder": [("left_shoulder", 1.0)],
    "left_elbow": [("left_elbow", 1.0)],
    "left_wrist": [("left_wrist", 1.0)],
    "right_shoulder": [("right_shoulder", 1.0)],
    "right_elbow": [("right_elbow", 1.0)],
    "right_wrist": [("right_wrist", 1.0)],
}
# Model joints that sit (about) where an h36m17 joint sits, for the analytic initialisation's bone directions.
SMPL_H36M_PAIRS: tuple[tuple[str, str], ...] = (
    ("pelvis", "pelvis"), ("left_hip", "left_hip"), ("right_hip", "right_hip"), ("left_knee", "left_knee"),
    ("right_knee", "right_knee"), ("left_ankle", "left_ankle"), ("right_ankle", "right_ankle"), ("neck", "thorax"),
    ("head", "head_top"), ("left_shoulder", "left_shoulder"), ("right_shoulder", "right_shoulder"),
    ("left_elbow", "left_elbow"), ("right_elbow", "right_elbow"), ("left_wrist", "left_wrist"),
    ("right_wrist", "right_wrist"),
)


class SMPLBody(BodyModel):
    """SMPL (a loaded SMPLModel) behind the BodyModel interface: shape = betas (first ``num_betas``, default 10)."""

    def __init__(self, model: SMPLModel, num_betas: int = 10) -> None:
        if model.num_vertices != NUM_VERTICES:
            raise ValueError("SMPLBody needs a full SMPL model")
        self.model = model
        self._num_betas = min(num_betas, model.num_betas)
        self.name = "smpl"
        self.joint_names = SMPL_JOINT_NAMES
        self.parents = np.asarray(SMPL_PARENTS, dtype=np.int64)
        self.faces = np.asarray(model.faces, dtype=np.int64)
        self.free_joints = tuple(range(22))  # the hand-end joints 22, 23 carry only finger-less hands: kept at rest
        self.h36m_pairs = SMPL_H36M_PAIRS
        self.h36m_vertex_ids = np.array([SMPL_NOSE_VERTEX, SMPL_HEAD_TOP_VERTEX], dtype=np.int64)
        self.h36m_weights = correspondence_matrix(self.joint_names, self.h36m_vertex_ids, SMPL_H36M_RECIPE).to(
            model.dtype)

    @property
    def num_shape(self) -> int:
        return self._num_betas

    @property
    def num_vertices(self) -> int:
        return self.model.num_vertices

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def device(self) -> torch.device:
        return self.model.device

    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        m = self.model
        shape = torch.as_tensor(shape, dtype=m.dtype, device=m.device)
        shape = shape.reshape(-1, shape.shape[-1])
        J_template, J_dirs = m.joint_basis
        return J_template + torch.einsum("jcs,bs->bjc", J_dirs[:, :, :shape.shape[-1]], shape)

    def rest_vertices(self, shape: torch.Tensor) -> torch.Tensor:
        m = self.model
        shape = torch.as_tensor(shape, dtype=m.dtype, device=m.device).reshape(-1)
        return m.v_template + torch.einsum("vcs,s->vc", m.shapedirs[:, :, :len(shape)], shape)

    def skin_weights(self) -> np.ndarray:
        return self.model.weights.double().cpu().numpy()

    def forward(self, shape: torch.Tensor, rotmats: torch.Tensor, transl: torch.Tensor | None = None,
                vertex_ids: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B = rotmats.shape[0]
        return smpl_forward(self.model, shape, rotmats[:, :1].reshape(B, 3, 3), rotmats[:, 1:], transl,
                            pose2rot=False, vertex_ids=vertex_ids)

    def params_arrays(self, shape: np.ndarray, rotmats: np.ndarray, transl: np.ndarray) -> dict[str, np.ndarray]:
        aa = matrix_to_axis_angle(np.asarray(rotmats, dtype=np.float64)).astype(np.float32)  # (T,24,3)
        return {"betas": np.asarray(shape, np.float32), "global_orient": aa[:, 0],
                "body_pose": aa[:, 1:].reshape(len(aa), -1), "transl": np.asarray(transl, np.float32)}
