"""mbcli.body.smpl_file and mbcli.body.smpl: loading SMPL files in every flavour, the forward pass (against smplx
and known values), errors."""

from __future__ import annotations

import dataclasses
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.spatial.transform import Rotation
from smpl_fixture import PARENTS, build_model, fake_modules, write_npz, write_pkl_chumpy, write_pkl_plain

from mbcli.body import SMPL_ENV, SMPL_PARENTS, axis_angle_to_matrix_torch, load_smpl, smpl_forward
from mbcli.errors import ConfigError, WeightsError

LEFT_ELBOW, LEFT_WRIST, LEFT_HAND = 18, 20, 22


@pytest.fixture(scope="module")
def raw() -> dict[str, np.ndarray]:
    return build_model(seed=0)


@pytest.fixture(scope="module")
def files(raw, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("smpl")
    return {
        "npz": write_npz(d / "SMPL_NEUTRAL.npz", raw),
        "pkl_chumpy": write_pkl_chumpy(d / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", raw),
        "pkl_plain": write_pkl_plain(d / "SMPL_MALE.pkl", raw),
    }


@pytest.fixture(scope="module")
def model(files):
    return load_smpl(files["npz"])


def _random_params(B: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "betas": torch.randn(B, 10, generator=g) * 1.5,
        "global_orient": torch.randn(B, 3, generator=g) * 1.5,
        "body_pose": torch.randn(B, 69, generator=g) * 0.5,
        "transl": torch.randn(B, 3, generator=g),
    }


def _one_line_error(exc_type: type, fn, *args, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and msg
    return msg


# --- loading -----------------------------------------------------------------------------------------------------


def test_the_three_file_flavours_load_to_identical_arrays(files, raw):
    assert not any(name == "chumpy" or name.startswith("chumpy.") for name in sys.modules)
    models = {k: load_smpl(p) for k, p in files.items()}
    assert not any(name == "chumpy" or name.startswith("chumpy.") for name in sys.modules)
    ref = models["npz"]
    assert ref.v_template.shape == (6890, 3) and ref.shapedirs.shape == (6890, 3, 10)
    assert ref.posedirs.shape == (6890, 3, 207) and ref.J_regressor.shape == (24, 6890)
    assert ref.weights.shape == (6890, 24) and ref.faces.shape == (13776, 3) and ref.faces.dtype == np.int64
    assert tuple(ref.parents.tolist()) == PARENTS == SMPL_PARENTS
    assert ref.v_template.dtype == torch.float32
    np.testing.assert_allclose(ref.J_regressor.numpy(), raw["J_regressor"], atol=1e-7)
    np.testing.assert_allclose(ref.posedirs.numpy(), raw["posedirs"], atol=1e-7)
    for name, m in models.items():
        for field in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
            assert torch.equal(getattr(m, field), getattr(ref, field)), (name, field)
        np.testing.assert_array_equal(m.faces, ref.faces)
        np.testing.assert_array_equal(m.parents, ref.parents)
    assert [models[k].gender for k in ("npz", "pkl_chumpy", "pkl_plain")] == ["neutral", "neutral", "male"]


def test_chumpy_pickle_really_references_chumpy_and_old_scipy(files):
    data = files["pkl_chumpy"].read_bytes()
    for ref in (b"chumpy.ch\nCh\n", b"chumpy.reordering\nReshape\n", b"scipy.sparse.csc\ncsc_matrix\n"):
        assert ref in data
    with pytest.raises(ModuleNotFoundError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.sparse.csc is a deprecated alias today
        pickle.loads(data, encoding="latin1")  # the plain unpickler needs chumpy; ours does not


def test_npz_with_pickled_object_array_is_read_safely(raw, tmp_path, model):
    arrays = {k: v for k, v in raw.items() if k != "home"}
    arrays["J_regressor"] = np.array(sp.csc_matrix(raw["J_regressor"]), dtype=object)
    path = tmp_path / "smpl_obj.npz"
    np.savez(path, **arrays)
    assert torch.equal(load_smpl(path).J_regressor, model.J_regressor)


def test_env_var_and_folder_resolve(files, model, monkeypatch, tmp_path):
    monkeypatch.setenv(SMPL_ENV, str(files["pkl_plain"]))
    assert torch.equal(load_smpl().v_template, model.v_template)
    folder = tmp_path / "models" / "smpl"
    folder.mkdir(parents=True)
    (folder / "SMPL_NEUTRAL.npz").symlink_to(files["npz"])
    assert torch.equal(load_smpl(tmp_path / "models").weights, model.weights)


def test_to_changes_dtype(model):
    m64 = model.to(dtype=torch.float64)
    assert m64.v_template.dtype == torch.float64 and m64.J_regressor.dtype == torch.float64
    assert model.v_template.dtype == torch.float32  # frozen: the original is untouched


def test_to_casts_every_tensor_field(model):
    """``to`` names its fields one by one: every tensor field (the optional regressors too) is cast, the rest kept."""
    with_extra = dataclasses.replace(model, J_regressor_extra=model.J_regressor[:3].clone(),
                                     J_regressor_h36m=model.J_regressor[:17].clone())
    for src in (model, with_extra):
        m64 = src.to(dtype=torch.float64)
        for f in dataclasses.fields(src):
            before, after = getattr(src, f.name), getattr(m64, f.name)
            if isinstance(before, torch.Tensor):
                assert after.dtype == torch.float64 and torch.equal(after, before.double()), f.name
            else:
                assert after is before, f.name


# --- errors ------------------------------------------------------------------------------------------------------


def test_no_model_given(monkeypatch):
    monkeypatch.delenv(SMPL_ENV, raising=False)
    msg = _one_line_error(WeightsError, load_smpl)
    assert "https://smpl.is.tue.mpg.de" in msg and "--smpl-model" in msg and SMPL_ENV in msg and "licence" in msg


def test_missing_file_explicit_and_from_env(tmp_path, monkeypatch):
    msg = _one_line_error(WeightsError, load_smpl, tmp_path / "nope.pkl")
    assert "not found" in msg and "nope.pkl" in msg and "smpl.is.tue.mpg.de" in msg
    monkeypatch.setenv(SMPL_ENV, str(tmp_path / "gone.npz"))
    msg = _one_line_error(WeightsError, load_smpl)
    assert "gone.npz" in msg and f"${SMPL_ENV}" in msg
    msg = _one_line_error(WeightsError, load_smpl, tmp_path)  # a folder without SMPL_NEUTRAL.*
    assert "SMPL_NEUTRAL" in msg


def test_wrong_vertex_count(raw, tmp_path):
    arrays = {k: v for k, v in raw.items() if k != "home"}
    arrays["v_template"] = arrays["v_template"][:6000]
    path = write_npz(tmp_path / "small.npz", arrays)
    msg = _one_line_error(WeightsError, load_smpl, path)
    assert "not an SMPL body model" in msg and "(6000, 3)" in msg


def test_smplx_and_smplh_files_are_named(tmp_path):
    tiny = np.zeros((1, 1))
    smplx_like = {"v_template": np.zeros((10475, 3)), "J_regressor": np.zeros((55, 10475)), "shapedirs": tiny,
                  "posedirs": tiny, "weights": np.zeros((10475, 55)), "kintree_table": np.zeros((2, 55), np.int64),
                  "f": np.zeros((1, 3), np.int64), "hands_componentsl": tiny, "lmk_faces_idx": tiny}
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **smplx_like)
    msg = _one_line_error(WeightsError, load_smpl, tmp_path / "SMPLX_NEUTRAL.npz")
    assert "SMPL-X" in msg and "6890" in msg
    smplh_like = {**smplx_like, "v_template": np.zeros((6890, 3)), "J_regressor": np.zeros((52, 6890)),
                  "weights": np.zeros((6890, 52)), "kintree_table": np.zeros((2, 52), np.int64)}
    del smplh_like["lmk_faces_idx"]
    with open(tmp_path / "SMPLH_male.pkl", "wb") as f:
        pickle.dump(smplh_like, f, protocol=2)
    msg = _one_line_error(WeightsError, load_smpl, tmp_path / "SMPLH_male.pkl")
    assert "SMPL-H" in msg
    np.savez(tmp_path / "other.npz", a=tiny)
    msg = _one_line_error(WeightsError, load_smpl, tmp_path / "other.npz")
    assert "missing v_template" in msg


def test_corrupt_files(files, tmp_path):
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(files["pkl_chumpy"].read_bytes()[:100_000])
    assert "not a valid model pickle" in _one_line_error(WeightsError, load_smpl, truncated)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(bytes(range(256)) * 10)
    assert "not a valid model pickle" in _one_line_error(WeightsError, load_smpl, garbage)
    bad_zip = tmp_path / "bad.npz"
    bad_zip.write_bytes(files["npz"].read_bytes()[:50_000])
    assert "not a valid .npz" in _one_line_error(WeightsError, load_smpl, bad_zip)
    not_dict = tmp_path / "list.pkl"
    not_dict.write_bytes(pickle.dumps([1, 2, 3]))
    assert "not a dict" in _one_line_error(WeightsError, load_smpl, not_dict)


class _Evil:
    def __reduce__(self):
        return (open, ("/tmp/mbcli_smpl_should_not_exist", "w"))


def test_pickle_cannot_run_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil()}))
    msg = _one_line_error(WeightsError, load_smpl, path)
    assert "builtins.open" in msg or "io.open" in msg
    assert not Path("/tmp/mbcli_smpl_should_not_exist").exists()


def test_unsupported_chumpy_object_is_named(raw, tmp_path):
    import types

    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch_ops")
    mod.add = type("add", (object,), {"__module__": "chumpy.ch_ops"})
    pkg.ch_ops = mod
    arrays = {k: v for k, v in raw.items() if k != "home"}
    obj = mod.add()
    obj.a, obj.b = 1.0, 2.0
    arrays["v_template"] = obj
    with fake_modules({"chumpy": pkg, "chumpy.ch_ops": mod}):
        data = pickle.dumps(arrays, protocol=2)
    (tmp_path / "ops.pkl").write_bytes(data)
    msg = _one_line_error(WeightsError, load_smpl, tmp_path / "ops.pkl")
    assert "chumpy.ch_ops.add" in msg and "v_template" in msg


def test_too_many_betas(model):
    p = _random_params(2, 0)
    _one_line_error(ConfigError, smpl_forward, model, torch.zeros(2, 16), p["global_orient"], p["body_pose"])


# --- forward pass ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_matches_smplx(files, model, seed):
    smplx = pytest.importorskip("smplx", reason="smplx is not installed (pip install -e .[test])")
    ref_model = smplx.SMPL(model_path=str(files["pkl_plain"]), num_betas=10)  # reads our file like an official one
    p = _random_params(6, seed)
    with torch.no_grad():
        ref = ref_model(**p)
        vertices, joints = smpl_forward(model, **p)
    assert vertices.shape == (6, 6890, 3) and joints.shape == (6, 24, 3)
    assert (vertices - ref.vertices).abs().max() < 1e-5
    assert (joints - ref.joints[:, :24]).abs().max() < 1e-5
    assert (vertices - p["transl"][:, None]).abs().max() > 0.5  # the poses are far from trivial


def test_rest_pose_gives_template_and_regressed_joints(model, raw):
    zeros = torch.zeros(1, 3)
    vertices, joints = smpl_forward(model, torch.zeros(1, 10), zeros, torch.zeros(1, 69))
    np.testing.assert_allclose(vertices[0].numpy(), raw["v_template"], atol=1e-6)
    np.testing.assert_allclose(joints[0].numpy(), raw["J_regressor"] @ raw["v_template"], atol=1e-6)


def test_betas_apply_the_shape_blend_shapes(model, raw):
    betas = np.linspace(-2, 2, 10)
    vertices, joints = smpl_forward(model, torch.tensor(betas[None]), torch.zeros(1, 3), torch.zeros(1, 23, 3))
    shaped = raw["v_template"] + raw["shapedirs"] @ betas
    np.testing.assert_allclose(vertices[0].numpy(), shaped, atol=1e-5)
    np.testing.assert_allclose(joints[0].numpy(), raw["J_regressor"] @ shaped, atol=1e-5)


def test_elbow_rotation_moves_only_the_forearm_chain(model, raw):
    body_pose = torch.zeros(1, 23, 3)
    body_pose[0, LEFT_ELBOW - 1] = torch.tensor([0.0, 1.2, 0.0])  # bend the left elbow 69 degrees about y
    rest_v, rest_j = smpl_forward(model, torch.zeros(1, 10), torch.zeros(1, 3), torch.zeros(1, 23, 3))
    vertices, joints = smpl_forward(model, torch.zeros(1, 10), torch.zeros(1, 3), body_pose)
    moved = (vertices - rest_v).norm(dim=-1)[0].numpy() > 1e-6
    chain = raw["weights"][:, [LEFT_ELBOW, LEFT_WRIST, LEFT_HAND]].sum(1) > 0
    np.testing.assert_array_equal(moved, chain)
    assert 0 < moved.sum() < 6890 / 4
    joint_moved = (joints - rest_j).norm(dim=-1)[0] > 1e-6
    assert torch.nonzero(joint_moved).flatten().tolist() == [LEFT_WRIST, LEFT_HAND]
    R = Rotation.from_rotvec([0.0, 1.2, 0.0]).as_matrix()
    forearm = (rest_j[0, LEFT_WRIST] - rest_j[0, LEFT_ELBOW]).numpy()
    np.testing.assert_allclose((joints[0, LEFT_WRIST] - joints[0, LEFT_ELBOW]).numpy(), R @ forearm, atol=1e-6)
    # Hand vertices are skinned to the wrist and hand only, which move rigidly with the forearm (their own pose
    # features stay zero): they rotate about the elbow by exactly R.
    hand = raw["home"] == LEFT_HAND
    elbow = rest_j[0, LEFT_ELBOW].numpy()
    np.testing.assert_allclose(vertices[0].numpy()[hand], (raw["v_template"][hand] - elbow) @ R.T + elbow, atol=1e-5)


def test_transl_shifts_vertices_and_joints(model):
    p = _random_params(3, 5)
    v0, j0 = smpl_forward(model, p["betas"], p["global_orient"], p["body_pose"])
    v1, j1 = smpl_forward(model, **p)
    torch.testing.assert_close(v1 - v0, p["transl"][:, None].expand_as(v0), atol=1e-5, rtol=0)
    torch.testing.assert_close(j1 - j0, p["transl"][:, None].expand_as(j0), atol=1e-5, rtol=0)


def test_rotation_matrix_input_equals_axis_angle(model):
    p = _random_params(4, 3)
    v_aa, j_aa = smpl_forward(model, **p)
    go_R = axis_angle_to_matrix_torch(p["global_orient"])  # (B,3,3)
    bp_R = axis_angle_to_matrix_torch(p["body_pose"].reshape(4, 23, 3))  # (B,23,3,3)
    v_R, j_R = smpl_forward(model, p["betas"], go_R, bp_R, p["transl"], pose2rot=False)
    torch.testing.assert_close(v_R, v_aa, atol=1e-6, rtol=0)
    torch.testing.assert_close(j_R, j_aa, atol=1e-6, rtol=0)
    v_R4, _ = smpl_forward(model, p["betas"], go_R[:, None], bp_R, p["transl"], pose2rot=False)  # (B,1,3,3) too
    torch.testing.assert_close(v_R4, v_aa, atol=1e-6, rtol=0)


def test_rodrigues_matches_scipy_and_is_smooth_at_zero():
    aa = torch.cat([torch.randn(50, 3, dtype=torch.float64) * 2, torch.tensor([[1e-5, 0, 0], [0, 0, 0]]).double()])
    R = axis_angle_to_matrix_torch(aa)
    np.testing.assert_allclose(R.numpy(), Rotation.from_rotvec(aa.numpy()).as_matrix(), atol=1e-12)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(axis_angle_to_matrix_torch(x)[0, 1], x)  # dR01/dx = -e_z at 0 (R ~ I + [x]x)
    np.testing.assert_allclose(grad.numpy(), [0, 0, -1], atol=1e-12)


def test_batch_is_consistent_and_betas_broadcast(model):
    p = _random_params(5, 7)
    v, j = smpl_forward(model, **p)
    for i in range(5):
        vi, ji = smpl_forward(model, **{k: t[i:i + 1] for k, t in p.items()})
        torch.testing.assert_close(vi[0], v[i], atol=1e-5, rtol=0)
        torch.testing.assert_close(ji[0], j[i], atol=1e-5, rtol=0)
    shared = {**p, "betas": p["betas"][0]}
    v_shared, _ = smpl_forward(model, **shared)
    v_repeat, _ = smpl_forward(model, **{**p, "betas": p["betas"][:1].expand(5, 10)})
    torch.testing.assert_close(v_shared, v_repeat, atol=1e-6, rtol=0)


def test_gradients_flow_to_every_input(model):
    p = {k: t.clone().requires_grad_() for k, t in _random_params(2, 9).items()}
    p["body_pose"].data[0] = 0.0  # includes the zero pose, where fitting starts
    vertices, joints = smpl_forward(model, **p)
    (vertices.square().sum() + joints.sum()).backward()
    for name, t in p.items():
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, name
