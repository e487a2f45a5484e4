"""The anny body model (NAVER LABS, Apache-2.0, built on MakeHuman's CC0 assets) behind the fitter's interface.

Model: Brégier et al., "Anny: a free-to-use 3D human parametric model for all ages" (arXiv 2511.03589); the
``anny`` package 0.6.2 on PyPI. Its default full-body model: V = 13718 vertices, F = 27420 triangles, J = 104 bones
(rig "anny": root, pelvis, legs, 28 toe bones, 5 spine bones, clavicles, shoulders, arms with twist bones, 38 finger
and metacarpal bones, 3 neck bones, head, eyes), linear blend skinning with up to 9 bones per vertex.

Cache: body/anny_cache.py (built once from the anny package, about a minute; later loads read only that file
and need neither anny nor its dependencies). ``load_anny`` reads it, building it first when it is missing.

Frame. anny works Z-up, the body facing -Y, its left side on +X, metres. The cache converts every position to
mbcli's canonical body frame, SMPL's: metres, Y up, the body facing +Z, its left side on +X
(x_mbcli = ANNY_TO_CANONICAL @ x_anny: (x, y, z) -> (x, z, -y)). The rest pose is MakeHuman's A-pose (arms about 45
degrees below horizontal), standing, the mid-hip point near the origin (soles at y = -0.82 m).

Shape (S = 6): anny's default phenotypes ``ANNY_SHAPE_NAMES`` = gender (0 male .. 1 female), age (anny's
morphological-age calibration: 0.05 = 1 year, 0.415 = 11, 0.67 = 16, 0.77 = 18, 0.83 = 64, 1 = 110 years),
muscle, weight, height, proportions, each in [0, 1] (values outside are clamped, as anny does; anny's newborn
range, age < 0, is not used). The rest state is a piecewise multilinear function of them: each phenotype
is turned into linear-interpolation weights over its anchors (anny's ``PHENOTYPE_VARIATIONS``: e.g. weight min /
average / max at 0, 0.5, 1), the 624 MakeHuman macro targets are weighted by products of those weights (race is
fixed at 1/3 each, breast cup size and firmness at 0.5, as anny does for its default phenotypes), and anny's exact
compaction maps the 624 weights to 136 basis coefficients c (``phenotype_projection``). Rest vertices and bone heads
are then template + basis @ c. Default shape: an adult, ``ANNY_DEFAULT_SHAPE`` (age 0.8, about 40 years; the rest
0.5; 1.83 m tall; its thigh, shin, upper arm and forearm are within 3% of Human3.6M's mean bones). ``shape_penalty``
= sum(((s - default) / ANNY_SHAPE_SIGMA)^2) (like SMPL's unit-Gaussian betas: one sigma costs 1; gender is nearly
free) plus a wall 1e6 * (distance outside [0, 1])^2.

Pose. rotmats (B, J, 3, 3) are local rotations in the canonical frame's axes (world-aligned, as SMPL's): the
identity pose is the rest mesh, G_0 = [R_0 | J_0 + transl], G_j = G_parent [R_j | J_j - J_parent] (J the rest bone
heads), and vertex v moves by sum_j w_vj G_j [I | -J_j] v (body/base.py's convention). Joints are the posed bone
heads. anny's own pose parameters ("local-ref") differ: there the identity puts each bone at a fixed reference
orientation U_j, a few degrees (up to ~30 for extreme shapes) from its shape-dependent rest orientation R_j(shape);
``params_arrays`` converts (below). No pose blend shapes (anny has none).

Free joints (the fitter's): root, spine05..spine01, neck01..neck03, head, and per side clavicle, upperarm01,
lowerarm01, wrist, upperleg01, lowerleg01, foot (24). Fingers, toes, eyes, the pelvis, shoulder01 and the twist
bones (upperarm02, lowerarm02, upperleg02, lowerleg02) stay at the identity.

anny -> h36m17 (``ANNY_H36M_RECIPE``, with "nose" and "crown" standing for two vertices; ``AnnyBody.h36m_recipe``
has their ids; the same anatomical choices as body/smpl.py's SMPL recipe where they apply):
- pelvis = mid-point of the hip joints (upperleg01 heads). Hips: Human3.6M's are 0.1345 m from its pelvis, anny's
  adult's femoral heads 0.116 m, so each h36m hip is pushed out along the hip-to-hip line by a factor 1.16
  (left_hip = 1.08 L - 0.08 R). anny's hip joints already sit at Human3.6M's height (thigh 0.443 vs 0.450 m).
- knees, ankles = lowerleg01, foot heads; shoulders, elbows, wrists = upperarm01, lowerarm01, wrist heads.
- spine = spine02 head (26 cm above and 2 cm behind the pelvis: where Human3.6M's spine joint sits, 23 cm above
  and 3 cm behind). thorax = 0.75 neck01 + 0.125 each clavicle head (all three ride on spine01, so shrugging does
  not move it).
- Human3.6M's head joints sit lower than a nose and a crown (thorax-neck_nose 0.116 m, neck_nose-head_top 0.115 m):
  neck_nose = 0.75 head-bone head (top of the neck) + 0.25 nose-tip vertex, head_top = 0.7 crown vertex + 0.3
  head-bone head (SMPL's recipe uses the same blend). Vertices are found at build time from the default shape's rest
  mesh: within 2 mm of the symmetry plane and above the head bone, the one furthest forward (nose tip) and the
  highest (crown); for anny 0.6.2 these are vertices 5038 and 881.
Rest-pose h36m17 bone lengths of the default shape over Human3.6M's means (H36M_BONE_LENGTHS_M): hip 1.00, thigh
0.98, shin 1.03, upper arm 1.01, forearm 1.01, pelvis-spine 1.09, spine-thorax 1.23, thorax-neck_nose 1.18,
neck_nose-head_top 0.98, thorax-shoulder 1.35 (anny's shoulder joints are 0.37 m apart, Human3.6M's 0.27 m). With
nose and crown taken as they are (the first version) the two head bones were 1.45 and 1.44.

``params_arrays`` (body.npz; float32): ``phenotypes`` (6,) the shape in ANNY_SHAPE_NAMES order (anny's
``phenotype_kwargs``); ``pose_parameters`` (T, 104, 4, 4) anny's "local-ref" pose parameters (homogeneous; the
root's translation is its head's position). ``anny.Anny()(pose_parameters=..., phenotype_kwargs={name: value})
["vertices"]`` then reproduces mbcli's posed vertices in the same frame as the given rotmats/transl (the canonical
rotation is folded into the root), e.g. the Z-up world frame of body.npz. Conversion, with A_j = U_j R_j^T and
K = ANNY_TO_CANONICAL: D_0 = R_0 K, D_j = A_parent K^T R_j K A_j^T, root translation J_0 + transl.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from mbcli.body.anny_cache import (
    ANNY_DEFAULT_SHAPE,
    ANNY_FEATURES,
    ANNY_INSTALL,
    ANNY_SHAPE_NAMES,
    ANNY_TO_CANONICAL,
    ANNY_VERSION,
    anny_cache_path,
    build_anny_cache,
    check_anny_arrays,
    installed_anny_version,
    read_anny_cache,
)
from mbcli.body.base import BodyModel, TensorPlacement, correspondence_matrix
from mbcli.errors import DependencyError, WeightsError

log = logging.getLogger(__name__)

ANNY_SHAPE_SIGMA: tuple[float, ...] = (1.0, 0.1, 0.2, 0.2, 0.2, 0.2)
_WALL = 1e6
_FIXED_FEATURE_VALUE = 0.5  # cupsize and firmness: anny's default when they are not exposed

ANNY_FREE_JOINTS: tuple[str, ...] = (
    "root", "spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "neck02", "neck03", "head",
    "clavicle.L", "upperarm01.L", "lowerarm01.L", "wrist.L", "clavicle.R", "upperarm01.R", "lowerarm01.R", "wrist.R",
    "upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R",
)
_HIP_OUT = 1.16  # Human3.6M hip half-width / anny's (0.1345 / 0.116 m)
_NOSE, _CROWN = "nose", "crown"  # stand for the vertices found at build time (h36m_vertices)
ANNY_H36M_RECIPE: dict[str, list[tuple[str, float]]] = {
    "pelvis": [("upperleg01.L", 0.5), ("upperleg01.R", 0.5)],
    "right_hip": [("upperleg01.R", (1 + _HIP_OUT) / 2), ("upperleg01.L", (1 - _HIP_OUT) / 2)],
    "right_knee": [("lowerleg01.R", 1.0)],
    "right_ankle": [("foot.R", 1.0)],
    "left_hip": [("upperleg01.L", (1 + _HIP_OUT) / 2), ("upperleg01.R", (1 - _HIP_OUT) / 2)],
    "left_knee": [("lowerleg01.L", 1.0)],
    "left_ankle": [("foot.L", 1.0)],
    "spine": [("spine02", 1.0)],
    "thorax": [("neck01", 0.75), ("clavicle.L", 0.125), ("clavicle.R", 0.125)],
    "neck_nose": [("head", 0.75), (_NOSE, 0.25)],
    "head_top": [(_CROWN, 0.7), ("head", 0.3)],
    "left_shoulder": [("upperarm01.L", 1.0)],
    "left_elbow": [("lowerarm01.L", 1.0)],
    "left_wrist": [("wrist.L", 1.0)],
    "right_shoulder": [("upperarm01.R", 1.0)],
    "right_elbow": [("lowerarm01.R", 1.0)],
    "right_wrist": [("wrist.R", 1.0)],
}
# Model joints that sit (about) where an h36m17 joint sits, for the analytic initialisation's bone directions.
ANNY_H36M_PAIRS: tuple[tuple[str, str], ...] = (
    ("root", "pelvis"), ("upperleg01.L", "left_hip"), ("upperleg01.R", "right_hip"), ("lowerleg01.L", "left_knee"),
    ("lowerleg01.R", "right_knee"), ("foot.L", "left_ankle"), ("foot.R", "right_ankle"), ("spine02", "spine"),
    ("neck01", "thorax"), ("head", "head_top"), ("upperarm01.L", "left_shoulder"),
    ("upperarm01.R", "right_shoulder"), ("lowerarm01.L", "left_elbow"), ("lowerarm01.R", "right_elbow"),
    ("wrist.L", "left_wrist"), ("wrist.R", "right_wrist"),
)


def _tree_levels(parents: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Joints grouped by depth: per level (joint indices, their parents' positions within the previous level)."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        p = int(parents[j])
        if not 0 <= p < j:
            raise WeightsError(f"anny cache: bone {j} has parent {p}; parents must precede their children")
        depth[j] = depth[p] + 1
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    prev = np.array([0])
    for d in range(1, int(depth.max()) + 1):
        idx = np.flatnonzero(depth == d)
        pos = {int(j): k for k, j in enumerate(prev)}
        levels.append((idx, np.array([pos[int(parents[j])] for j in idx])))
        prev = idx
    return levels


def special_procrustes(M: np.ndarray) -> np.ndarray:
    """The rotation closest (Frobenius) to each M (..., 3, 3): U diag(1, 1, det(U V^T)) V^T from M = U S V^T."""
    U, _, Vt = np.linalg.svd(M)
    d = np.sign(np.linalg.det(U @ Vt))
    U = U.copy()
    U[..., :, 2] *= d[..., None]
    return U @ Vt


class AnnyBody(BodyModel):
    """anny behind the BodyModel interface (module docstring): shape = the 6 phenotypes, 104 bones."""

    def __init__(self, arrays: dict[str, np.ndarray], dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> None:
        check_anny_arrays(arrays, "anny arrays")
        dev = torch.device(device)
        self._dtype, self._device = dtype, dev

        def t(name: str) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(arrays[name]), dtype=dtype, device=dev)

        self.name = "anny"
        self.shape_names = ANNY_SHAPE_NAMES
        self.joint_names = tuple(str(s) for s in arrays["bone_labels"])
        self.parents = arrays["parents"].astype(np.int64)
        self.parents[0] = -1
        self.faces = arrays["faces"].astype(np.int64)
        self.anny_version = str(arrays["anny_version"]) if "anny_version" in arrays else ANNY_VERSION
        V, J = arrays["template_vertices"].shape[0], len(self.joint_names)
        self._V = V
        self.template_vertices = t("template_vertices")  # (V,3)
        self.vertex_dirs = t("vertex_dirs")  # (V,3,R)
        self.template_heads = t("template_heads")  # (J,3)
        self.head_dirs = t("head_dirs")  # (J,3,R)
        self._np = {k: arrays[k] for k in ("orient_template", "orient_dirs", "reference_orientations",
                                           "template_heads", "head_dirs")}
        idx = arrays["skin_indices"].astype(np.int64)
        w = arrays["skin_weights"].astype(np.float64)
        dense = np.zeros((V, J))
        np.add.at(dense, (np.repeat(np.arange(V), idx.shape[1]), idx.reshape(-1)), w.reshape(-1))
        self._skin_dense_np = dense
        self.skin = torch.as_tensor(dense, dtype=dtype, device=dev)  # (V,J)
        self._subsets: dict[bytes, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        nz = dense != 0
        rows, cols = np.nonzero(nz)
        self.skin_sparse = torch.sparse_coo_tensor(
            torch.as_tensor(np.stack([rows, cols])), torch.as_tensor(dense[nz], dtype=dtype), (V, J),
            device=dev, check_invariants=True).coalesce()
        # phenotype -> basis coefficients
        feat = arrays["variation_feature"].astype(np.int64)
        anchors = arrays["variation_anchor"]
        self._var_feature = torch.as_tensor(feat, device=dev)
        nf = len(ANNY_FEATURES)
        nmax = int(np.bincount(feat, minlength=nf).max())
        table = np.empty((nf, nmax))
        count = np.zeros(nf, dtype=np.int64)
        pos = np.zeros(len(feat), dtype=np.int64)
        for i, f in enumerate(feat):
            pos[i] = count[f]
            table[f, count[f]] = anchors[i]
            count[f] += 1
        for f in range(nf):  # pad with increasing values beyond the last anchor so each row stays sorted
            table[f, count[f]:] = table[f, count[f] - 1] + 1.0 + np.arange(nmax - count[f])
        race = ANNY_FEATURES.index("race")
        table[race] = np.arange(nmax)  # race is not interpolated (fixed weights); keep it finite
        self._anchor_table = torch.as_tensor(table, dtype=dtype, device=dev)  # (F,nmax)
        self._anchor_count = torch.as_tensor(count, device=dev)
        self._var_pos = torch.as_tensor(pos, device=dev)
        self._race = torch.as_tensor(feat == ANNY_FEATURES.index("race"), device=dev)
        self._shape_feature = [ANNY_FEATURES.index(n) for n in ANNY_SHAPE_NAMES]
        self._phen_mask = t("phenotype_mask")  # (P,26)
        self._projection = t("phenotype_projection")  # (P,R)
        levels = _tree_levels(self.parents)
        self._ppos = [torch.as_tensor(p, device=dev) for _, p in levels]
        self._sizes = [1] + [len(i) for i, _ in levels]
        self._order = torch.as_tensor(np.concatenate([[0]] + [i for i, _ in levels]), device=dev)
        self._inverse = torch.argsort(self._order)
        self._parent_idx = torch.as_tensor(np.maximum(self.parents, 0), device=dev)

        names = self.joint_names
        self.free_joints = tuple(names.index(n) for n in ANNY_FREE_JOINTS)
        self.h36m_pairs = ANNY_H36M_PAIRS
        nose, crown = (int(v) for v in arrays["h36m_vertices"])
        self.h36m_vertex_ids = np.array([nose, crown], dtype=np.int64)
        recipe = {h: [(nose if s == _NOSE else crown if s == _CROWN else s, w) for s, w in terms]
                  for h, terms in ANNY_H36M_RECIPE.items()}
        self.h36m_recipe: dict[str, list[tuple[str | int, float]]] = recipe
        self.h36m_weights = correspondence_matrix(names, self.h36m_vertex_ids, recipe).to(dtype=dtype, device=dev)
        self._default = torch.as_tensor(ANNY_DEFAULT_SHAPE, dtype=dtype, device=dev)
        self._sigma = torch.as_tensor(ANNY_SHAPE_SIGMA, dtype=dtype, device=dev)

    # ----- interface basics

    @property
    def num_shape(self) -> int:
        return len(ANNY_SHAPE_NAMES)

    @property
    def num_vertices(self) -> int:
        return self._V

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    def default_shape(self) -> torch.Tensor:
        return self._default.clone()

    def shape_penalty(self, shape: torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(shape, dtype=self.dtype, device=self.device)
        z = (s - self._default) / self._sigma
        out = torch.relu(-s) + torch.relu(s - 1.0)
        return (z ** 2).sum() + _WALL * (out ** 2).sum()

    # ----- shape

    def _shape2d(self, shape: torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(shape, dtype=self.dtype, device=self.device)
        s = s.reshape(1, -1) if s.dim() == 1 else s
        if s.dim() != 2 or s.shape[1] != self.num_shape:
            raise ValueError(f"anny shape must be ({self.num_shape},) or (B,{self.num_shape}) "
                             f"({', '.join(ANNY_SHAPE_NAMES)}), got {tuple(s.shape)}")
        return s

    def coefficients(self, shape: torch.Tensor) -> torch.Tensor:
        """Phenotype-basis coefficients (B,R) for shape (B,6) or (6,) (module docstring; anny's formula)."""
        s = self._shape2d(shape)
        B = s.shape[0]
        zero, one = s.new_zeros(()), s.new_ones(())
        s = torch.where(s < 0, zero, s)  # clamp with a one-sided gradient on the boundary, as anny does
        s = torch.where(s > 1, one, s)
        values = s.new_full((len(ANNY_FEATURES), B), _FIXED_FEATURE_VALUE)
        values = values.index_copy(0, torch.as_tensor(self._shape_feature, device=self.device), s.T)
        table = self._anchor_table  # (F,nmax)
        idx = torch.searchsorted(table, values.contiguous(), side="left")  # (F,B)
        idx = torch.minimum(idx.clamp(min=1), (self._anchor_count - 1)[:, None])
        lo = table.gather(1, idx - 1)
        hi = table.gather(1, idx)
        alpha = (values - lo) / (hi - lo)  # (F,B)
        vi = idx[self._var_feature]  # (26,B)
        va = alpha[self._var_feature]
        pos = self._var_pos[:, None]
        phens = torch.where(pos == vi - 1, 1.0 - va, zero) + torch.where(pos == vi, va, zero)
        phens = torch.where(self._race[:, None], torch.full_like(phens, 1.0 / 3.0), phens).T  # (B,26)
        m = self._phen_mask
        w = torch.prod(phens[:, None, :] * m + (1.0 - m), dim=-1)  # (B,P)
        return w @ self._projection

    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        c = self.coefficients(shape)
        return self.template_heads + torch.einsum("jcr,br->bjc", self.head_dirs, c)

    def rest_vertices(self, shape: torch.Tensor) -> torch.Tensor:
        c = self.coefficients(torch.as_tensor(shape, dtype=self.dtype, device=self.device).reshape(1, -1))[0]
        return self.template_vertices + self.vertex_dirs @ c

    def skin_weights(self) -> np.ndarray:
        return self._skin_dense_np.copy()

    # ----- pose

    def _chain(self, rot: torch.Tensor, heads: torch.Tensor, transl: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Global rotations (B,J,3,3) and posed joints (B,J,3), one tree depth at a time: G_j = G_parent R_j,
        p_j = p_parent + G_parent (J_j - J_parent) for a whole level in one gather and one batched product."""
        B, Bs = rot.shape[0], heads.shape[0]
        bones = (heads - heads[:, self._parent_idx]).index_select(1, self._order).unsqueeze(-1)  # (Bs,J,3,1)
        rot_l = torch.split(rot.index_select(1, self._order), self._sizes, dim=1)
        bone_l = torch.split(bones, self._sizes, dim=1)
        p0 = heads[:, :1].expand(B, 1, 3) if Bs == 1 else heads[:, :1]
        if transl is not None:
            p0 = p0 + transl[:, None]
        Gs, ps = [rot_l[0]], [p0]
        for r, b, ppos in zip(rot_l[1:], bone_l[1:], self._ppos):
            Gp = Gs[-1].index_select(1, ppos)
            ps.append(ps[-1].index_select(1, ppos) + (Gp @ b).squeeze(-1))
            Gs.append(Gp @ r)
        return torch.cat(Gs, dim=1).index_select(1, self._inverse), torch.cat(ps, dim=1).index_select(1, self._inverse)

    def forward(self, shape: torch.Tensor, rotmats: torch.Tensor, transl: torch.Tensor | None = None,
                vertex_ids: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        kw: TensorPlacement = {"dtype": self.dtype, "device": self.device}
        rot = torch.as_tensor(rotmats, **kw)
        J = self.num_joints
        if rot.dim() != 4 or rot.shape[1:] != (J, 3, 3):
            raise ValueError(f"anny rotmats must be (B,{J},3,3), got {tuple(rot.shape)}")
        B = rot.shape[0]
        c = self.coefficients(shape)  # (Bs,R)
        if c.shape[0] not in (1, B):
            raise ValueError(f"anny shape batch {c.shape[0]} does not match the pose batch {B}")
        if transl is not None:
            transl = torch.as_tensor(transl, **kw).reshape(B, 3)
        heads = self.template_heads + torch.einsum("jcr,br->bjc", self.head_dirs, c)  # (Bs,J,3)
        R_all, joints = self._chain(rot, heads, transl)

        if vertex_ids is None:
            tmpl, dirs, skin = self.template_vertices, self.vertex_dirs, self.skin_sparse
            G, p, h = R_all, joints, heads
        else:  # only the selected vertices, and only the bones that move them
            ids, cols, skin = self._subset(vertex_ids)
            tmpl, dirs = self.template_vertices[ids], self.vertex_dirs[ids]
            G, p, h = R_all.index_select(1, cols), joints.index_select(1, cols), heads.index_select(1, cols)
        K, R, Jc = tmpl.shape[0], dirs.shape[-1], G.shape[1]
        v_rest = tmpl.unsqueeze(-1) + (dirs.reshape(K * 3, R) @ c.T).reshape(K, 3, -1)  # (K,3,Bs)

        # LBS, vertex-major: per joint [columns of G_j | posed head - G_j rest head], blended by one product.
        offset = p - (G @ h.unsqueeze(-1)).squeeze(-1)  # (B,Jc,3)
        A = torch.cat([G.transpose(-1, -2), offset.unsqueeze(-2)], dim=-2)  # (B,Jc,4,3)
        A = A.permute(1, 2, 3, 0).reshape(Jc, 12 * B)
        T = (torch.sparse.mm(skin, A) if skin.is_sparse else skin @ A).reshape(K, 4, 3, B)
        c0, c1, c2, tr = T.unbind(1)  # each (K,3,B)
        x0, x1, x2 = v_rest.unsqueeze(-2).unbind(1)  # each (K,1,Bs)
        vertices = (c0 * x0 + c1 * x1 + c2 * x2 + tr).permute(2, 0, 1).contiguous()  # (B,K,3)
        return vertices, joints

    def _subset(self, vertex_ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(vertex ids, the bones with weight on them, their (K,Jc) skinning weights), cached per id set."""
        ids_np = np.asarray(vertex_ids, dtype=np.int64).reshape(-1)
        key = ids_np.tobytes()
        hit = self._subsets.get(key)
        if hit is None:
            if ids_np.size and (ids_np.min() < 0 or ids_np.max() >= self._V):
                raise ValueError(f"anny vertex ids must lie in [0, {self._V}), got {ids_np.min()}..{ids_np.max()}")
            cols_np = np.flatnonzero((self._skin_dense_np[ids_np] != 0).any(axis=0))
            ids = torch.as_tensor(ids_np, device=self.device)
            cols = torch.as_tensor(cols_np, device=self.device)
            hit = (ids, cols, self.skin[ids][:, cols].contiguous())
            if len(self._subsets) < 16:
                self._subsets[key] = hit
        return hit

    # ----- anny's own parameters

    def rest_orientations(self, shape: np.ndarray) -> np.ndarray:
        """anny's rest bone orientations R_j(shape) (J,3,3), anny's frame (float64)."""
        with torch.no_grad():
            c = self.coefficients(torch.as_tensor(np.asarray(shape, np.float64).reshape(1, -1), dtype=self.dtype,
                                                  device=self.device))[0].double().cpu().numpy()
        M = self._np["orient_template"] + self._np["orient_dirs"] @ c
        return special_procrustes(M)

    def params_arrays(self, shape: np.ndarray, rotmats: np.ndarray, transl: np.ndarray) -> dict[str, np.ndarray]:
        shape = np.asarray(shape, dtype=np.float64).reshape(-1)
        rot = np.asarray(rotmats, dtype=np.float64)
        transl = np.asarray(transl, dtype=np.float64).reshape(-1, 3)
        T, J = rot.shape[0], self.num_joints
        if rot.shape != (T, J, 3, 3) or transl.shape[0] != T or shape.shape != (self.num_shape,):
            raise ValueError(f"params_arrays needs shape ({self.num_shape},), rotmats (T,{J},3,3), transl (T,3); got "
                             f"{shape.shape}, {rot.shape}, {transl.shape}")
        K = ANNY_TO_CANONICAL
        A = self._np["reference_orientations"] @ np.swapaxes(self.rest_orientations(shape), -1, -2)  # U R^T
        A[0] = np.eye(3)
        D = np.empty((T, J, 4, 4))
        D[..., 3, :] = (0.0, 0.0, 0.0, 1.0)
        D[..., :3, 3] = 0.0
        D[:, 0, :3, :3] = rot[:, 0] @ K
        local = K.T @ rot[:, 1:] @ K  # (T,J-1,3,3) in anny's axes
        D[:, 1:, :3, :3] = A[self.parents[1:]] @ local @ np.swapaxes(A[1:], -1, -2)
        with torch.no_grad():
            J0 = self.rest_joints(torch.as_tensor(shape, dtype=self.dtype, device=self.device))[0, 0]
        D[:, 0, :3, 3] = J0.double().cpu().numpy() + transl
        return {"phenotypes": shape.astype(np.float32), "pose_parameters": D.astype(np.float32)}


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_anny(cache_dir: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> AnnyBody:
    """The anny body model from its cache in ``cache_dir`` (default: $MBCLI_CACHE_DIR or ~/.cache/mbcli), building
    the cache first when it is missing (about a minute, needs the anny package: DependencyError otherwise). A cache
    that cannot be read is rebuilt when anny is installed (WeightsError otherwise)."""
    p = anny_cache_path(cache_dir)
    if p.is_file():
        try:
            return AnnyBody(read_anny_cache(p), dtype=dtype, device=device)
        except WeightsError:
            if installed_anny_version() is None:
                raise
            log.warning("the anny cache %s is unreadable; rebuilding it", p)
    elif installed_anny_version() is None:
        raise DependencyError(f"--body-model anny needs the anny package once, to build its cache {p}; install it "
                              f"with: {ANNY_INSTALL}")
    log.warning("building the anny body model cache %s (once; about a minute)", p)
    build_anny_cache(p)
    return AnnyBody(read_anny_cache(p), dtype=dtype, device=device)
