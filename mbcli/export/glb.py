"""glTF 2.0 binary (GLB) export of an animated, skinned body mesh (SMPL, anny): one file that web viewers
(three.js, Babylon), Blender, Unity and Unreal play back.

Coordinates. Every input array is in the body model's canonical frame, which is glTF's own: metres, +Y up, the
body facing +Z (its left side on +X). Nothing is converted here; callers with camera-frame results (x right, y down,
z forward) convert first, e.g. (x, y, z) -> (x, -y, -z), a half turn about x. Blender's importer maps glTF
(x, y, z) to its Z-up (x, -z, y).

Model. The input is the model's forward pass without pose-corrective blend shapes (a skinned glTF cannot store
them; SMPL's ``posedirs`` are therefore dropped, anny has none to drop):
  G_j = G_parent(j) [R_j | J_j - J_parent(j)],  G_root = [R_root | J_root + transl]     (kinematic chain)
  vertex = sum_j w_vj G_j (v - J_j)                                                     (linear blend skinning)
with R_j = ``local_rotations[t, j]`` acting on column vectors (x' = R x), J = ``joint_rest``, v = ``rest_vertices``
(the shaped mesh in the rest pose) and w = ``skin_weights``.

glTF layout. Nodes 0..J-1 are the joints, in input order (so JOINTS_0 holds input joint indices), each a child of
its parent with rest translation J_j - J_parent (the root: J_root) and identity rotation; node J carries the mesh
and the skin and is a scene root with no transform (glTF ignores a skinned mesh node's own transform). The inverse
bind matrix of joint j is a translation by -J_j (rest joints have identity orientation), so node j's world matrix
times it is exactly G_j [I | -J_j]. The mesh has POSITION (the rest vertices), NORMAL (area-weighted rest normals),
JOINTS_0/WEIGHTS_0 (each vertex's 4 largest weights, renormalised to sum to 1; with ``max_influences=8`` also
JOINTS_1/WEIGHTS_1 with the next 4, which Blender reads but viewers that read only the first set, three.js among
them, do not, so 4 is the default) and uint32 indices. anny's weights have up to 9 influences per vertex: keeping
4 moved its vertices by up to 2.5 cm (mean 0.2 mm) under random 0.2 rad rotations of all 163 bones, keeping 8 by
up to 0.3 mm. One animation named ``motion`` has, per joint whose rotation is not the identity
in every frame (the root always), a rotation channel (unit quaternions x, y, z, w: mbcli.geometry's w, x, y, z
reordered; signs chosen so consecutive keys are in the same hemisphere and the first has w >= 0), plus the root's translation channel (J_root + transl); sampler input is frame / fps
seconds, interpolation LINEAR (glTF slerps rotations). The animation's ``extras`` hold ``fps`` and ``frames``.
glTF stores seconds, so a Blender user sets the scene frame rate to ``fps`` before importing.

Binary. Little-endian 12-byte header (magic ``glTF``, version 2, total length), a JSON chunk padded with spaces and
a BIN chunk padded with zeros, both to 4 bytes; every bufferView starts on a 4-byte boundary; vertex attribute views
target ARRAY_BUFFER, the index view ELEMENT_ARRAY_BUFFER, others (inverse bind matrices, animation) none. Floats are
float32; JOINTS are uint8 when there are at most 256 joints, else uint16. Accessors carry the min/max the
specification requires (POSITION and animation input), computed from the stored float32 values.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from mbcli.errors import ExportError
from mbcli.export import write_atomic
from mbcli.geometry import matrix_to_quaternion

GLB_MAGIC = 0x46546C67  # b"glTF"
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT, FLOAT = 5121, 5123, 5125, 5126
_COMPONENT = {np.dtype(np.uint8): UNSIGNED_BYTE, np.dtype(np.uint16): UNSIGNED_SHORT,
              np.dtype(np.uint32): UNSIGNED_INT, np.dtype(np.float32): FLOAT}
_TYPE = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
IDENTITY_TOL = 1e-7  # a joint whose |R - I| stays below this in every frame gets no rotation channel
_ROTATION_TOL = 1e-3  # max |R^T R - I| accepted for a rotation matrix
_WEIGHT_SUM_TOL = 1e-3


def write_skinned_glb(
    path: str | os.PathLike,
    *,
    rest_vertices: np.ndarray,
    faces: np.ndarray,
    skin_weights: np.ndarray,
    joint_rest: np.ndarray,
    parents: Sequence[int] | np.ndarray,
    joint_names: Sequence[str],
    local_rotations: np.ndarray,
    root_translation: np.ndarray,
    fps: float,
    name: str = "body",
    max_influences: int = 4,
) -> None:
    """Write an animated skinned mesh as a GLB file (atomically; missing parent folders are created).

    rest_vertices (V,3) metres; faces (F,3) integer vertex indices; skin_weights (V,J) dense, non-negative, rows
    summing to 1; joint_rest (J,3) rest joint positions; parents (J,) parent index, -1 for the root (exactly one
    root, any order); joint_names (J,); local_rotations (T,J,3,3) each joint's rotation relative to its parent
    (x' = R x); root_translation (T,3) metres added to the root joint; fps frames per second; max_influences 4
    (JOINTS_0/WEIGHTS_0) or 8 (adds JOINTS_1/WEIGHTS_1). All arrays in glTF's frame (Y up, facing +Z; see the module
    docstring). Raises ExportError (one line) for bad shapes, non-finite values or an unwritable path.
    """
    verts = _float_array(rest_vertices, "rest_vertices")
    V = _check_shape(verts, "rest_vertices", (None, 3))[0]
    weights = _float_array(skin_weights, "skin_weights")
    joints_rest = _float_array(joint_rest, "joint_rest")
    J = _check_shape(joints_rest, "joint_rest", (None, 3))[0]
    _check_shape(weights, "skin_weights", (V, J))
    rot = _float_array(local_rotations, "local_rotations")
    T = _check_shape(rot, "local_rotations", (None, J, 3, 3))[0]
    transl = _float_array(root_translation, "root_translation")
    _check_shape(transl, "root_translation", (T, 3))
    if V == 0 or J == 0 or T == 0:
        raise ExportError(f"GLB export needs at least one vertex, joint and frame, got V={V}, J={J}, T={T}")
    if J > 65536:
        raise ExportError(f"GLB export supports at most 65536 joints, got {J}")
    tri = _faces(faces, V)
    par = _parents(parents, J)
    names = [str(n) for n in joint_names]
    if len(names) != J:
        raise ExportError(f"joint_names has {len(names)} entries for {J} joints")
    try:
        fps = float(fps)
    except (TypeError, ValueError) as e:
        raise ExportError(f"fps must be a number, got {fps!r}") from e
    if not (np.isfinite(fps) and fps > 0):
        raise ExportError(f"fps must be finite and positive, got {fps}")
    if max_influences not in (4, 8):
        raise ExportError(f"max_influences must be 4 or 8, got {max_influences}")
    if weights.min() < -1e-6:
        raise ExportError(f"skin_weights has negative entries (min {weights.min():.3g})")
    sums = weights.sum(axis=1)
    if np.abs(sums - 1.0).max() > _WEIGHT_SUM_TOL:
        v = int(np.abs(sums - 1.0).argmax())
        raise ExportError(f"skin_weights rows must sum to 1, vertex {v} sums to {sums[v]:.6g}")
    gram_err = np.abs(np.swapaxes(rot, -1, -2) @ rot - np.eye(3)).max(axis=(-1, -2))
    if gram_err.max() > _ROTATION_TOL or np.linalg.det(rot).min() <= 0:
        t, j = (int(i) for i in np.unravel_index(int(np.argmax(gram_err + (np.linalg.det(rot) <= 0))), gram_err.shape))
        raise ExportError(f"local_rotations[{t}, {j}] is not a rotation matrix (orthonormal, det +1)")

    root = int(np.flatnonzero(par == -1)[0])
    animated = [j for j in range(J) if j == root or np.abs(rot[:, j] - np.eye(3)).max() > IDENTITY_TOL]
    quats = matrix_to_quaternion(rot[:, animated])[..., [1, 2, 3, 0]]  # (T,A,4) w,x,y,z -> glTF's x,y,z,w
    quats = _hemisphere_continuous(quats)
    joint_idx, joint_w = top_weights(weights, max_influences)
    normals = vertex_normals(verts, tri)

    buf = _BinBuilder()
    attributes = {
        "POSITION": buf.accessor(verts.astype(np.float32), ARRAY_BUFFER, minmax=True),
        "NORMAL": buf.accessor(normals.astype(np.float32), ARRAY_BUFFER),
    }
    jdtype = np.uint8 if J <= 256 else np.uint16
    for s in range(max_influences // 4):
        attributes[f"JOINTS_{s}"] = buf.accessor(joint_idx[:, 4 * s:4 * s + 4].astype(jdtype), ARRAY_BUFFER)
        attributes[f"WEIGHTS_{s}"] = buf.accessor(joint_w[:, 4 * s:4 * s + 4], ARRAY_BUFFER)
    indices = buf.accessor(tri.reshape(-1).astype(np.uint32), ELEMENT_ARRAY_BUFFER, minmax=True)
    ibm = np.tile(np.eye(4, dtype=np.float32), (J, 1, 1))
    ibm[:, :3, 3] = -joints_rest
    ibm_acc = buf.accessor(np.ascontiguousarray(ibm.transpose(0, 2, 1)).reshape(J, 16))  # glTF is column-major
    times = buf.accessor((np.arange(T) / fps).astype(np.float32), minmax=True)

    channels: list[dict[str, Any]] = []
    samplers: list[dict[str, Any]] = []

    def channel(node: int, prop: str, values: np.ndarray) -> None:
        samplers.append({"input": times, "output": buf.accessor(values), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": prop}})

    for a, j in enumerate(animated):
        channel(j, "rotation", np.ascontiguousarray(quats[:, a]).astype(np.float32))
    channel(root, "translation", (joints_rest[root] + transl).astype(np.float32))

    nodes: list[dict[str, Any]] = []
    for j in range(J):
        node: dict[str, Any] = {"name": names[j]}
        offset = joints_rest[j] - (joints_rest[par[j]] if par[j] >= 0 else 0.0)
        if np.any(offset != 0):
            node["translation"] = [float(x) for x in offset.astype(np.float32)]
        children = [int(c) for c in np.flatnonzero(par == j)]
        if children:
            node["children"] = children
        nodes.append(node)
    nodes.append({"name": name, "mesh": 0, "skin": 0})

    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "mbcli"},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [J, root]}],
        "nodes": nodes,
        "meshes": [{"name": name, "primitives": [{"attributes": attributes, "indices": indices, "material": 0,
                                                  "mode": 4}]}],
        "materials": [{"name": f"{name}_material", "pbrMetallicRoughness": {
            "baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.7}}],
        "skins": [{"name": f"{name}_skin", "inverseBindMatrices": ibm_acc, "joints": list(range(J)),
                   "skeleton": root}],
        "animations": [{"name": "motion", "channels": channels, "samplers": samplers,
                        "extras": {"fps": fps, "frames": T}}],
        "accessors": buf.accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": buf.length}],
    }
    write_atomic(path, glb_bytes(gltf, buf.data()))


def glb_bytes(gltf: dict[str, Any], binary: bytes) -> bytes:
    """The GLB container: header, JSON chunk (space-padded) and BIN chunk (zero-padded), each to 4 bytes."""
    text = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join([struct.pack("<III", GLB_MAGIC, GLB_VERSION, total), struct.pack("<II", len(text), CHUNK_JSON),
                     text, struct.pack("<II", len(binary), CHUNK_BIN), binary])


def top_weights(skin_weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each vertex's k largest skinning weights, in decreasing order: (joints (V,k) int64, weights (V,k) float32).

    The kept weights are renormalised to sum to 1 (in float32, the residual goes to the largest); slots beyond a
    vertex's non-zero weights hold joint 0 with weight 0.
    """
    w = np.asarray(skin_weights, dtype=np.float64)
    V, J = w.shape
    if J < k:
        w = np.concatenate([w, np.zeros((V, k - J))], axis=1)
    idx = np.argpartition(-w, k - 1, axis=1)[:, :k]
    kept = np.take_along_axis(w, idx, axis=1)
    order = np.argsort(-kept, axis=1, kind="stable")
    idx, kept = np.take_along_axis(idx, order, axis=1), np.take_along_axis(kept, order, axis=1)
    kept = np.clip(kept, 0.0, None)
    total = kept.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ExportError(f"skin_weights: vertex {int(np.flatnonzero(total[:, 0] <= 0)[0])} has no positive weight")
    kept32 = (kept / total).astype(np.float32)
    kept32[:, 0] += np.float32(1.0) - kept32.sum(axis=1, dtype=np.float32)
    idx = np.where(kept32 > 0, idx, 0)
    return idx.astype(np.int64), kept32


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V,3) of a triangle mesh with counter-clockwise front faces; vertices in no
    (non-degenerate) face get +Y."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # (F,3), length = 2 * area
    n = np.stack([np.bincount(f.reshape(-1), weights=np.repeat(fn[:, c], 3), minlength=len(v)) for c in range(3)],
                 axis=-1)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    return np.where(length > 1e-20, n / np.where(length > 1e-20, length, 1.0), [0.0, 1.0, 0.0])


# ---------------------------------------------------------------------------------------------------------------
# Helpers


class _BinBuilder:
    """Accumulates the BIN chunk: one bufferView (4-byte aligned) and one accessor per array."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def accessor(self, a: np.ndarray, target: int | None = None, minmax: bool = False) -> int:
        a = np.ascontiguousarray(a)
        width = 1 if a.ndim == 1 else a.shape[1]
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.length, "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.parts.append(raw + b"\0" * (-len(raw) % 4))
        self.length += len(self.parts[-1])
        self.views.append(view)
        acc: dict[str, Any] = {"bufferView": len(self.views) - 1, "componentType": _COMPONENT[a.dtype],
                               "count": int(a.shape[0]), "type": _TYPE[width]}
        if minmax:
            flat = a.reshape(len(a), width)
            acc["min"] = [_num(x) for x in flat.min(axis=0)]
            acc["max"] = [_num(x) for x in flat.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def data(self) -> bytes:
        return b"".join(self.parts)


def _num(x: np.generic) -> int | float:
    return int(x) if np.issubdtype(type(x), np.integer) else float(x)


def _hemisphere_continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs (T,...,4) so each key has a non-negative dot product with the previous one (slerp then
    takes the short way) and the first key has w >= 0."""
    sign = np.ones(q.shape[:-1])
    sign[0] = np.where(q[0, ..., 3] < 0, -1.0, 1.0)
    if len(q) > 1:
        sign[1:] = np.where((q[1:] * q[:-1]).sum(-1) < 0, -1.0, 1.0)
    return q * np.cumprod(sign, axis=0)[..., None]


def _float_array(a: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ExportError(f"{what} must be a numeric array: {e}") from e
    if not np.all(np.isfinite(arr)):
        raise ExportError(f"{what} has non-finite values (NaN or inf)")
    return arr


def _check_shape(a: np.ndarray, what: str, shape: tuple[int | None, ...]) -> tuple[int, ...]:
    if a.ndim != len(shape) or any(s is not None and d != s for d, s in zip(a.shape, shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ExportError(f"{what} must have shape {want}, got {a.shape}")
    return a.shape


def _faces(faces: Any, V: int) -> np.ndarray:
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise ExportError(f"faces must have shape (F, 3) with F >= 1, got {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise ExportError(f"faces must be integer vertex indices, got dtype {f.dtype}")
    if f.min() < 0 or f.max() >= V:
        raise ExportError(f"faces index vertices {f.min()}..{f.max()}, but there are {V} vertices")
    return f.astype(np.int64)


def _parents(parents: Any, J: int) -> np.ndarray:
    p = np.asarray(parents)
    if p.shape != (J,) or not np.issubdtype(p.dtype, np.integer):
        raise ExportError(f"parents must be {J} integers, got shape {p.shape} dtype {p.dtype}")
    p = p.astype(np.int64)
    if (p == -1).sum() != 1 or p.min() < -1 or p.max() >= J:
        raise ExportError(f"parents must hold exactly one -1 (the root) and joint indices below {J}")
    cur = p.copy()  # walk up from every joint at once; still not at the root after J steps means a cycle
    for _ in range(J + 1):
        if (cur < 0).all():
            return p
        live = cur >= 0
        cur[live] = p[cur[live]]
    raise ExportError("parents has a cycle: not every joint reaches the root")

