"""The anny body model's cache: built once from the optional ``anny`` package, then read without it; the model that
uses it is body/anny_model.py.

Building anny's model from its MakeHuman targets parses about 1200 gzipped text files and takes about a minute.
``load_anny`` (anny_model.py) does it once, through build_anny_cache: it builds anny's default model (rig "anny",
topology "anny", no local changes, no facial actions, the 6 default phenotypes, compact phenotype blendshapes) and
keeps only the arrays listed in ``_CACHE_ARRAYS`` in ``<cache dir>/anny-<anny version>-mbcli<format>.npz`` (about 25
MB, written atomically). Later loads read only that file (about 0.05 s) and need neither the anny package nor its
dependencies. The cache folder is ``$MBCLI_CACHE_DIR`` or ``~/.cache/mbcli``. anny keeps ~0.8 GB of intermediate
files in its own cache: unless ``$ANNY_CACHE_DIR`` is set (then anny's own cache there is used and kept), they go to
a temporary folder inside the mbcli cache folder that is deleted afterwards. Nothing is downloaded (anny's
non-commercial SMPL conversion data is never touched).

The cache stores positions in mbcli's canonical body frame (anny_model.py, Frame: x_mbcli = ANNY_TO_CANONICAL
@ x_anny); bone orientations stay in anny's frame.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbcli.errors import DependencyError, WeightsError
from mbcli.fsutil import atomic_path

ANNY_VERSION = "0.6.2"  # the anny release this module was validated against
CACHE_FORMAT = 1
MBCLI_CACHE_ENV = "MBCLI_CACHE_DIR"
ANNY_INSTALL = ("pip install --no-deps anny==0.6.2 && pip install roma safetensors trimesh pillow pyyaml "
                "(anny's own requirements include warp-lang, which mbcli does not need)")
ANNY_SHAPE_NAMES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
ANNY_DEFAULT_SHAPE: tuple[float, ...] = (0.5, 0.8, 0.5, 0.5, 0.5, 0.5)
ANNY_TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# anny's PHENOTYPE_VARIATIONS keys, in its order (the stored variation table refers to them by index)
ANNY_FEATURES: tuple[str, ...] = ("race", "gender", "age", "muscle", "weight", "height", "proportions",
                                  "cupsize", "firmness")

# Arrays of the cache file: name -> (dtype, shape with None for model-dependent sizes)
_CACHE_ARRAYS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "template_vertices": ("float32", (None, 3)),  # (V,3) canonical frame
    "vertex_dirs": ("float32", (None, 3, None)),  # (V,3,R) phenotype basis
    "template_heads": ("float64", (None, 3)),  # (J,3) rest bone heads
    "head_dirs": ("float64", (None, 3, None)),  # (J,3,R)
    "orient_template": ("float64", (None, 3, 3)),  # (J,3,3) anny frame: rest orientation = procrustes(M)
    "orient_dirs": ("float64", (None, 3, 3, None)),  # (J,3,3,R)
    "reference_orientations": ("float64", (None, 3, 3)),  # (J,3,3) anny frame, anny's U_j
    "skin_indices": ("int16", (None, None)),  # (V,K) bone of each influence
    "skin_weights": ("float32", (None, None)),  # (V,K)
    "faces": ("int32", (None, 3)),
    "parents": ("int16", (None,)),
    "bone_labels": ("str", (None,)),
    "variation_feature": ("int8", (None,)),  # (26,) index into ANNY_FEATURES
    "variation_anchor": ("float64", (None,)),  # (26,) anchor of the variation (race: 0)
    "phenotype_mask": ("uint8", (None, None)),  # (624,26) the variations each macro target multiplies
    "phenotype_projection": ("float64", (None, None)),  # (624,R) macro-target weights -> basis coefficients
    "h36m_vertices": ("int64", (2,)),  # nose tip, crown
}



def default_cache_dir() -> Path:
    """$MBCLI_CACHE_DIR, else ~/.cache/mbcli."""
    env = os.environ.get(MBCLI_CACHE_ENV, "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mbcli"


def installed_anny_version() -> str | None:
    """The installed anny package's version, or None (reads package metadata; does not import anny)."""
    try:
        return importlib.metadata.version("anny")
    except importlib.metadata.PackageNotFoundError:
        return None


def anny_cache_path(cache_dir: str | os.PathLike | None = None, version: str | None = None) -> Path:
    """The cache file for an anny version (default: the installed one, else ANNY_VERSION)."""
    d = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    v = version or installed_anny_version() or ANNY_VERSION
    return d / f"anny-{v}-mbcli{CACHE_FORMAT}.npz"


def _import_anny() -> Any:
    """The anny package, or DependencyError with the install command."""
    try:
        return importlib.import_module("anny")
    except ImportError as e:
        missing = getattr(e, "name", None)
        what = "the anny package is not installed" if missing in (None, "anny") else f"anny needs {missing}"
        raise DependencyError(f"--body-model anny: {what}; install it with: {ANNY_INSTALL}") from None


@contextlib.contextmanager
def _anny_build_env(scratch_parent: Path) -> Iterator[None]:
    """Point anny's cache at a scratch folder (unless $ANNY_CACHE_DIR is set) and forbid its downloader."""
    paths: Any = importlib.import_module("anny.paths")  # untyped optional package: its functions are patched below

    def no_download() -> None:
        raise WeightsError("anny tried to download its non-commercial data while mbcli built the anny cache; "
                           "mbcli never uses those files")

    old_download = paths.download_noncommercial_data
    paths.download_noncommercial_data = no_download
    try:
        if os.environ.get("ANNY_CACHE_DIR"):
            yield
            return
        scratch_parent.mkdir(parents=True, exist_ok=True)
        old = paths.get_anny_cache_path()
        with tempfile.TemporaryDirectory(prefix=".anny-build-", dir=scratch_parent) as tmp:
            paths.set_anny_cache_path(tmp)
            try:
                yield
            finally:
                paths.set_anny_cache_path(old)
    finally:
        paths.download_noncommercial_data = old_download


def create_anny_model(scratch_dir: str | os.PathLike | None = None) -> Any:
    """anny's default full-body model (float64, torch skinning, no warp), built without a lasting anny cache unless
    $ANNY_CACHE_DIR is set (module docstring). Raises DependencyError when anny is missing."""
    anny = _import_anny()
    scratch = Path(scratch_dir) if scratch_dir is not None else default_cache_dir()
    with _anny_build_env(scratch):
        return anny.Anny(rig="anny", topology="anny", local_changes="none", facial_actions="none",
                         phenotypes="default", skinning_method="lbs")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def build_anny_arrays(model: Any) -> dict[str, np.ndarray]:
    """The cache's arrays (``_CACHE_ARRAYS``) from an ``anny.Anny`` default full-body model."""
    labels = list(model.bone_labels)
    if list(model.phenotype_labels) != list(ANNY_SHAPE_NAMES):
        raise WeightsError(f"unexpected anny phenotypes {model.phenotype_labels}; mbcli expects {ANNY_SHAPE_NAMES} "
                           f"(anny {ANNY_VERSION})")
    proj = model.phenotype_blendshape_projection
    if proj is None or model.reference_bone_orientations is None or model.bone_template_orientation_matrices is None:
        raise WeightsError(f"unexpected anny model layout (needs compact blendshapes and the 'anny' rig of anny "
                           f"{ANNY_VERSION})")
    R = int(proj.shape[1])
    if model.blendshapes.shape[0] != R or model.bone_orientation_blendshapes.shape[0] != R:
        raise WeightsError("unexpected anny model layout: blendshapes beyond the phenotype basis")
    K = ANNY_TO_CANONICAL
    tv = _np(model.template_vertices) @ K.T
    bs = _np(model.blendshapes) @ K.T  # (R,V,3)
    th = _np(model.template_bone_heads) @ K.T
    hb = _np(model.bone_heads_blendshapes) @ K.T  # (R,J,3)
    M0 = _np(model.bone_template_orientation_matrices)
    Md = _np(model.bone_orientation_blendshapes)  # (R,J,3,3)
    U = _np(model.reference_bone_orientations)
    eye = np.eye(3)
    if np.abs(M0[0] - eye).max() > 1e-9 or np.abs(Md[:, 0]).max() > 1e-12 or np.abs(U[0] - eye).max() > 1e-9:
        raise WeightsError("unexpected anny rig: its root bone is not at the identity orientation")

    from anny.models.model_data import PHENOTYPE_VARIATIONS  # anny is installed: the model came from it

    if tuple(PHENOTYPE_VARIATIONS) != ANNY_FEATURES:
        raise WeightsError(f"unexpected anny phenotype table {tuple(PHENOTYPE_VARIATIONS)}")
    feat: list[int] = []  # (26,) index into ANNY_FEATURES
    anchor: list[float] = []  # (26,)
    for f, name in enumerate(ANNY_FEATURES):
        n = len(PHENOTYPE_VARIATIONS[name])
        a = np.zeros(n) if name == "race" else _np(model.anchors[name])
        feat += [f] * n
        anchor += a.tolist()

    arrays = {
        "template_vertices": tv.astype(np.float32),
        "vertex_dirs": np.ascontiguousarray(bs.transpose(1, 2, 0)).astype(np.float32),
        "template_heads": th,
        "head_dirs": np.ascontiguousarray(hb.transpose(1, 2, 0)),
        "orient_template": M0,
        "orient_dirs": np.ascontiguousarray(Md.transpose(1, 2, 3, 0)),
        "reference_orientations": U,
        "skin_indices": model.vertex_bone_indices.cpu().numpy().astype(np.int16),
        "skin_weights": _np(model.vertex_bone_weights).astype(np.float32),
        "faces": model.faces.cpu().numpy().astype(np.int32),
        "parents": np.asarray(model.bone_parents, dtype=np.int16),
        "bone_labels": np.asarray(labels, dtype=str),
        "variation_feature": np.asarray(feat, dtype=np.int8),
        "variation_anchor": np.asarray(anchor, dtype=np.float64),
        "phenotype_mask": _np(model.stacked_phenotype_blend_shapes_mask).astype(np.uint8),
        "phenotype_projection": _np(proj),
    }
    # the nose-tip and crown vertices, from the default shape's rest mesh
    with torch.no_grad():
        kwargs = {n: torch.tensor([v], dtype=model.dtype) for n, v in zip(ANNY_SHAPE_NAMES, ANNY_DEFAULT_SHAPE)}
        out = model(pose_parameters=None, phenotype_kwargs=kwargs)
    rv = _np(out["rest_vertices"][0]) @ K.T
    head_y = (_np(out["rest_bone_heads"][0]) @ K.T)[labels.index("head"), 1]
    mid = np.flatnonzero((np.abs(rv[:, 0]) < 0.002) & (rv[:, 1] > head_y))
    if len(mid) < 10:
        raise WeightsError("unexpected anny mesh: no head vertices on the symmetry plane")
    arrays["h36m_vertices"] = np.array([mid[np.argmax(rv[mid, 2])], mid[np.argmax(rv[mid, 1])]], dtype=np.int64)
    check_anny_arrays(arrays, "anny model")
    return arrays


def check_anny_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    for name, (dtype, shape) in _CACHE_ARRAYS.items():
        a = arrays.get(name)
        if a is None:
            raise WeightsError(f"{where}: {name} is missing")
        ok = a.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, a.shape))
        ok = ok and (a.dtype.kind == "U" if dtype == "str" else a.dtype == np.dtype(dtype))
        if not ok:
            raise WeightsError(f"{where}: {name} is {a.dtype} {a.shape}, expected {dtype} {shape}")
    V, J = arrays["template_vertices"].shape[0], arrays["template_heads"].shape[0]
    R = arrays["phenotype_projection"].shape[1]
    if (arrays["vertex_dirs"].shape != (V, 3, R) or arrays["head_dirs"].shape != (J, 3, R)
            or arrays["orient_dirs"].shape != (J, 3, 3, R) or arrays["skin_indices"].shape[0] != V
            or arrays["skin_weights"].shape != arrays["skin_indices"].shape or len(arrays["parents"]) != J
            or len(arrays["bone_labels"]) != J or arrays["phenotype_mask"].shape
            != (arrays["phenotype_projection"].shape[0], len(arrays["variation_feature"]))):
        raise WeightsError(f"{where}: inconsistent array sizes")


def build_anny_cache(path: str | os.PathLike | None = None, model: Any = None) -> Path:
    """Build the cache file (default ``anny_cache_path()``) from ``model`` (an ``anny.Anny``) or a fresh default
    anny model; written atomically. Raises DependencyError when anny is needed and missing."""
    p = Path(path) if path is not None else anny_cache_path()
    if model is None:
        model = create_anny_model(p.parent)
    arrays = build_anny_arrays(model)
    arrays["anny_version"] = np.array(installed_anny_version() or ANNY_VERSION)
    arrays["format"] = np.array(CACHE_FORMAT)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp, open(tmp, "wb") as f:
        # numpy's stub checks a **dict of arrays against its allow_pickle: bool keyword; passing allow_pickle= instead
        # would save it as an array on numpy < 2.1, which the project allows
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return p


def read_anny_cache(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a cache file; WeightsError (one line) when it is unreadable or not an mbcli anny cache."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise WeightsError(f"cannot read the anny cache {p} ({type(e).__name__}); delete it to rebuild it") from None
    fmt = arrays.get("format")
    if fmt is None or int(fmt) != CACHE_FORMAT:
        raise WeightsError(f"{p} is not an mbcli anny cache of format {CACHE_FORMAT}; delete it to rebuild it")
    check_anny_arrays(arrays, str(p))
    return arrays
