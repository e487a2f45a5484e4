"""One interface over the body models mbcli fits (SMPL from a user file, the open anny model).

A body model here is a skinned mesh driven by a kinematic tree: ``forward`` takes a shape vector, one local rotation
matrix per joint (x' = R x, parent frame) and a root translation, and returns posed vertices and joints. The fitter
(body/fit.py) only ever talks to this interface, so SMPL and anny share the same initialisation, losses and
optimiser.

Correspondence with Human3.6M's 17 joints (the lifter's skeleton) is data of each model: ``h36m_pairs`` names the
model joints that sit where an h36m17 joint sits (used by the analytic initialisation), and ``h36m_weights`` (17,
J+K) builds each h36m17 joint as a weighted sum of the J posed joints and K posed vertices ``h36m_vertex_ids``
(heads and noses are surface points, not joints). ``forward(..., vertex_ids=ids)`` poses only those vertices, which
keeps each optimisation step cheap; the full mesh is posed once at the end.

Symbols: B batch (frames), S shape coefficients, J joints, V vertices, K selected vertices, F faces.
"""

from __future__ import annotations

import abc
from typing import TypedDict

import numpy as np
import torch

from mbcli.skeletons import H36M17


class TensorPlacement(TypedDict):
    """Keyword arguments that give a new tensor a model's dtype and device: ``torch.as_tensor(x, **placement)``."""

    dtype: torch.dtype
    device: torch.device


class BodyModel(abc.ABC):
    """A skinned body model. Subclasses set the attributes below in ``__init__`` and implement ``forward``.

    name: "smpl" | "anny" | ...; joint_names (J,) and parents (J,) (-1 for the root, parents before children);
    faces (F,3) int64; free_joints: indices of the joints whose rotation the fitter solves (the others stay at the
    identity, e.g. fingers); h36m_pairs: (model joint name, h36m17 joint name) pairs; h36m_vertex_ids (K,) int64;
    h36m_weights (17, J+K) float tensor.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: np.ndarray
    faces: np.ndarray
    free_joints: tuple[int, ...]
    h36m_pairs: tuple[tuple[str, str], ...]
    h36m_vertex_ids: np.ndarray
    h36m_weights: torch.Tensor

    @property
    @abc.abstractmethod
    def num_shape(self) -> int:
        """S, the length of the shape vector."""

    @property
    @abc.abstractmethod
    def num_vertices(self) -> int:
        """V."""

    @property
    @abc.abstractmethod
    def dtype(self) -> torch.dtype:
        ...

    @property
    @abc.abstractmethod
    def device(self) -> torch.device:
        ...

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def default_shape(self) -> torch.Tensor:
        """(S,) the shape vector fitting starts from (SMPL: zeros, the mean shape)."""
        return torch.zeros(self.num_shape, dtype=self.dtype, device=self.device)

    def shape_penalty(self, shape: torch.Tensor) -> torch.Tensor:
        """A scalar prior on the shape vector (S,); SMPL's betas are unit Gaussian, so the default is sum(shape^2)."""
        return (shape ** 2).sum()

    @abc.abstractmethod
    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        """Joints (B,J,3) of the unposed body for shape (B,S)."""

    @abc.abstractmethod
    def rest_vertices(self, shape: torch.Tensor) -> torch.Tensor:
        """Vertices (V,3) of the unposed body for shape (S,) (for skinned exports such as GLB)."""

    @abc.abstractmethod
    def skin_weights(self) -> np.ndarray:
        """(V,J) linear-blend-skinning weights, rows summing to 1 (for skinned exports)."""

    @abc.abstractmethod
    def forward(self, shape: torch.Tensor, rotmats: torch.Tensor, transl: torch.Tensor | None = None,
                vertex_ids: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed vertices (B,V,3), or (B,K,3) for ``vertex_ids``, and joints (B,J,3).

        shape (S,), (1,S) or (B,S); rotmats (B,J,3,3) local rotations; transl (B,3) metres or None. Differentiable.
        Convention (shared with exports): the root rotates about its rest joint J_0(shape) and ``transl`` is then
        added, i.e. G_0 = [R_0 | J_0 + transl]; G_j = G_parent [R_j | J_j - J_parent].
        """

    def h36m17(self, vertices_sel: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """h36m17 joints (B,17,3) from posed joints (B,J,3) and the posed ``h36m_vertex_ids`` vertices (B,K,3)."""
        pts = torch.cat([joints, vertices_sel], dim=1)  # (B,J+K,3)
        return torch.einsum("hn,bnc->bhc", self.h36m_weights.to(pts.dtype), pts)

    def h36m_from_params(self, shape: torch.Tensor, rotmats: torch.Tensor,
                         transl: torch.Tensor | None = None) -> torch.Tensor:
        """h36m17 joints (B,17,3) straight from parameters, posing only the vertices the correspondence needs."""
        verts, joints = self.forward(shape, rotmats, transl, vertex_ids=self.h36m_vertex_ids)
        return self.h36m17(verts, joints)

    def params_arrays(self, shape: np.ndarray, rotmats: np.ndarray, transl: np.ndarray) -> dict[str, np.ndarray]:
        """The model's own parameter arrays for saving (float32, plain): shape (S,), rotmats (T,J,3,3), transl (T,3).

        The default stores the inputs as they are; backends override it with their native layout.
        """
        return {"shape": shape.astype(np.float32), "rotmats": rotmats.astype(np.float32),
                "transl": transl.astype(np.float32)}


def correspondence_matrix(joint_names: tuple[str, ...], vertex_ids: np.ndarray,
                          recipe: dict[str, list[tuple[str | int, float]]]) -> torch.Tensor:
    """(17, J+K) weights from a recipe: h36m17 name -> [(model joint name or vertex id, weight), ...].

    Vertex ids must be listed in ``vertex_ids``; every h36m17 joint needs a recipe whose weights sum to 1.
    """
    J = len(joint_names)
    col: dict[str | int, int] = {n: i for i, n in enumerate(joint_names)}
    col.update({int(v): J + k for k, v in enumerate(np.asarray(vertex_ids).tolist())})
    W = torch.zeros(H36M17.num_joints, J + len(vertex_ids), dtype=torch.float64)
    for h, name in enumerate(H36M17.joints):
        terms = recipe[name]
        for src, w in terms:
            W[h, col[src]] += w
        if abs(float(W[h].sum()) - 1.0) > 1e-9:
            raise ValueError(f"correspondence for {name} has weights summing to {float(W[h].sum())}, not 1")
    return W
