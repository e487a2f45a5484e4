"""GLB export of a skinned, animated body: the container and accessors parsed here byte by byte, the skinned
vertices recomputed from the file (node TRS from the animation, inverse bind matrices, JOINTS/WEIGHTS) against
linear blend skinning computed from the inputs, a synthetic SMPL model, weight truncation, error paths, and the
optional independent readers (pygltflib, trimesh, Khronos gltf-validator through node, Blender through bpy in its
own venv)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mbcli.errors import ExportError
from mbcli.export import glb as G
from mbcli.geometry import matrix_to_quaternion

ROOT = Path(__file__).resolve().parents[1]
BLENDER_PY = ROOT / ".venv-blender" / "bin" / "python"
# Khronos glTF-Validator (npm package gltf-validator): a node_modules folder that holds it.
VALIDATOR_DIR = Path(os.environ.get("MBCLI_GLTF_VALIDATOR", ROOT / "node_modules"))

COMPONENTS = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


# ---------------------------------------------------------------------------------------------------------------
# An independent reader and skinning evaluator


def parse_glb(path: Path) -> tuple[dict, bytes, dict]:
    """(JSON document, BIN chunk, layout facts) with every container rule checked."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    jlen, jtype = struct.unpack_from("<II", data, 12)
    assert jtype == 0x4E4F534A and jlen % 4 == 0
    text = data[20:20 + jlen]
    gltf = json.loads(text)
    blen, btype = struct.unpack_from("<II", data, 20 + jlen)
    assert btype == 0x004E4942 and blen % 4 == 0 and 28 + jlen + blen == len(data)
    binary = data[28 + jlen:]
    return gltf, binary, {"json_tail": text[len(text.rstrip(b" ")):], "bin_len": blen}


def accessor(gltf: dict, binary: bytes, i: int) -> np.ndarray:
    acc = gltf["accessors"][i]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(COMPONENTS[acc["componentType"]]).newbyteorder("<")
    width = WIDTHS[acc["type"]]
    start = view["byteOffset"] + acc.get("byteOffset", 0)
    assert "byteStride" not in view and start % dtype.itemsize == 0
    assert acc["count"] * width * dtype.itemsize <= view["byteLength"]
    a = np.frombuffer(binary, dtype=dtype, count=acc["count"] * width, offset=start)
    return a.reshape(acc["count"], width) if width > 1 else a


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = (np.asarray(q, dtype=np.float64) / np.linalg.norm(q)).tolist()
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def sample(gltf: dict, binary: bytes, sampler: dict, t: float) -> np.ndarray:
    """A LINEAR sampler at time t (keys looked up by time; slerp for quaternions)."""
    times = accessor(gltf, binary, sampler["input"]).astype(np.float64)
    values = accessor(gltf, binary, sampler["output"]).astype(np.float64)
    k = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1))
    if k == len(times) - 1 or times[k] == t:
        return values[k]
    u = (t - times[k]) / (times[k + 1] - times[k])
    a, b = values[k], values[k + 1]
    if len(a) == 3:
        return (1 - u) * a + u * b
    theta = np.arccos(np.clip(np.dot(a, b), -1, 1))
    return a if theta < 1e-12 else (np.sin((1 - u) * theta) * a + np.sin(u * theta) * b) / np.sin(theta)


def skinned_vertices(gltf: dict, binary: bytes, t: float) -> np.ndarray:
    """The mesh of the scene's skinned node at animation time t, computed only from the file."""
    nodes = gltf["nodes"]
    trs = [{"translation": np.array(n.get("translation", [0.0, 0.0, 0.0]), dtype=np.float64),
            "rotation": np.array(n.get("rotation", [0.0, 0.0, 0.0, 1.0]), dtype=np.float64),
            "scale": np.array(n.get("scale", [1.0, 1.0, 1.0]), dtype=np.float64)} for n in nodes]
    anim = gltf["animations"][0]
    for ch in anim["channels"]:
        trs[ch["target"]["node"]][ch["target"]["path"]] = sample(gltf, binary, anim["samplers"][ch["sampler"]], t)
    parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}

    def world(i: int) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = quat_xyzw_to_matrix(trs[i]["rotation"]) * trs[i]["scale"]
        m[:3, 3] = trs[i]["translation"]
        return world(parent[i]) @ m if i in parent else m

    mesh_node = next(i for i, n in enumerate(nodes) if "skin" in n)
    skin = gltf["skins"][nodes[mesh_node]["skin"]]
    ibm = accessor(gltf, binary, skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
    inv_mesh = np.linalg.inv(world(mesh_node))
    mats = np.stack([inv_mesh @ world(j) @ ibm[k] for k, j in enumerate(skin["joints"])])  # (J,4,4)
    prim = gltf["meshes"][nodes[mesh_node]["mesh"]]["primitives"][0]["attributes"]
    pos = accessor(gltf, binary, prim["POSITION"]).astype(np.float64)
    out = np.zeros_like(pos)
    s = 0
    while f"JOINTS_{s}" in prim:
        js = accessor(gltf, binary, prim[f"JOINTS_{s}"]).astype(np.int64)
        ws = accessor(gltf, binary, prim[f"WEIGHTS_{s}"]).astype(np.float64)
        for c in range(4):
            m = mats[js[:, c]]  # (V,4,4)
            out += ws[:, c:c + 1] * (np.einsum("vij,vj->vi", m[:, :3, :3], pos) + m[:, :3, 3])
        s += 1
    return out


def reference_lbs(rest, weights, joint_rest, parents, rotations, transl) -> np.ndarray:
    """Linear blend skinning straight from the model's definition: (T,V,3)."""
    T, J = rotations.shape[:2]
    G_R, G_t = np.zeros((T, J, 3, 3)), np.zeros((T, J, 3))
    done: set[int] = set()
    while len(done) < J:
        for j in range(J):
            p = parents[j]
            if j in done or (p >= 0 and p not in done):
                continue
            if p < 0:
                G_R[:, j], G_t[:, j] = rotations[:, j], joint_rest[j] + transl
            else:
                G_R[:, j] = G_R[:, p] @ rotations[:, j]
                G_t[:, j] = G_t[:, p] + np.einsum("tab,b->ta", G_R[:, p], joint_rest[j] - joint_rest[p])
            done.add(j)
    local = rest[None, :, None, :] - joint_rest[None, None, :, :]  # (1,V,J,3)
    per_joint = np.einsum("tjab,tvjb->tvja", G_R, np.broadcast_to(local, (T, *local.shape[1:]))) + G_t[:, None]
    return np.einsum("vj,tvja->tva", weights, per_joint)


# ---------------------------------------------------------------------------------------------------------------
# Synthetic models


def toy_model(seed: int = 0, V: int = 400, T: int = 40, influences: int = 4) -> dict:
    """A tree of 8 joints (a child listed before its parent, joints 6 and 7 never rotate), vertices around the
    joints with ``influences`` non-zero weights each (or all joints with influences=0), and a motion with large,
    fast rotations (quaternion sign flips between keys)."""
    rng = np.random.default_rng(seed)
    parents = np.array([-1, 3, 1, 0, 3, 0, 5, 2])
    J = len(parents)
    joint_rest = np.zeros((J, 3))
    for j in (0, 3, 1, 2, 4, 5, 6, 7):  # parents first
        joint_rest[j] = (joint_rest[parents[j]] if parents[j] >= 0 else [0, 0.9, 0]) + rng.normal(0, 0.2, 3)
    home = rng.integers(0, J, V)
    rest = joint_rest[home] + rng.normal(0, 0.1, (V, 3))
    if influences:
        weights = np.zeros((V, J))
        for v in range(V):
            others = rng.choice(np.delete(np.arange(J), home[v]), influences - 1, replace=False)
            weights[v, np.r_[home[v], others]] = rng.dirichlet(np.r_[4.0, np.ones(influences - 1)])
    else:  # every joint influences every vertex, by distance
        d = np.linalg.norm(rest[:, None] - joint_rest[None], axis=-1)
        weights = np.exp(-d / 0.08)
        weights /= weights.sum(1, keepdims=True)
    t = np.arange(T)[:, None, None] / 30.0
    rotvec = rng.uniform(0.3, 2.5, (1, J, 3)) * np.sin(2 * np.pi * rng.uniform(0.5, 2, (1, J, 3)) * t)
    rotvec[:, 0] += np.array([0.0, 1.0, 0.0]) * 4.0 * t[:, :, 0]  # the root turns more than a full circle
    rotvec[:, [6, 7]] = 0.0
    rotations = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(T, J, 3, 3)
    i = np.r_[np.arange(V), rng.integers(0, V, V)]  # every vertex in a face (Blender drops loose vertices)
    faces = np.stack([i, (i + 1) % V, (i + rng.integers(2, V, 2 * V)) % V], axis=1)
    return {
        "rest_vertices": rest, "faces": faces, "skin_weights": weights, "joint_rest": joint_rest,
        "parents": parents, "joint_names": [f"j{j}" for j in range(J)], "local_rotations": rotations,
        "root_translation": np.cumsum(rng.normal(0, 0.02, (T, 3)), axis=0), "fps": 30.0,
    }


def reference_of(m: dict) -> np.ndarray:
    return reference_lbs(m["rest_vertices"], m["skin_weights"], m["joint_rest"], m["parents"], m["local_rotations"],
                         m["root_translation"])


def file_vertices(path: Path, frames, fps: float) -> np.ndarray:
    gltf, binary, _ = parse_glb(path)
    return np.stack([skinned_vertices(gltf, binary, float(np.float32(f / fps))) for f in frames])


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[dict, Path]:
    m = toy_model()
    path = tmp_path_factory.mktemp("glb") / "toy.glb"
    G.write_skinned_glb(path, **m, name="toy")
    return m, path


# ---------------------------------------------------------------------------------------------------------------
# Tests


def test_container_and_accessors(toy):
    m, path = toy
    gltf, binary, facts = parse_glb(path)
    J, T = len(m["parents"]), len(m["local_rotations"])
    assert gltf["asset"]["version"] == "2.0" and set(facts["json_tail"]) <= {32}
    assert gltf["buffers"] == [{"byteLength": len(binary)}] and facts["bin_len"] == len(binary)
    assert all(v["byteOffset"] % 4 == 0 and v["byteOffset"] + v["byteLength"] <= len(binary)
               for v in gltf["bufferViews"])
    prim = gltf["meshes"][0]["primitives"][0]
    attr = prim["attributes"]
    assert set(attr) == {"POSITION", "NORMAL", "JOINTS_0", "WEIGHTS_0"}
    targets = {gltf["bufferViews"][gltf["accessors"][i]["bufferView"]].get("target") for i in attr.values()}
    assert targets == {34962}
    assert gltf["bufferViews"][gltf["accessors"][prim["indices"]]["bufferView"]]["target"] == 34963
    assert gltf["accessors"][prim["indices"]]["componentType"] == 5125
    np.testing.assert_array_equal(accessor(gltf, binary, prim["indices"]), m["faces"].reshape(-1))
    pos = accessor(gltf, binary, attr["POSITION"])
    np.testing.assert_array_equal(pos, m["rest_vertices"].astype(np.float32))
    assert gltf["accessors"][attr["POSITION"]]["min"] == pos.min(0).tolist()
    assert gltf["accessors"][attr["POSITION"]]["max"] == pos.max(0).tolist()
    normals = accessor(gltf, binary, attr["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    weights = accessor(gltf, binary, attr["WEIGHTS_0"])
    assert weights.shape == (len(m["rest_vertices"]), 4) and accessor(gltf, binary, attr["JOINTS_0"]).dtype == np.uint8
    assert np.all(weights[:, :-1] >= weights[:, 1:]) and np.abs(weights.sum(1, dtype=np.float64) - 1).max() < 1e-6

    skin = gltf["skins"][0]
    assert skin["joints"] == list(range(J)) and [n["name"] for n in gltf["nodes"][:J]] == m["joint_names"]
    ibm = accessor(gltf, binary, skin["inverseBindMatrices"]).reshape(J, 4, 4)
    np.testing.assert_allclose(ibm[:, 3, :3], -m["joint_rest"], atol=1e-6)  # column-major: translation last
    assert gltf["nodes"][3]["children"] == [1, 4] and gltf["scenes"][0]["nodes"] == [J, 0]

    anim = gltf["animations"][0]
    assert anim["extras"] == {"fps": 30.0, "frames": T}
    targets = sorted((c["target"]["node"], c["target"]["path"]) for c in anim["channels"])
    assert targets == sorted([(j, "rotation") for j in range(6)] + [(0, "translation")])  # 6, 7 never rotate
    for s in anim["samplers"]:
        assert s["interpolation"] == "LINEAR" and s["input"] == anim["samplers"][0]["input"]
        times = accessor(gltf, binary, s["input"])
        np.testing.assert_array_equal(times, (np.arange(T) / 30.0).astype(np.float32))
        assert gltf["accessors"][s["input"]]["min"] == [0.0] and gltf["accessors"][s["input"]]["max"] == [
            float(times[-1])]
        assert all(gltf["bufferViews"][gltf["accessors"][i]["bufferView"]].get("target") is None
                   for i in (s["input"], s["output"]))
        q = accessor(gltf, binary, s["output"])
        if q.shape[1] == 4:  # unit quaternions, each key in the previous key's hemisphere
            np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-6)
            assert np.all((q[1:] * q[:-1]).sum(1) > 0)


def test_skinned_vertices_match_reference(toy):
    """(a) The mesh a viewer computes from the file equals LBS of the inputs (weights with 4 influences)."""
    m, path = toy
    frames = [0, 1, 2, 17, 39]
    err = np.abs(file_vertices(path, frames, m["fps"]) - reference_of(m)[frames]).max()
    print(f"GLB vs reference LBS: max error {err:.2e} m", file=sys.stderr)
    assert err < 1e-5
    moved = np.abs(reference_of(m)[frames] - m["rest_vertices"]).max()
    assert moved > 0.3  # the motion is not trivially the rest pose


def test_between_keys_is_slerp(toy):
    """Halfway between two keys a viewer's slerp gives the pose with each local rotation at half the relative
    rotation (quaternion signs chosen so it takes the short way, also when the root turns past 180 degrees)."""
    m, path = toy
    k, fps = 20, m["fps"]
    R = m["local_rotations"]
    rel = Rotation.from_matrix(np.swapaxes(R[k], -1, -2) @ R[k + 1]).as_rotvec()
    half = R[k] @ Rotation.from_rotvec(rel / 2).as_matrix()
    mid = dict(m, local_rotations=half[None], root_translation=(m["root_translation"][k:k + 1]
                                                                 + m["root_translation"][k + 1:k + 2]) / 2)
    gltf, binary, _ = parse_glb(path)
    got = skinned_vertices(gltf, binary, (k + 0.5) / fps)
    assert np.abs(got - reference_of(mid)[0]).max() < 1e-5


def test_smpl_fixture_without_pose_blend_shapes(tmp_path):
    """(b) A synthetic SMPL file: the GLB's skinned mesh equals smpl_forward with posedirs zeroed (a skinned glTF
    cannot hold SMPL's pose-corrective blend shapes)."""
    import dataclasses

    import torch
    from smpl_fixture import build_model, write_npz

    from mbcli.body import SMPL_JOINT_NAMES, load_smpl, smpl_forward

    model = load_smpl(write_npz(tmp_path / "SMPL_NEUTRAL.npz", build_model(seed=3)), dtype=torch.float64)
    T, J = 12, model.num_joints
    g = torch.Generator().manual_seed(0)
    betas = torch.randn(1, 10, generator=g, dtype=torch.float64)
    pose = torch.randn(1, J, 3, generator=g, dtype=torch.float64) * 0.6 * torch.linspace(0, 1, T,
                                                                                          dtype=torch.float64)[:, None, None]
    transl = torch.randn(T, 3, generator=g, dtype=torch.float64) * 0.3
    no_pbs = dataclasses.replace(model, posedirs=torch.zeros_like(model.posedirs))
    expected, _ = smpl_forward(no_pbs, betas, pose[:, 0], pose[:, 1:].reshape(T, -1), transl)
    with_pbs, _ = smpl_forward(model, betas, pose[:, 0], pose[:, 1:].reshape(T, -1), transl)

    v_shaped = model.v_template + torch.einsum("vcs,s->vc", model.shapedirs[:, :, :10], betas[0])
    rot = torch.stack([torch.as_tensor(Rotation.from_rotvec(p.reshape(-1, 3).numpy()).as_matrix())
                       for p in pose]).numpy()
    G.write_skinned_glb(
        tmp_path / "smpl.glb", rest_vertices=v_shaped.numpy(), faces=model.faces, skin_weights=model.weights.numpy(),
        joint_rest=(model.J_regressor @ v_shaped).numpy(), parents=model.parents, joint_names=SMPL_JOINT_NAMES,
        local_rotations=rot, root_translation=transl.numpy(), fps=25.0)
    frames = [0, 5, 11]
    got = file_vertices(tmp_path / "smpl.glb", frames, 25.0)
    err = np.abs(got - expected.numpy()[frames]).max()
    pbs = np.abs(with_pbs.numpy() - expected.numpy()).max()
    print(f"SMPL fixture: GLB vs LBS {err:.2e} m (pose blend shapes would move vertices up to {pbs:.3f} m)",
          file=sys.stderr)
    assert err < 1e-5


def test_truncated_weights_error(tmp_path):
    """Weights with more than 4 influences: the top 4 (or 8), renormalised, approximate the dense skinning. The error
    is measured on the file itself; 8 influences must be at least as close, and exact for 8-influence weights."""
    dense = toy_model(seed=1, influences=0)
    frames = [0, 10, 25, 39]
    ref = reference_of(dense)[frames]
    errs = {}
    for k in (4, 8):
        path = tmp_path / f"dense{k}.glb"
        G.write_skinned_glb(path, **dense, max_influences=k)
        errs[k] = float(np.linalg.norm(file_vertices(path, frames, 30.0) - ref, axis=-1).max())
    gltf, _, _ = parse_glb(tmp_path / "dense8.glb")
    assert {"JOINTS_1", "WEIGHTS_1"} <= set(gltf["meshes"][0]["primitives"][0]["attributes"])
    print(f"truncation error (dense distance weights, 8 joints): top-4 {errs[4]:.4f} m, top-8 {errs[8]:.1e} m",
          file=sys.stderr)
    assert errs[4] > 1e-3 and errs[8] < 1e-5  # all 8 joints fit in two sets
    six = toy_model(seed=2, influences=6)
    G.write_skinned_glb(tmp_path / "six.glb", **six, max_influences=8)
    assert np.abs(file_vertices(tmp_path / "six.glb", frames, 30.0) - reference_of(six)[frames]).max() < 1e-5


def test_top_weights_and_quaternions():
    w = np.array([[0.1, 0.5, 0.0, 0.2, 0.15, 0.05], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    idx, kept = G.top_weights(w, 4)
    assert idx.tolist() == [[1, 3, 4, 0], [2, 0, 0, 0]] and kept.dtype == np.float32
    np.testing.assert_allclose(kept[0], np.array([0.5, 0.2, 0.15, 0.1]) / 0.95, rtol=1e-6)
    assert kept[1].tolist() == [1.0, 0.0, 0.0, 0.0]
    rng = np.random.default_rng(0)
    rots = Rotation.from_rotvec(np.r_[rng.normal(size=(200, 3)), np.pi * np.eye(3), [[0, 0, 0]],
                                      [[np.pi / np.sqrt(2), np.pi / np.sqrt(2), 0]]])
    q = matrix_to_quaternion(rots.as_matrix())[..., [1, 2, 3, 0]]  # w, x, y, z reordered as glb.py stores them
    ref = rots.as_quat()  # scipy is x, y, z, w too
    np.testing.assert_allclose(np.abs((q * ref).sum(-1)), 1.0, atol=1e-12)


def bad_inputs() -> tuple[list[tuple[str, dict, str]], dict]:
    m = toy_model(V=50, T=4)
    nan = m["rest_vertices"].copy()
    nan[3, 1] = np.nan
    not_rot = m["local_rotations"].copy()
    not_rot[2, 1] *= 1.1
    mirror = m["local_rotations"].copy()
    mirror[1, 2] = -mirror[1, 2]
    w_sum = m["skin_weights"] * 1.2
    w_neg = m["skin_weights"].copy()
    w_neg[0, :2] = [1.5, -0.5]
    return [
        ("rest_vertices", {"rest_vertices": m["rest_vertices"][:, :2]}, "rest_vertices must have shape (N, 3)"),
        ("nan", {"rest_vertices": nan}, "non-finite"),
        ("inf_transl", {"root_translation": m["root_translation"] * np.inf}, "non-finite"),
        ("weights_shape", {"skin_weights": m["skin_weights"][:, :5]}, "skin_weights must have shape (50, 8)"),
        ("weights_sum", {"skin_weights": w_sum}, "sum to 1"),
        ("weights_neg", {"skin_weights": w_neg}, "negative"),
        ("rotations_T", {"root_translation": m["root_translation"][:3]}, "root_translation must have shape (4, 3)"),
        ("not_rotation", {"local_rotations": not_rot}, "local_rotations[2, 1] is not a rotation"),
        ("reflection", {"local_rotations": mirror}, "local_rotations[1, 2] is not a rotation"),
        ("faces_range", {"faces": m["faces"] + 1}, "faces index vertices"),
        ("faces_float", {"faces": m["faces"].astype(float)}, "integer"),
        ("two_roots", {"parents": np.array([-1, 3, 1, 0, 3, -1, 5, 2])}, "exactly one -1"),
        ("cycle", {"parents": np.array([-1, 2, 1, 0, 3, 0, 5, 2])}, "cycle"),
        ("names", {"joint_names": ["a"]}, "joint_names has 1 entries"),
        ("fps", {"fps": 0.0}, "fps must be finite and positive"),
        ("influences", {"max_influences": 5}, "max_influences must be 4 or 8"),
        ("empty", {"local_rotations": m["local_rotations"][:0], "root_translation": m["root_translation"][:0]},
         "at least one"),
    ], m


BAD_CASES, BAD_MODEL = bad_inputs()


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_errors_are_one_line_and_write_nothing(change, message, tmp_path):
    path = tmp_path / "out.glb"
    with pytest.raises(ExportError) as info:
        G.write_skinned_glb(path, **{**BAD_MODEL, **change})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write(tmp_path, toy):
    m, _ = toy
    path = tmp_path / "sub" / "body.glb"
    G.write_skinned_glb(path, **m)
    first = path.read_bytes()
    G.write_skinned_glb(path, **{**m, "fps": 60.0})
    assert path.read_bytes() != first and sorted(p.name for p in path.parent.iterdir()) == ["body.glb"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="cannot write"):
        G.write_skinned_glb(tmp_path / "file" / "body.glb", **m)
    with pytest.raises(ExportError, match="cannot write"):
        G.write_skinned_glb(tmp_path / "sub", **m)  # a folder
    assert sorted(p.name for p in path.parent.iterdir()) == ["body.glb"]


def test_smpl_sized_file_and_time(tmp_path):
    """V=6890, J=24, T=300 (SMPL at 10 s of 30 fps): size as laid out, written in well under a second."""
    rng = np.random.default_rng(0)
    V, J, T = 6890, 24, 300
    from smpl_fixture import PARENTS, REST_JOINTS
    weights = rng.dirichlet(np.ones(4), V)
    full = np.zeros((V, J))
    np.put_along_axis(full, np.stack([rng.choice(J, 4, replace=False) for _ in range(V)]), weights, axis=1)
    rot = Rotation.from_rotvec(rng.normal(0, 0.3, (T * J, 3))).as_matrix().reshape(T, J, 3, 3)
    t0 = time.perf_counter()
    G.write_skinned_glb(tmp_path / "smpl.glb", rest_vertices=rng.normal(0, 0.3, (V, 3)),
                        faces=rng.integers(0, V, (13776, 3)), skin_weights=full, joint_rest=REST_JOINTS,
                        parents=PARENTS, joint_names=[f"j{j}" for j in range(J)], local_rotations=rot,
                        root_translation=np.zeros((T, 3)), fps=30.0)
    elapsed = time.perf_counter() - t0
    size = (tmp_path / "smpl.glb").stat().st_size
    binary = V * (12 + 12 + 4 + 16) + 13776 * 12 + J * 64 + T * 4 + T * J * 16 + T * 12
    print(f"V={V} J={J} T={T}: {size / 1e6:.3f} MB ({binary / 1e6:.3f} MB binary) written in {elapsed:.3f} s",
          file=sys.stderr)
    assert binary < size < binary + 20_000  # (the time is printed, not asserted: a busy machine is slower)


# ---------------------------------------------------------------------------------------------------------------
# Independent readers (optional)


def test_pygltflib_reads_it(toy):
    """(c) pygltflib (the low-level glTF library) sees one skin, one animation and the rest mesh."""
    pygltflib = pytest.importorskip("pygltflib", reason="pygltflib not installed (pip install pygltflib)")
    m, path = toy
    doc = pygltflib.GLTF2().load(str(path))
    J = len(m["parents"])
    assert len(doc.skins) == 1 and doc.skins[0].joints == list(range(J))
    assert len(doc.animations) == 1 and len(doc.animations[0].channels) == 7
    prim = doc.meshes[0].primitives[0]
    acc = doc.accessors[prim.attributes.POSITION]
    view = doc.bufferViews[acc.bufferView]
    pos = np.frombuffer(doc.binary_blob(), np.float32, acc.count * 3, view.byteOffset).reshape(-1, 3)
    np.testing.assert_array_equal(pos, m["rest_vertices"].astype(np.float32))


def test_trimesh_reads_it(toy):
    """(c) trimesh loads the rest mesh (it ignores skins and animations)."""
    trimesh = pytest.importorskip("trimesh", reason="trimesh not installed (pip install trimesh)")
    m, path = toy
    mesh = trimesh.load(str(path), force="mesh", process=False)
    assert mesh.vertices.shape == m["rest_vertices"].shape and len(mesh.faces) == len(m["faces"])
    np.testing.assert_allclose(mesh.vertices, m["rest_vertices"], atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, m["faces"])


@pytest.mark.skipif(shutil.which("node") is None or not (VALIDATOR_DIR / "gltf-validator").is_dir(),
                    reason="no Khronos glTF-Validator: npm install gltf-validator (or set MBCLI_GLTF_VALIDATOR to "
                           "the node_modules folder holding it)")
@pytest.mark.parametrize("influences", [4, 8])
def test_khronos_validator(tmp_path, influences):
    m = toy_model(seed=4, influences=6)
    path = tmp_path / "v.glb"
    G.write_skinned_glb(path, **m, max_influences=influences)
    script = ("const v = require('gltf-validator'); const fs = require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r => console.log(JSON.stringify(r.issues)), e => { console.error(e); process.exit(1); });")
    proc = subprocess.run(["node", "-e", script, str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NODE_PATH": str(VALIDATOR_DIR)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    issues = json.loads(proc.stdout)
    print(f"gltf-validator ({influences} influences): {issues['numErrors']} errors, {issues['numWarnings']} "
          f"warnings, {issues['numInfos']} infos, {issues['numHints']} hints", file=sys.stderr)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"]


@pytest.mark.blender
@pytest.mark.skipif(not BLENDER_PY.exists(), reason="no Blender venv: python3 -m venv .venv-blender && "
                    ".venv-blender/bin/pip install bpy==4.5.15")
@pytest.mark.parametrize("influences", [4, 8])
def test_blender_plays_the_same_mesh(tmp_path, influences):
    """(d) Blender's glTF importer, at the file's frame rate: the deformed mesh at several keys equals the reference,
    mapped glTF (x, y, z) -> Blender (x, -z, y); with 8 influences Blender also reads JOINTS_1/WEIGHTS_1."""
    m = toy_model(seed=5, V=300, T=30, influences={4: 4, 8: 6}[influences])
    m["fps"] = 25.0
    path = tmp_path / "b.glb"
    G.write_skinned_glb(path, **m, max_influences=influences)
    keys = [0, 1, 13, 29]
    out = tmp_path / "blender.json"
    proc = subprocess.run([str(BLENDER_PY), str(ROOT / "tests" / "blender_glb_check.py"), str(path), str(out),
                           ",".join(map(str, keys))], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["fps"] == pytest.approx(25.0) and result["frame_range"][1] - result["frame_range"][0] == 29

    def to_blender(x: np.ndarray) -> np.ndarray:
        return x[..., [0, 2, 1]] * [1, -1, 1]

    rest = np.array(result["rest"])
    assert rest.shape == m["rest_vertices"].shape
    # The importer may reorder vertices: match them by rest position (all distinct here).
    dist = np.linalg.norm(rest[:, None] - to_blender(m["rest_vertices"])[None], axis=-1)
    order = dist.argmin(axis=1)
    assert dist.min(axis=1).max() < 1e-5 and len(set(order.tolist())) == len(order)
    got = np.array(result["vertices"])
    err = np.abs(got - to_blender(reference_of(m)[keys][:, order])).max()
    print(f"Blender ({influences} influences) frames {result['frame_range']} at {result['fps']} fps: max vertex error "
          f"{err:.2e} m", file=sys.stderr)
    assert err < 1e-4
