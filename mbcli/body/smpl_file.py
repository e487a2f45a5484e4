"""Reading SMPL model files (``load_smpl``, ``resolve_smpl_path``) into body/smpl.py's SMPLModel.

The SMPL licence forbids redistribution, so mbcli never ships the model; users download it from
https://smpl.is.tue.mpg.de and point mbcli at it (``--smpl-model PATH`` or the MBCLI_SMPL_MODEL variable). Accepted:
the official Python-2 ``.pkl`` files (arrays wrapped in chumpy objects, ``J_regressor`` a scipy sparse matrix), the
same with chumpy removed, and ``.npz`` archives with the same keys. Pickles are read by mbcli.safe_pickle, allowing
only numpy, a few builtins, and stand-ins for chumpy and scipy.sparse classes, so neither chumpy nor scipy is needed
and no code from the file runs. A pickled chumpy object is its instance ``__dict__`` (chumpy's ``Ch.__getstate__``
drops only its caches): a plain ``chumpy.ch.Ch`` keeps its array in ``state['x']``; the reordering classes keep
their operand in ``state['a']`` (``Reshape``: ``newshape``; ``Select``: ``idxs``, ``preferred_shape``;
``transpose``: ``axes``). A pickled scipy sparse matrix is ``{'_shape', 'data', 'indices', 'indptr', ...}``
(csc/csr) or ``{'row', 'col'}``/``{'coords'}`` (coo).

Every failure (no file, a corrupt one, another body model such as SMPL-X, SMPL-H, MANO, FLAME or STAR, named as such)
is a one-line WeightsError.
"""

from __future__ import annotations

import functools
import io
import os
import re
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from mbcli import safe_pickle
from mbcli.body.smpl import NUM_JOINTS, NUM_POSE_FEATURES, NUM_VERTICES, SMPL_PARENTS, SMPLModel
from mbcli.errors import WeightsError
from mbcli.safe_pickle import StandIn, make_stand_in

SMPL_ENV = "MBCLI_SMPL_MODEL"
SMPL_URL = "https://smpl.is.tue.mpg.de"
_HOW_TO_GET = (f"download SMPL from {SMPL_URL} (its licence forbids redistribution, so mbcli cannot ship it), "
               f"then pass --smpl-model PATH or set {SMPL_ENV}")
_REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")


class _Chumpy(StandIn):
    """A chumpy object (module chumpy.*); its array is rebuilt from the state by ``_chumpy_value``."""


class _Sparse(StandIn):
    """A scipy.sparse matrix; densified by ``_sparse_value``."""


_SPARSE_NAME = re.compile(r"(csc|csr|coo)_(matrix|array)")


@functools.lru_cache(maxsize=1)
def _smpl_globals() -> dict[tuple[str, str], Any]:
    """numpy's globals and the few more an SMPL pickle names (copyreg, slice, object, OrderedDict)."""
    import collections
    import copyreg

    table = dict(safe_pickle.numpy_globals())
    for mod in ("copy_reg", "copyreg"):
        # copyreg._reconstructor exists (protocol 0-1 pickles of objects name it) but typeshed's copyreg stub omits it
        table[(mod, "_reconstructor")] = copyreg._reconstructor  # type: ignore[attr-defined]
    for mod in ("__builtin__", "builtins"):
        for name, obj in (("slice", slice), ("object", object)):
            table[(mod, name)] = obj
    table[("collections", "OrderedDict")] = collections.OrderedDict
    return table


def _smpl_stand_in(module: str, name: str) -> type[StandIn] | None:
    """Stand-ins for chumpy classes and scipy.sparse matrices; None for anything else."""
    if module == "chumpy" or module.startswith("chumpy."):
        return make_stand_in(_Chumpy, module, name)
    if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and _SPARSE_NAME.fullmatch(name):
        return make_stand_in(_Sparse, module, name)
    return None


def _unpickle(f: IO[bytes]) -> Any:
    return safe_pickle.load(f, _smpl_globals(), "an SMPL model file", _smpl_stand_in)


def _sparse_value(obj: _Sparse) -> np.ndarray:
    st: dict[str, Any] = obj.state if isinstance(obj.state, dict) else {}
    shape = tuple(int(s) for s in st.get("_shape", st.get("shape", ())))
    fmt = obj.qualname.rsplit(".", 1)[1][:3]
    if len(shape) != 2:
        raise ValueError(f"sparse matrix {obj.qualname} without a 2-D shape")
    data = np.asarray(st["data"], dtype=np.float64)
    dense = np.zeros(shape, dtype=np.float64)
    if fmt == "coo":
        rows, cols = st["coords"] if "coords" in st else (st["row"], st["col"])
    else:
        indptr = np.asarray(st["indptr"], dtype=np.int64)
        outer = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))  # column (csc) or row (csr) of each entry
        inner = np.asarray(st["indices"], dtype=np.int64)
        rows, cols = (inner, outer) if fmt == "csc" else (outer, inner)
    np.add.at(dense, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)), data)
    return dense


def _chumpy_value(obj: _Chumpy, depth: int = 0) -> np.ndarray:
    if depth > 32:
        raise ValueError("chumpy objects nested too deeply")
    st: dict[str, Any] = obj.state if isinstance(obj.state, dict) else {}
    kind = obj.qualname.rsplit(".", 1)[1]

    def operand(name: str) -> np.ndarray:
        return np.asarray(_plain(st[name], depth + 1))

    if kind == "Reshape":
        return operand("a").reshape(st["newshape"])
    if kind == "Select":
        out = operand("a").ravel()[np.asarray(st["idxs"])]
        return out.reshape(st["preferred_shape"]) if "preferred_shape" in st else out
    if kind == "transpose":
        return np.transpose(operand("a"), axes=st.get("axes"))
    if "x" in st and "a" not in st:  # chumpy.ch.Ch and other leaf objects hold their value in x
        return operand("x")
    raise ValueError(f"it holds a {obj.qualname} object, which mbcli cannot evaluate without chumpy")


def _plain(value: Any, depth: int = 0) -> Any:
    """numpy for chumpy and sparse stand-ins; everything else unchanged."""
    if isinstance(value, _Chumpy):
        return _chumpy_value(value, depth)
    if isinstance(value, _Sparse):
        return _sparse_value(value)
    return value


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = _unpickle(f)
    except Exception as e:  # an untrusted file: any failure to unpickle it is the file's fault
        raise WeightsError(f"cannot read SMPL model {path}: not a valid model pickle ({_one_line(e)})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path} is not an SMPL model: the pickle holds a {type(data).__name__}, not a dict "
                           f"of arrays; {_HOW_TO_GET}")
    return data


def _read_npz(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if not member.endswith(".npy"):
                    continue
                raw = zf.read(member)
                try:
                    value = np.load(io.BytesIO(raw), allow_pickle=False)
                except ValueError as e:
                    if "allow_pickle" not in str(e):
                        raise
                    value = _restricted_object_array(raw)
                out[member[:-4]] = value
    except WeightsError:
        raise
    except Exception as e:
        raise WeightsError(f"cannot read SMPL model {path}: not a valid .npz archive ({_one_line(e)})") from None
    return out


def _restricted_object_array(raw: bytes) -> Any:
    """An object array inside an .npy (np.save wrote it with pickle), read with the restricted unpickler."""
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    reader(f)
    value = _unpickle(f)
    return value.item() if isinstance(value, np.ndarray) and value.shape == () else value


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def _identify(arrays: dict[str, Any]) -> str | None:
    """Name of the body model the keys and sizes suggest, when it is not SMPL."""
    keys = set(arrays)
    v_dims = _shape(arrays.get("v_template"))[:1]
    V = v_dims[0] if v_dims else None
    j_dims = _shape(arrays.get("J_regressor"))[:1] or _shape(arrays.get("weights"))[1:2]
    J = j_dims[0] if j_dims else None
    P = _shape(arrays.get("posedirs"))[-1:] or (None,)
    if V == 10475 or J == 55 or ("lmk_faces_idx" in keys and V != 5023):
        return "SMPL-X"
    if V == 5023:
        return "FLAME"
    if V == 778 or J == 16:
        return "MANO"
    if "hands_componentsl" in keys or "hands_meanl" in keys or J == 52:
        return "SMPL-H (SMPL+H)"
    if V == NUM_VERTICES and P[0] == 93:
        return "STAR"
    return None


def _shape(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is None:
        st = getattr(value, "state", None)
        if isinstance(st, dict):
            shape = st.get("_shape", st.get("shape"))
    try:
        return tuple(int(s) for s in shape) if shape is not None else ()
    except TypeError:
        return ()


def _gender(arrays: dict[str, Any], path: Path) -> str:
    g = arrays.get("gender")
    if g is not None:
        g = np.asarray(g)
        text = g.item() if g.shape == () else None
        if isinstance(text, bytes):
            text = text.decode("latin1")
        if isinstance(text, str) and text.strip().lower() in ("neutral", "male", "female"):
            return text.strip().lower()
    name = path.name.lower()
    if "neutral" in name:
        return "neutral"
    if "female" in name or re.search(r"(^|[_\-.])f([_\-.]|$)", name):
        return "female"
    if "male" in name or re.search(r"(^|[_\-.])m([_\-.]|$)", name):
        return "male"
    return "unknown"


def resolve_smpl_path(path: str | os.PathLike | None = None) -> Path:
    """The SMPL model file to use: ``path`` if given, else $MBCLI_SMPL_MODEL. A folder resolves to the
    SMPL_NEUTRAL.pkl/.npz inside it (or inside its smpl/ subfolder, smplx's layout). Raises WeightsError."""
    source = "--smpl-model"
    if path is None or str(path) == "":
        env = os.environ.get(SMPL_ENV, "")
        if not env:
            raise WeightsError(f"no SMPL model file given: {_HOW_TO_GET}")
        path, source = env, f"${SMPL_ENV}"
    p = Path(path).expanduser()
    if p.is_dir():
        for cand in ("SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "smpl/SMPL_NEUTRAL.pkl", "smpl/SMPL_NEUTRAL.npz"):
            if (p / cand).is_file():
                return p / cand
        raise WeightsError(f"no SMPL_NEUTRAL.pkl or .npz in the folder {p} (from {source}); give the model file "
                           f"itself, or {_HOW_TO_GET}")
    if not p.is_file():
        raise WeightsError(f"SMPL model file not found: {p} (from {source}); {_HOW_TO_GET}")
    return p


def _f(value: Any, name: str, path: Path) -> np.ndarray:
    try:
        arr = np.asarray(_plain(value), dtype=np.float64)
    except ValueError as e:
        raise WeightsError(f"cannot read {name!r} from SMPL model {path}: {' '.join(str(e).split())}; re-save the "
                           f"file with plain numpy arrays (e.g. with smplx's tools/clean_ch.py)") from None
    if not np.isfinite(arr).all():
        raise WeightsError(f"SMPL model {path} is corrupt: {name!r} holds NaN or infinite values")
    return arr


def load_smpl(path: str | os.PathLike | None = None, *, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> SMPLModel:
    """Load an SMPL model file (.pkl, official or chumpy-free, or .npz); ``path`` None reads $MBCLI_SMPL_MODEL.

    Raises WeightsError (one line) when no file is given or found, when the file is corrupt, or when it is not the
    SMPL body (SMPL-X, SMPL-H, MANO, FLAME and STAR files are named as such).
    """
    p = resolve_smpl_path(path)
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"PK"):
        arrays = _read_npz(p)
    elif magic.startswith(b"\x93NUMPY"):
        raise WeightsError(f"{p} is a single .npy array, not an SMPL model; use the official .pkl or an .npz with "
                           f"v_template, shapedirs, posedirs, J_regressor, weights, kintree_table and f")
    else:
        arrays = _read_pickle(p)
    return _build(arrays, p, dtype, torch.device(device))


def _build(arrays: dict[str, Any], path: Path, dtype: torch.dtype, device: torch.device) -> SMPLModel:
    def not_smpl(reason: str) -> WeightsError:
        other = _identify(arrays)
        what = f"it looks like {other} ({reason})" if other else reason
        return WeightsError(f"{path} is not an SMPL body model: {what}; mbcli needs SMPL (6890 vertices, 24 joints) "
                            f"from {SMPL_URL}")

    missing = [k for k in _REQUIRED if k not in arrays]
    if "kintree_table" not in arrays and "parents" not in arrays:
        missing.append("kintree_table")
    if "f" not in arrays and "faces" not in arrays:
        missing.append("f")
    if missing:
        raise not_smpl(f"missing {', '.join(missing)}")
    V, J, P = NUM_VERTICES, NUM_JOINTS, NUM_POSE_FEATURES
    v_template = _f(arrays["v_template"], "v_template", path)
    if v_template.shape != (V, 3):
        raise not_smpl(f"v_template is {v_template.shape}, SMPL's is ({V}, 3)")
    J_regressor = _f(arrays["J_regressor"], "J_regressor", path)
    weights = _f(arrays["weights"], "weights", path)
    if J_regressor.shape != (J, V) or weights.shape != (V, J):
        raise not_smpl(f"J_regressor {J_regressor.shape} and weights {weights.shape}, SMPL's are ({J}, {V}) and "
                       f"({V}, {J})")
    shapedirs = _f(arrays["shapedirs"], "shapedirs", path)
    if shapedirs.ndim == 2 and shapedirs.shape[0] == V * 3:
        shapedirs = shapedirs.reshape(V, 3, -1)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3) or shapedirs.shape[2] < 1:
        raise not_smpl(f"shapedirs is {shapedirs.shape}, SMPL's is ({V}, 3, S)")
    posedirs = _f(arrays["posedirs"], "posedirs", path)
    if posedirs.shape == (P, V * 3):
        posedirs = posedirs.T
    if posedirs.shape == (V * 3, P):
        posedirs = posedirs.reshape(V, 3, P)
    if posedirs.shape != (V, 3, P):
        raise not_smpl(f"posedirs is {posedirs.shape}, SMPL's is ({V}, 3, {P})")

    if "kintree_table" in arrays:
        kintree = np.asarray(_plain(arrays["kintree_table"]))
        if kintree.ndim != 2 or kintree.shape[1] != J:
            raise not_smpl(f"kintree_table is {kintree.shape}, SMPL's is (2, {J})")
        parents = kintree[0].astype(np.int64)
    else:
        parents = np.asarray(_plain(arrays["parents"])).astype(np.int64).reshape(-1)
    parents[0] = -1  # the official files store the root's parent as uint32 4294967295
    if tuple(parents.tolist()) != SMPL_PARENTS:
        raise not_smpl(f"its kinematic tree {parents.tolist()} differs from SMPL's")
    faces = np.asarray(_plain(arrays["f"] if "f" in arrays else arrays["faces"]))
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer) or faces.size == 0 or (
            faces.min() < 0 or faces.max() >= V):
        raise not_smpl(f"faces are {faces.shape} {faces.dtype}, not (F, 3) vertex indices below {V}")

    extra = {}
    for key in ("J_regressor_extra", "J_regressor_h36m"):
        if key in arrays:
            reg = _f(arrays[key], key, path)
            if reg.ndim != 2 or reg.shape[1] != V:
                raise WeightsError(f"SMPL model {path}: {key} is {reg.shape}, expected (K, {V})")
            extra[key] = reg

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    return SMPLModel(
        v_template=t(v_template), shapedirs=t(shapedirs), posedirs=t(posedirs), J_regressor=t(J_regressor),
        weights=t(weights), parents=parents, faces=faces.astype(np.int64), gender=_gender(arrays, path),
        J_regressor_extra=t(extra["J_regressor_extra"]) if "J_regressor_extra" in extra else None,
        J_regressor_h36m=t(extra["J_regressor_h36m"]) if "J_regressor_h36m" in extra else None,
        path=str(path),
    )
