"""A synthetic SMPL model with the real file structure, written in the three flavours users have.

The licence forbids shipping SMPL, so tests build a random model with SMPL's exact structure: 6890 vertices, 24
joints with SMPL's kinematic tree, 13776 faces, 10 shape and 207 pose blend shapes. It is made to behave like a body:
each vertex belongs to one bone (placed along it, around a rough T-pose skeleton in metres), its skinning weights
and pose blend shapes touch only that bone's joint and the joint's parent, and each joint is regressed from 16
vertices of its own bone (rows of J_regressor sum to 1).

Flavours (``write_npz``, ``write_pkl_chumpy``, ``write_pkl_plain``):
- .npz: dense float arrays, ``f`` int64, ``gender``; loadable with allow_pickle=False.
- .pkl as the official Python-2 files: a protocol-2 dict whose arrays are wrapped in chumpy objects (shapedirs a
  ``chumpy.ch.Ch``, posedirs a ``chumpy.reordering.Reshape`` of a Ch), J_regressor a csc matrix pickled as old scipy
  did (class ``scipy.sparse.csc.csc_matrix``, state ``_shape``/``data``/``indices``/``indptr``), uint32 ``f`` and ``kintree_table`` (root parent 4294967295), numpy arrays with
  their raw bytes as latin-1 text (what Python 3 sees when it reads a Python-2 pickle with encoding='latin1'), and
  the extra keys the official files carry. Fake ``chumpy`` modules exist only while writing.
- .pkl with chumpy removed (what smplx's clean_ch.py writes): numpy arrays and a current scipy csc_matrix.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp

V, J, F, S, P = 6890, 24, 13776, 10, 207
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# A rough T-pose in SMPL's frame (metres, y up, the body's left on +x, facing +z).
REST_JOINTS = np.array([
    [0.00, -0.22, 0.03], [0.06, -0.31, 0.02], [-0.06, -0.31, 0.02], [0.00, -0.11, 0.00], [0.10, -0.69, 0.02],
    [-0.10, -0.69, 0.02], [0.00, 0.03, 0.03], [0.09, -1.09, -0.02], [-0.09, -1.09, -0.02], [0.00, 0.08, 0.03],
    [0.12, -1.15, 0.10], [-0.12, -1.15, 0.10], [0.00, 0.29, 0.00], [0.08, 0.20, 0.00], [-0.08, 0.20, 0.00],
    [0.00, 0.36, 0.05], [0.17, 0.23, -0.01], [-0.17, 0.23, -0.01], [0.43, 0.21, -0.03], [-0.43, 0.21, -0.03],
    [0.68, 0.22, -0.03], [-0.68, 0.22, -0.03], [0.77, 0.21, -0.04], [-0.77, 0.21, -0.04],
])


def build_model(seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a synthetic SMPL model (float64 like the official files). ``home`` (V,) is each vertex's
    bone (joint index); it is not part of an SMPL file."""
    rng = np.random.default_rng(seed)
    home = rng.integers(0, J, size=V)
    child = {j: PARENTS.index(j) if j in PARENTS else None for j in range(J)}
    v_template = np.empty((V, 3))
    for j in range(J):
        idx = np.flatnonzero(home == j)
        end = REST_JOINTS[child[j]] if child[j] is not None else REST_JOINTS[j] + [0.0, -0.05, 0.02]
        along = rng.uniform(0.0, 1.0, size=(len(idx), 1))
        v_template[idx] = REST_JOINTS[j] + along * (end - REST_JOINTS[j]) + rng.normal(0, 0.03, size=(len(idx), 3))

    weights = np.zeros((V, J))
    w_home = rng.uniform(0.6, 1.0, size=V)
    weights[np.arange(V), home] = w_home
    has_parent = home > 0
    weights[np.flatnonzero(has_parent), np.asarray(PARENTS)[home[has_parent]]] = 1.0 - w_home[has_parent]
    weights[~has_parent, 0] = 1.0

    posedirs = np.zeros((V, 3, P))
    for v in range(V):
        for j in (home[v], PARENTS[home[v]]):
            if j > 0:  # features exist for joints 1..23
                posedirs[v, :, (j - 1) * 9:j * 9] = rng.normal(0, 0.01, size=(3, 9))

    J_regressor = np.zeros((J, V))
    for j in range(J):
        picks = rng.choice(np.flatnonzero(home == j), size=16, replace=False)
        J_regressor[j, picks] = rng.dirichlet(np.ones(16))

    faces = np.empty((F, 3), dtype=np.int64)
    for i in range(F):
        faces[i] = rng.choice(V, size=3, replace=False)
    kintree = np.array([PARENTS, list(range(J))], dtype=np.int64)
    kintree[0, 0] = 4294967295  # how the official files store the root's parent (uint32 -1)
    return {
        "v_template": v_template, "shapedirs": rng.normal(0, 0.01, size=(V, 3, S)), "posedirs": posedirs,
        "J_regressor": J_regressor, "weights": weights, "kintree_table": kintree, "f": faces, "home": home,
    }


def write_npz(path: Path, model: dict[str, np.ndarray], **extra: np.ndarray) -> Path:
    arrays = {k: v for k, v in model.items() if k != "home"}
    np.savez(path, gender=np.array("neutral"), **arrays, **extra)
    return path


def _official_dict(model: dict[str, np.ndarray]) -> dict:
    """The keys of an official SMPL .pkl (values other than the model arrays are placeholders)."""
    return {
        "J_regressor_prior": sp.csc_matrix(model["J_regressor"]),
        "f": model["f"].astype(np.uint32),
        "J_regressor": sp.csc_matrix(model["J_regressor"]),
        "kintree_table": model["kintree_table"].astype(np.uint32),
        "J": model["J_regressor"] @ model["v_template"],
        "weights_prior": model["weights"],
        "weights": model["weights"],
        "vert_sym_idxs": np.arange(V),
        "posedirs": model["posedirs"],
        "pose_training_info": {"num_subjects": 1, "num_poses": 1},
        "bs_style": "lbs",
        "v_template": model["v_template"],
        "shapedirs": model["shapedirs"],
        "bs_type": "lrotmin",
    }


def write_pkl_plain(path: Path, model: dict[str, np.ndarray]) -> Path:
    with open(path, "wb") as f:
        pickle.dump(_official_dict(model), f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


@contextlib.contextmanager
def fake_modules(mods: dict[str, types.ModuleType]):
    """Install ``mods`` in sys.modules for the duration of the block (so pickle can reference them), then restore."""
    saved = {name: sys.modules.get(name) for name in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _fake_chumpy() -> dict[str, types.ModuleType]:
    """Modules chumpy, chumpy.ch and chumpy.reordering whose classes pickle like chumpy's: by class reference
    (protocol 2 NEWOBJ) plus the instance __dict__ minus chumpy's weakref caches."""
    ch, reordering, pkg = (types.ModuleType(n) for n in ("chumpy.ch", "chumpy.reordering", "chumpy"))

    def getstate(self):
        state = dict(self.__dict__)
        state.update(_dirty_vars=set(), _itr=None, _depends_on_deps={}, _make_dense=False, _make_sparse=False)
        return state

    Ch = type("Ch", (object,), {"__module__": "chumpy.ch", "__getstate__": getstate, "dterms": ["x"], "terms": []})
    Reshape = type("Reshape", (Ch,), {"__module__": "chumpy.reordering", "dterms": ("a",), "terms": ("newshape",)})
    ch.Ch, reordering.Reshape = Ch, Reshape
    pkg.ch, pkg.reordering = ch, reordering
    return {"chumpy": pkg, "chumpy.ch": ch, "chumpy.reordering": reordering}


class _Py2Pickler(pickle.Pickler):
    """Writes numpy arrays the way a Python-2 pickle reads back under encoding='latin1': raw bytes as text."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            reconstruct = np.zeros(1).__reduce__()[0]
            a = np.ascontiguousarray(obj)
            return reconstruct, (np.ndarray, (0,), "b"), (1, a.shape, a.dtype, False, a.tobytes().decode("latin1"))
        return NotImplemented


def write_pkl_chumpy(path: Path, model: dict[str, np.ndarray]) -> Path:
    mods = _fake_chumpy()
    csc_mod = types.ModuleType("scipy.sparse.csc")  # the module path old scipy pickled csc_matrix under
    csc_mod.csc_matrix = type("csc_matrix", (object,), {"__module__": "scipy.sparse.csc"})
    data = _official_dict(model)
    with fake_modules({**mods, "scipy.sparse.csc": csc_mod}):
        Ch, Reshape = mods["chumpy.ch"].Ch, mods["chumpy.reordering"].Reshape
        shapedirs = Ch.__new__(Ch)
        shapedirs.x = data["shapedirs"]
        flat = Ch.__new__(Ch)
        flat.x = data["posedirs"].reshape(-1)
        posedirs = Reshape.__new__(Reshape)
        posedirs.a, posedirs.newshape = flat, data["posedirs"].shape
        data["shapedirs"], data["posedirs"] = shapedirs, posedirs
        for key in ("J_regressor", "J_regressor_prior"):
            m = data[key]
            old = csc_mod.csc_matrix.__new__(csc_mod.csc_matrix)
            old.__dict__.update(_shape=m.shape, maxprint=50, indices=m.indices, indptr=m.indptr, data=m.data,
                                format="csc")
            data[key] = old
        with open(path, "wb") as f:
            _Py2Pickler(f, protocol=2).dump(data)
    return path
