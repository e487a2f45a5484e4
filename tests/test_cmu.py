"""CMU mocap source (mbcli/train/cmu.py): the CMU -> h36m17 mapping, resampling, virtual cameras, determinism, error
paths and the clip sampler (the BVH reader itself: tests/test_rig_bvh_io.py).

Tests that read ../shared/data/cmu (or ../shared/data/h36m) skip visibly when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rig_fixture import TINY

from mbcli.errors import ConfigError
from mbcli.geometry import project
from mbcli.rig.bvh_io import bvh_positions, read_bvh
from mbcli.skeletons import H36M17
from mbcli.train import cmu as C
from mbcli.train.augment import ClipSampler, CorruptionConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CMU_DIR = SHARED / "cmu"
H36M_3D = SHARED / "h36m" / "h36m_3d.npz"
needs_cmu = pytest.mark.skipif(not (CMU_DIR / "bvh" / "07_01.bvh").is_file(),
                               reason=f"CMU BVH data not found in {CMU_DIR}")
idx = H36M17.idx

# ------------------------------------------------------------------------------------------- mapping


@pytest.fixture(scope="module")
def walk():
    if not (CMU_DIR / "bvh" / "07_01.bvh").is_file():
        pytest.skip(f"CMU BVH data not found in {CMU_DIR}")
    m = read_bvh(CMU_DIR / "bvh" / "07_01.bvh")
    return m, C.cmu_to_h36m17(m)[10:]


def _bone_lengths(xyz: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(xyz[..., j, :] - xyz[..., p, :], axis=-1) for p, j in H36M17.bones], axis=-1)


def test_match_bone_lengths_sets_lengths_and_keeps_directions():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(5, 17, 3))
    out = C.match_bone_lengths(xyz)
    want = [C.H36M_BONE_LENGTHS_M[H36M17.joints[j]] for _, j in H36M17.bones]
    np.testing.assert_allclose(_bone_lengths(out), np.broadcast_to(want, (5, 16)), atol=1e-12)
    for p, j in H36M17.bones:
        a, b = xyz[:, j] - xyz[:, p], out[:, j] - out[:, p]
        cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-12)
    np.testing.assert_allclose(out[:, 0], xyz[:, 0])


@needs_cmu
def test_mapped_skeleton_has_h36m_bone_lengths(walk):
    _, xyz = walk
    want = np.array([C.H36M_BONE_LENGTHS_M[H36M17.joints[j]] for _, j in H36M17.bones])
    assert np.abs(_bone_lengths(xyz) - want).max() < 1e-6  # metres
    # before length matching the CMU figure's bones are within 35% of Human3.6M's (hips 0.088 vs 0.135 m the worst)
    raw = _bone_lengths(C.cmu_to_h36m17(walk[0], match_lengths=False)[10:]).mean(axis=0)
    assert np.all(np.abs(raw / want - 1) < 0.36)
    assert np.all(np.abs(raw / want - 1)[[H36M17.bones.index((p, j)) for p, j in H36M17.bones
                                         if H36M17.joints[j].endswith(("elbow", "ankle"))]] < 0.03)


def _body_placements(xyz: np.ndarray) -> dict[str, np.ndarray]:
    """Mean (up, forward) of spine from the pelvis and of neck_nose / head_top from the thorax, in body frames."""
    def frame(l_, r_, lo, hi):
        a, u, f = C._body_frame(xyz[:, idx(l_)] - xyz[:, idx(r_)], xyz[:, idx(hi)] - xyz[:, idx(lo)])
        return np.stack([u, f], axis=1)

    pel = frame("left_hip", "right_hip", "pelvis", "thorax")
    up = frame("left_shoulder", "right_shoulder", "spine", "thorax")
    rel = lambda B, j, r: np.einsum("tij,tj->ti", B, xyz[:, idx(j)] - xyz[:, idx(r)]).mean(0)  # noqa: E731
    return {"spine": rel(pel, "spine", "pelvis"), "neck_nose": rel(up, "neck_nose", "thorax"),
            "head_top": rel(up, "head_top", "thorax")}


@needs_cmu
def test_mapped_joint_placements_match_h36m_means_on_a_walk(walk):
    got = _body_placements(walk[1])
    spine_up = C.H36M_SPINE[0] * C.H36M_PELVIS_THORAX_M
    np.testing.assert_allclose(got["spine"], [spine_up, -C.H36M_SPINE[1]], atol=0.015)
    np.testing.assert_allclose(got["neck_nose"], C.H36M_NECK_NOSE, atol=0.02)
    np.testing.assert_allclose(got["head_top"], C.H36M_HEAD_TOP, atol=0.025)


@pytest.mark.skipif(not H36M_3D.is_file(), reason=f"Human3.6M data not found: {H36M_3D}")
def test_h36m_placement_constants_match_the_data():
    d = np.load(H36M_3D)
    keep = np.zeros(len(d["joints_world_mm"]), bool)
    for s, st, n in zip(d["subject"], d["start"], d["length"]):
        if s in ("S1", "S5", "S6", "S7", "S8"):
            keep[st:st + n] = True
    xyz = d["joints_world_mm"][keep][::20].astype(np.float64) / 1000
    got = _body_placements(xyz)
    dist = np.linalg.norm(xyz[:, idx("thorax")] - xyz[:, 0], axis=-1).mean()
    assert dist == pytest.approx(C.H36M_PELVIS_THORAX_M, abs=0.002)
    np.testing.assert_allclose(got["spine"], [C.H36M_SPINE[0] * dist, -C.H36M_SPINE[1]], atol=0.003)
    np.testing.assert_allclose(got["neck_nose"], C.H36M_NECK_NOSE, atol=0.002)
    np.testing.assert_allclose(got["head_top"], C.H36M_HEAD_TOP, atol=0.002)
    lengths = _bone_lengths(xyz).mean(axis=0)
    for k, (_, j) in enumerate(H36M17.bones):  # left/right averaged in the table
        assert lengths[k] == pytest.approx(C.H36M_BONE_LENGTHS_M[H36M17.joints[j]], abs=0.004)


@needs_cmu
def test_front_camera_sees_left_on_the_right_and_head_up(walk):
    """Facing from the eyes (not from joint names): a camera in front of the subject must see the subject's left
    joints at larger x (image right), the head above the pelvis (smaller y) and the face nearer than the neck."""
    m, xyz = walk
    eyes = bvh_positions(m, ["head", "leftEye", "rightEye"])[10:]
    facing = ((eyes[:, 1] + eyes[:, 2]) / 2 - eyes[:, 0]).mean(axis=0)
    az = np.degrees(np.arctan2(facing[0], facing[2]))
    cam = C.place_camera(xyz, xyz[:, 0].mean(axis=0), az, 10.0, 6.0)
    x = cam.to_camera(xyz)
    for side in ("shoulder", "hip", "wrist", "ankle"):
        assert np.mean(x[:, idx(f"left_{side}"), 0] > x[:, idx(f"right_{side}"), 0]) > 0.9, side
    assert np.all(x[:, idx("head_top"), 1] < x[:, idx("pelvis"), 1])
    assert np.all(x[:, idx("pelvis"), 1] < x[:, idx("left_ankle"), 1])
    assert np.mean(x[:, idx("neck_nose"), 2] < x[:, idx("thorax"), 2]) > 0.9
    # from behind, left and right swap in the image
    back = C.place_camera(xyz, xyz[:, 0].mean(axis=0), az + 180, 10.0, 6.0).to_camera(xyz)
    assert np.mean(back[:, idx("left_shoulder"), 0] < back[:, idx("right_shoulder"), 0]) > 0.9


# ------------------------------------------------------------------------------------------- resampling, cameras


def test_resample_fps_is_linear_in_time():
    t = np.arange(25) / 120.0
    x = np.stack([t, 2 * t + 1], axis=-1)
    out = C.resample_fps(x, 120.0, 50.0)
    n = int(np.floor(24 * 50 / 120)) + 1
    assert out.shape == (n, 2)
    np.testing.assert_allclose(out[:, 0], np.arange(n) / 50.0, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], 2 * np.arange(n) / 50.0 + 1, atol=1e-12)
    assert C.resample_fps(x[:1], 120.0, 50.0).shape == (1, 2)


def test_look_at_rotation_is_a_roll_free_rotation():
    for az, el in [(0, 0), (37, 12), (200, -5), (300, 25)]:
        R, d = C.look_at_rotation(az, el)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        np.testing.assert_allclose(R @ d, [0, 0, -1], atol=1e-12)  # looks towards the target
        assert abs(R[0, 1]) < 1e-12  # camera x is horizontal (no roll)
        assert R[1, 1] < 0  # camera y points down


def test_place_camera_pushes_back_until_everything_is_inside():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1, 1, (50, 3)) * [3.0, 1.0, 3.0]  # a wide scene around the origin
    cam = C.place_camera(pts, np.zeros(3), 30.0, 10.0, 1.0)
    x = cam.to_camera(pts)
    uv = cam.project(x)
    assert cam.distance_m > 1.0 and x[:, 2].min() > C.MIN_DEPTH_M
    assert uv.min() >= C.MARGIN_PX - 1e-6 and uv.max() <= 1000 - C.MARGIN_PX + 1e-6
    assert min(uv[:, 0].min(), uv[:, 1].min(), 1000 - uv[:, 0].max(), 1000 - uv[:, 1].max()) < C.MARGIN_PX + 1e-6
    far = C.place_camera(pts, np.zeros(3), 30.0, 10.0, 20.0)
    assert far.distance_m == 20.0
    np.testing.assert_allclose(np.linalg.norm(far.center_world), 20.0)


# ------------------------------------------------------------------------------------------- load_cmu


@pytest.fixture(scope="module")
def all_seqs():
    if not (CMU_DIR / "bvh").is_dir():
        pytest.skip(f"CMU BVH data not found in {CMU_DIR}")
    return C.load_cmu(CMU_DIR)


@needs_cmu
def test_load_all_trials(all_seqs):
    trials = sorted({s.action for s in all_seqs})
    assert len(trials) == 47 and "07_12" not in trials and "09_10" not in trials  # the two broken captures
    assert len(all_seqs) == 47 * 4
    s = next(s for s in all_seqs if s.action == "07_01" and s.camera == "virtual2")
    assert s.subject == "CMU07" and s.image_size == (1000, 1000) and s.xy_sh is None
    assert s.xyz_camera.dtype == np.float32 and s.xy_gt.dtype == np.float32
    assert s.xyz_camera.shape == (s.num_frames, 17, 3) and s.xy_gt.shape == (s.num_frames, 17, 2)
    assert s.num_frames == pytest.approx((317 - 4) * 50 / 120, abs=1.01)  # 4 leading frames dropped, 120 -> 50 fps


@needs_cmu
def test_projection_cameras_and_up_axis(all_seqs):
    for s in all_seqs:
        x, uv = s.xyz_camera.astype(np.float64), s.xy_gt.astype(np.float64)
        assert x[..., 2].min() > C.MIN_DEPTH_M
        assert np.isfinite(uv).all() and uv.min() >= C.MARGIN_PX - 0.01 and uv.max() <= 1000 - C.MARGIN_PX + 0.01
        # pinhole without distortion, principal point at the centre, one focal length per sequence
        f = np.sum((uv - 500) * x[..., :2] / x[..., 2:]) / np.sum((x[..., :2] / x[..., 2:]) ** 2)
        assert C.FOCAL_PX * (1 - C.FOCAL_JITTER) <= f <= C.FOCAL_PX * (1 + C.FOCAL_JITTER)
        np.testing.assert_allclose(uv, project(x, np.array([f, f]), np.array([500.0, 500.0])), atol=0.02)
        # up is -y: the head is above the pelvis and the pelvis above the ankles in (nearly) every frame
        assert np.mean(x[:, idx("head_top"), 1] < x[:, idx("pelvis"), 1]) > 0.97
        assert np.mean(x[:, idx("pelvis"), 1] < x[:, idx("right_ankle"), 1]) > 0.9
    dist = np.array([np.linalg.norm(s.xyz_camera[:, 0].mean(axis=0)) for s in all_seqs])
    assert 3.0 < dist.min() and dist.max() < 8.0 and 4.5 < np.median(dist) < 6.5


@needs_cmu
def test_cameras_are_deterministic_per_seed_and_trial(all_seqs):
    a = C.load_cmu(CMU_DIR, trials=["09_03", "13_39"])
    b = C.load_cmu(CMU_DIR, trials=["09_03", "13_39"])
    c = C.load_cmu(CMU_DIR, trials=["09_03", "13_39"], seed=1)
    alone = C.load_cmu(CMU_DIR, trials=["13_39"])
    for s, t in zip(a, b):
        assert (s.action, s.camera) == (t.action, t.camera)
        np.testing.assert_array_equal(s.xy_gt, t.xy_gt)
    assert all(not np.allclose(s.xy_gt, t.xy_gt) for s, t in zip(a, c))
    np.testing.assert_array_equal(a[4].xyz_camera, alone[0].xyz_camera)  # same cameras without the other trial
    full = next(s for s in all_seqs if s.action == "13_39" and s.camera == "virtual0")
    np.testing.assert_array_equal(full.xy_gt, alone[0].xy_gt)


def test_random_cameras_spread_around_the_subject():
    xyz = np.zeros((10, 17, 3))
    xyz[:, :, 1] = np.linspace(-0.9, 0.8, 17)  # a standing stick figure
    cams = C.random_cameras(xyz, 4, np.random.default_rng(3))
    az = np.sort([c.azimuth_deg for c in cams])
    gaps = np.diff(np.concatenate([az, az[:1] + 360]))
    assert np.all((gaps > 45) & (gaps < 135))
    assert all(C.ELEVATION_DEG[0] <= c.elevation_deg <= C.ELEVATION_DEG[1] for c in cams)
    assert all(C.DISTANCE_M[0] <= c.distance_m <= C.DISTANCE_M[1] for c in cams)  # the figure is small: no push
    assert all(c.c == (500.0, 500.0) for c in cams)
    again = C.random_cameras(xyz, 4, np.random.default_rng(3))
    assert [c.azimuth_deg for c in again] == [c.azimuth_deg for c in cams]


@needs_cmu
def test_fps_and_camera_count_options():
    seqs = C.load_cmu(CMU_DIR, fps=25.0, cameras_per_trial=2, trials=["09_03"])
    assert [s.camera for s in seqs] == ["virtual0", "virtual1"]
    assert seqs[0].num_frames == int(np.floor((129 - 1 - 4) * 25 / 120)) + 1


@needs_cmu
def test_clip_sampler_draws_batches_from_cmu(all_seqs):
    sampler = ClipSampler(all_seqs, 27, CorruptionConfig(), seed=0)
    x, y = sampler.batch(6)
    assert x.shape == (6, 27, 17, 3) and y.shape == (6, 27, 17, 3)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    np.testing.assert_allclose(y[:, :, 0], 0.0)  # root-relative target
    assert 0.6 < np.abs(y).max() < 1.5  # metres from the pelvis: a person-sized skeleton


@needs_cmu
def test_description_lookup():
    assert C.cmu_description("07_01", CMU_DIR) == "walk"
    assert C.cmu_description("09_03") == "run"
    with pytest.raises(ConfigError, match="99_99"):
        C.cmu_description("99_99", CMU_DIR)


# ------------------------------------------------------------------------------------------- error paths


def test_missing_folder_or_files_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no BVH files"):
        C.load_cmu(tmp_path / "absent")
    (tmp_path / "bvh").mkdir()
    with pytest.raises(ConfigError, match="no BVH files"):
        C.load_cmu(tmp_path)
    with pytest.raises(ConfigError, match="index not found"):
        C.cmu_description("07_01", tmp_path)


def test_bad_options_and_unknown_trials_raise_config_error(tmp_path):
    (tmp_path / "bvh").mkdir()
    (tmp_path / "bvh" / "01_01.bvh").write_text(TINY)
    with pytest.raises(ConfigError, match="02_02"):
        C.load_cmu(tmp_path, trials=["02_02"])
    with pytest.raises(ConfigError, match="fps"):
        C.load_cmu(tmp_path, fps=0)
    with pytest.raises(ConfigError, match="cameras_per_trial"):
        C.load_cmu(tmp_path, cameras_per_trial=0)
    with pytest.raises(ConfigError, match="not a CMU skeleton"):  # a valid BVH with other joint names
        C.load_cmu(tmp_path)


def test_malformed_file_in_the_folder_raises_config_error(tmp_path):
    (tmp_path / "bvh").mkdir()
    (tmp_path / "bvh" / "01_01.bvh").write_text(TINY.replace("Frames: 4", "Frames: 3"))
    with pytest.raises(ConfigError, match="01_01.bvh"):
        C.load_cmu(tmp_path)


@needs_cmu
def test_broken_capture_is_refused_when_asked_for():
    with pytest.raises(ConfigError, match="09_10.*unusable"):
        C.load_cmu(CMU_DIR, trials=["09_10"])


def test_usable_range_drops_the_reference_blend():
    xyz = np.zeros((60, 17, 3))
    xyz[:, :, 2] = np.arange(60)[:, None] * 0.01  # 1.2 m/s at 120 fps
    xyz[:3] += 1.0  # a reference pose one metre away, left at 120 m/s
    start, fast = C.usable_range(xyz, 120.0, reference_first=True)
    assert start == 3 and fast == 0.0
    xyz[30::2, 5] += 0.5  # a joint that jitters by half a metre every other frame
    assert C.usable_range(xyz, 120.0)[1] > C.MAX_FAST_FRACTION
