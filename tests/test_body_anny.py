"""mbcli.body.anny_cache and mbcli.body.anny_model: the anny body model's cache, our forward pass against anny's
own, the h36m17 correspondence, anny-native parameters, and the missing-dependency error.

Most tests need the model's arrays: they are built once per module from the installed anny package (about a minute
the first time; set ANNY_CACHE_DIR to keep anny's own cache between runs), or read from an existing mbcli cache when
anny is absent; without either the tests skip with the reason. Tests that compare with anny's forward pass skip
visibly when anny is not installed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mbcli.body import anny_cache as ac
from mbcli.body import anny_model as am
from mbcli.body.anny_cache import (
    ANNY_DEFAULT_SHAPE,
    ANNY_SHAPE_NAMES,
    ANNY_TO_CANONICAL,
    anny_cache_path,
    build_anny_arrays,
    build_anny_cache,
    read_anny_cache,
)
from mbcli.body.anny_model import ANNY_FREE_JOINTS, AnnyBody, load_anny
from mbcli.body.smpl import axis_angle_to_matrix_torch
from mbcli.errors import DependencyError, WeightsError
from mbcli.skeletons import H36M17, H36M_BONE_LENGTHS_M

HAVE_ANNY = ac.installed_anny_version() is not None
needs_anny = pytest.mark.skipif(not HAVE_ANNY, reason=f"anny is not installed ({ac.ANNY_INSTALL})")


@pytest.fixture(scope="module")
def anny_model(tmp_path_factory):
    """anny's own default model (float64), built into a scratch folder unless $ANNY_CACHE_DIR is set."""
    if not HAVE_ANNY:
        pytest.skip(f"anny is not installed ({ac.ANNY_INSTALL})")
    return ac.create_anny_model(tmp_path_factory.mktemp("anny_scratch"))


@pytest.fixture(scope="module")
def arrays(request, tmp_path_factory) -> dict[str, np.ndarray]:
    """The cache arrays: built from anny when installed, else read from the user's mbcli cache."""
    if HAVE_ANNY:
        path = build_anny_cache(anny_cache_path(tmp_path_factory.mktemp("anny_cache")),
                                model=request.getfixturevalue("anny_model"))
        return read_anny_cache(path)
    path = anny_cache_path()
    if not path.is_file():
        pytest.skip(f"neither anny nor an mbcli anny cache ({path}) is available ({ac.ANNY_INSTALL})")
    return read_anny_cache(path)


@pytest.fixture(scope="module")
def body64(arrays) -> AnnyBody:
    return AnnyBody(arrays, dtype=torch.float64)


@pytest.fixture(scope="module")
def body32(arrays) -> AnnyBody:
    return AnnyBody(arrays)


def _random_pose(body: AnnyBody, B: int, seed: int, scale: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    aa = torch.randn(B, body.num_joints, 3, generator=g, dtype=torch.float64) * scale
    transl = torch.randn(B, 3, generator=g, dtype=torch.float64)
    return axis_angle_to_matrix_torch(aa).to(body.dtype), transl.to(body.dtype)


# ------------------------------------------------------------------------------------------ against anny itself


@needs_anny
@pytest.mark.slow
def test_forward_matches_anny_own_forward(anny_model, body64):
    """Random shapes and poses of all 104 bones: anny's forward with params_arrays' native parameters reproduces
    our vertices and joints (the frame change is folded into anny's root)."""
    g = torch.Generator().manual_seed(1)
    worst_v = worst_j = 0.0
    for trial in range(3):
        shape = torch.rand(6, generator=g, dtype=torch.float64) if trial else torch.tensor(ANNY_DEFAULT_SHAPE,
                                                                                           dtype=torch.float64)
        R, t = _random_pose(body64, 3, seed=trial)
        v, j = body64.forward(shape, R, t)
        p = body64.params_arrays(shape.numpy(), R.numpy(), t.numpy())
        kwargs = {n: torch.tensor([float(x)], dtype=torch.float64) for n, x in zip(ANNY_SHAPE_NAMES, p["phenotypes"])}
        with torch.no_grad():
            out = anny_model(pose_parameters=torch.as_tensor(p["pose_parameters"], dtype=torch.float64),
                             phenotype_kwargs=kwargs)
        worst_v = max(worst_v, float((out["vertices"] - v).abs().max()))
        worst_j = max(worst_j, float((out["bone_poses"][..., :3, 3] - j).abs().max()))
        # the identity pose is anny's rest mesh, turned into the canonical frame
        rest = out["rest_vertices"][0] @ torch.as_tensor(ANNY_TO_CANONICAL).T
        assert float((body64.rest_vertices(shape) - rest).abs().max()) < 1e-6
    print(f"max |ours - anny| vertices {worst_v:.2e} m, joints {worst_j:.2e} m")
    assert worst_v < 2e-6 and worst_j < 2e-6  # float32 storage of the blend shapes and of pose_parameters


@needs_anny
@pytest.mark.slow
def test_cache_build_and_reload_equal(anny_model, tmp_path):
    arrays = build_anny_arrays(anny_model)
    path = build_anny_cache(tmp_path / "c.npz", model=anny_model)
    back = read_anny_cache(path)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
    assert str(back["anny_version"]) == ac.installed_anny_version()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert (tmp_path / "c.npz").stat().st_size < 40e6
    if ac.installed_anny_version() == "0.6.2":
        assert back["h36m_vertices"].tolist() == [5038, 881]


# ------------------------------------------------------------------------------------------ cache and errors


def test_load_anny_reads_the_cache_without_anny(arrays, tmp_path, monkeypatch):
    path = anny_cache_path(tmp_path)
    with open(path, "wb") as f:
        np.savez(f, **arrays)

    def no_anny():
        raise AssertionError("anny must not be imported when the cache exists")

    monkeypatch.setattr(ac, "_import_anny", no_anny)
    body = load_anny(tmp_path)  # from the cache alone
    assert body.num_vertices == arrays["template_vertices"].shape[0] and body.dtype == torch.float32
    monkeypatch.setenv(ac.MBCLI_CACHE_ENV, str(tmp_path))
    assert load_anny().num_joints == body.num_joints


def test_dependency_error_when_anny_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anny", None)  # "import anny" now raises ImportError
    with pytest.raises(DependencyError) as info:
        ac._import_anny()
    msg = str(info.value)
    assert "\n" not in msg and "pip install --no-deps anny==0.6.2" in msg and "warp" in msg

    monkeypatch.setattr(am, "installed_anny_version", lambda: None)  # as load_anny sees it
    with pytest.raises(DependencyError) as info:
        load_anny(tmp_path / "empty")
    assert "pip install --no-deps anny==0.6.2" in str(info.value) and "\n" not in str(info.value)


def test_dependency_error_names_a_missing_requirement(monkeypatch):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "anny":
            raise ModuleNotFoundError("No module named 'trimesh'", name="trimesh")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(DependencyError, match="anny needs trimesh"):
        ac._import_anny()


def test_bad_cache_files(arrays, tmp_path, monkeypatch):
    path = anny_cache_path(tmp_path)
    path.write_bytes(b"not an npz")
    monkeypatch.setattr(am, "installed_anny_version", lambda: None)  # as load_anny sees it
    with pytest.raises(WeightsError, match="delete it"):
        load_anny(tmp_path)
    bad = dict(arrays)
    bad["format"] = np.array(999)
    with open(path, "wb") as f:
        np.savez(f, **bad)
    with pytest.raises(WeightsError, match="format"):
        read_anny_cache(path)
    bad = dict(arrays)
    bad["faces"] = bad["faces"][:, :2]
    with pytest.raises(WeightsError, match="faces"):
        AnnyBody(bad)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(ac.MBCLI_CACHE_ENV, str(tmp_path))
    p = anny_cache_path()
    assert p.parent == tmp_path and p.name == f"anny-{ac.installed_anny_version() or ac.ANNY_VERSION}-mbcli1.npz"
    monkeypatch.delenv(ac.MBCLI_CACHE_ENV)
    assert ac.default_cache_dir().parts[-2:] == (".cache", "mbcli")


# ------------------------------------------------------------------------------------------ the model itself


def test_structure(body32, arrays):
    b = body32
    assert b.name == "anny" and b.num_shape == 6 and b.num_joints == len(b.parents) == 104
    assert b.parents[0] == -1 and all(0 <= b.parents[j] < j for j in range(1, b.num_joints))
    assert b.faces.shape[1] == 3 and b.faces.min() >= 0 and b.faces.max() < b.num_vertices
    assert len(np.unique(b.faces)) == b.num_vertices  # every vertex is used
    w = b.skin_weights()
    assert w.shape == (b.num_vertices, b.num_joints) and np.allclose(w.sum(1), 1.0, atol=1e-5)
    assert [b.joint_names[j] for j in b.free_joints] == list(ANNY_FREE_JOINTS)
    assert not any(("finger" in n or "toe" in n or "eye" in n) for n in (b.joint_names[j] for j in b.free_joints))
    for m, h in b.h36m_pairs:
        assert m in b.joint_names and h in H36M17.joints
    assert b.h36m_weights.shape == (17, b.num_joints + 2)
    assert torch.allclose(b.h36m_weights.sum(1), torch.ones(17))


def test_vertex_subset_equals_full_rows(body64):
    shape = torch.tensor([0.2, 0.7, 0.9, 0.1, 0.6, 0.3], dtype=torch.float64)
    R, t = _random_pose(body64, 3, seed=5)
    v, j = body64.forward(shape, R, t)
    ids = np.array([0, 17, 5038, 881, body64.num_vertices - 1, 17])
    vs, js = body64.forward(shape, R, t, vertex_ids=ids)
    assert vs.shape == (3, len(ids), 3)
    assert torch.allclose(vs, v[:, ids], atol=1e-12) and torch.allclose(js, j, atol=1e-12)
    # per-frame shapes broadcast like one shape
    v2, _ = body64.forward(shape.expand(3, 6), R, t, vertex_ids=ids)
    assert torch.allclose(v2, vs, atol=1e-12)
    with pytest.raises(ValueError):
        body64.forward(shape, R, t, vertex_ids=np.array([body64.num_vertices]))


def test_identity_pose_is_rest_and_frame(body64):
    s = body64.default_shape()
    eye = torch.eye(3, dtype=torch.float64).expand(2, body64.num_joints, 3, 3)
    t = torch.tensor([[0.0, 0.0, 0.0], [0.1, -0.2, 3.0]], dtype=torch.float64)
    v, j = body64.forward(s, eye, t)
    rest_v, rest_j = body64.rest_vertices(s), body64.rest_joints(s.reshape(1, -1))[0]
    assert torch.allclose(v[0], rest_v, atol=1e-12) and torch.allclose(v[1], rest_v + t[1], atol=1e-12)
    assert torch.allclose(j[1], rest_j + t[1], atol=1e-12)
    # canonical frame: y up (1.83 m tall, soles near y = -0.82), facing +z, left side on +x
    height = float(rest_v[:, 1].max() - rest_v[:, 1].min())
    assert 1.7 < height < 1.95 and -0.9 < float(rest_v[:, 1].min()) < -0.75
    names = body64.joint_names
    nose = rest_v[int(body64.h36m_vertex_ids[0])]
    assert nose[2] > rest_j[names.index("head"), 2] + 0.1
    assert rest_j[names.index("upperleg01.L"), 0] > 0.05 > -0.05 > rest_j[names.index("upperleg01.R"), 0]
    crown = rest_v[int(body64.h36m_vertex_ids[1])]
    assert float(crown[1]) == pytest.approx(float(rest_v[:, 1].max()), abs=0.01)


def test_h36m17_rest_bone_lengths_plausible(body64):
    """Default adult at rest against Human3.6M's mean bones: limbs within 10%; torso, shoulders within 35%; the
    head's two bones (nose/crown surface points, SMPL's recipe) about 45% long."""
    eye = torch.eye(3, dtype=torch.float64).expand(1, body64.num_joints, 3, 3)
    P = body64.h36m_from_params(body64.default_shape(), eye)[0].numpy()
    tol = {"neck_nose": 0.55, "head_top": 0.55, "spine": 0.35, "thorax": 0.35, "left_shoulder": 0.35,
           "right_shoulder": 0.35}
    report = []
    for p, j in H36M17.bones:
        name = H36M17.joints[j]
        ratio = np.linalg.norm(P[j] - P[p]) / H36M_BONE_LENGTHS_M[name]
        report.append(f"{name} {ratio:.2f}")
        assert abs(ratio - 1) < tol.get(name, 0.10), ", ".join(report)
    # symmetric, pelvis between the hips, head points above the thorax and the nose in front
    flip = H36M17.flip_permutation
    assert np.allclose(P[flip] * [-1, 1, 1], P, atol=1e-3)
    assert np.allclose(P[0], (P[H36M17.idx("left_hip")] + P[H36M17.idx("right_hip")]) / 2)
    th, nn, ht = (P[H36M17.idx(n)] for n in ("thorax", "neck_nose", "head_top"))
    assert ht[1] > nn[1] > th[1] and nn[2] > th[2] + 0.05


def test_shape_coefficients_gradients_and_penalty(body64):
    s0 = body64.default_shape()
    assert s0.tolist() == list(ANNY_DEFAULT_SHAPE) and float(body64.shape_penalty(s0)) == 0.0
    s = s0.clone().requires_grad_(True)
    body64.rest_joints(s.reshape(1, -1)).sum().backward()
    assert (s.grad.abs() > 1e-6).all(), s.grad  # anchors at 0.5 keep a one-sided gradient, as in anny
    inside = float(body64.shape_penalty(torch.tensor([0.0, 0.8, 1.0, 0.5, 0.5, 0.5], dtype=torch.float64)))
    outside = float(body64.shape_penalty(torch.tensor([-0.1, 0.8, 1.1, 0.5, 0.5, 0.5], dtype=torch.float64)))
    assert 0 < inside < 50 and outside > 1e3 + inside
    # values outside [0, 1] are clamped: same body as on the boundary
    a = body64.coefficients(torch.tensor([1.3, 0.8, -0.2, 0.5, 0.5, 0.5], dtype=torch.float64))
    b = body64.coefficients(torch.tensor([1.0, 0.8, 0.0, 0.5, 0.5, 0.5], dtype=torch.float64))
    assert torch.allclose(a, b)
    # taller is taller
    heights = []
    for x in (0.0, 0.5, 1.0):
        y = body64.rest_vertices(torch.tensor([0.5, 0.8, 0.5, 0.5, x, 0.5], dtype=torch.float64))[:, 1]
        heights.append(float(y.max() - y.min()))
    assert heights[0] < heights[1] < heights[2]
    with pytest.raises(ValueError):
        body64.coefficients(torch.zeros(5))


def test_params_arrays_layout(body32):
    R, t = _random_pose(body32, 4, seed=2)
    shape = np.array(ANNY_DEFAULT_SHAPE)
    p = body32.params_arrays(shape, R.numpy(), t.numpy())
    assert set(p) == {"phenotypes", "pose_parameters"}
    assert all(v.dtype == np.float32 for v in p.values())
    assert p["phenotypes"].tolist() == pytest.approx(list(ANNY_DEFAULT_SHAPE))
    D = p["pose_parameters"]
    assert D.shape == (4, body32.num_joints, 4, 4) and np.allclose(D[..., 3, :], [0, 0, 0, 1])
    rest0 = body32.rest_joints(torch.as_tensor(shape, dtype=torch.float32).reshape(1, -1))[0, 0].numpy()
    assert np.allclose(D[:, 0, :3, 3], rest0 + t.numpy(), atol=1e-5)
    Rn = D[..., :3, :3].astype(np.float64)
    assert np.allclose(Rn @ np.swapaxes(Rn, -1, -2), np.eye(3), atol=1e-5)
    with pytest.raises(ValueError):
        body32.params_arrays(shape[:5], R.numpy(), t.numpy())


def test_pose_selected_vertices_backward(body32, one_thread):
    """The fitter's step: h36m17 joints for 300 frames, forward and backward, without posing the mesh (its speed is
    a row of ``mbcli bench``, not a timed assert)."""
    R, t = _random_pose(body32, 300, seed=3)
    R.requires_grad_(True)
    shape = body32.default_shape().requires_grad_(True)

    def step() -> None:
        body32.h36m_from_params(shape, R, t).square().sum().backward()

    step()
    assert R.grad is not None and shape.grad is not None
    assert torch.isfinite(R.grad).all() and torch.isfinite(shape.grad).all() and R.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------ mbcli mesh, real clip


SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "pose2sim_single_360.mp4"


@pytest.mark.slow
def test_mesh_cli_on_a_real_clip_with_anny(arrays, tmp_path, monkeypatch):
    """The issue's acceptance run: ``mbcli mesh samples/<clip>.mp4 --body-model anny`` (real detector, shipped
    lifter, anny) writes body.npz, an overlay video with every frame, and a GLB; the fitted joints are close to the
    lifted ones."""
    from typer.testing import CliRunner

    from mbcli.cli.main import app
    from mbcli.video import probe

    cache = tmp_path / "cache"
    cache.mkdir()
    np.savez(anny_cache_path(cache), **arrays)
    monkeypatch.setenv("MBCLI_CACHE_DIR", str(cache))
    out = tmp_path / "res" / "body.npz"
    r = CliRunner().invoke(app, ["mesh", str(SAMPLE), "--body-model", "anny", "--out", str(out), "--no-progress"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["body.glb", "body.mp4", "body.npz"]
    d = np.load(out, allow_pickle=False)
    T = len(d["frame_indices"])
    assert d["pose_parameters"].shape == (T, 104, 4, 4) and d["phenotypes"].shape == (6,)
    assert str(d["surface_model_type"]) == "anny" and str(d["up_axis"]) == "z"
    video = probe(out.with_suffix(".mp4"))
    assert video.num_frames == probe(SAMPLE).num_frames
    err = float(r.output.split("fit error")[1].split("mm")[0].split()[-1])
    assert err < 40.0, r.output  # mean distance of the fitted h36m17 joints to the lifted ones
