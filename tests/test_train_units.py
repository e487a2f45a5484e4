"""Unit tests of the training package on a synthetic Human3.6M folder (tests/h36m_fixture.py): data loading and
projection, action names, clip sampling and 2D corruption, the losses, and the strict recipe loader."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from h36m_fixture import CAMERA_IDS, MISSING_SH, TEST_SEQS, TRAIN_SEQS

from mbcli.errors import ConfigError
from mbcli.geometry import project, world_to_camera
from mbcli.metrics import mpjpe as np_mpjpe
from mbcli.metrics import n_mpjpe as np_n_mpjpe
from mbcli.normalize import crop_params, encode
from mbcli.skeletons import H36M17, RECIPES, SH16
from mbcli.train import losses
from mbcli.train.augment import ClipSampler, CorruptionConfig, corrupt_2d, sample_clip
from mbcli.train.data import TEST_SUBJECTS, TRAIN_SUBJECTS, Sequence, base_action, load_h36m
from mbcli.train.recipe import RECIPE_DIR, Recipe, load_recipe

REAL_H36M = Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m"
# every source of randomness off, so that two draws differ only where a test wants them to
NO_NOISE = CorruptionConfig(noise_std=0.0, jitter_std=0.0, outlier_prob=0.0, mask_joint_prob=0.0,
                            mask_frame_prob=0.0, flip_prob=0.0, sh_prob=0.0, scale_jitter=(1.0, 1.0),
                            center_jitter=0.0, strides=(1,))



@pytest.fixture(scope="module")
def train_seqs(h36m) -> list[Sequence]:
    return load_h36m(h36m, TRAIN_SUBJECTS, with_sh=True)


def _copy_npz(src: Path, dst: Path, **changes) -> None:
    with np.load(src) as d:
        arrays = {k: d[k] for k in d.files}
    arrays.update(changes)
    np.savez(dst, **arrays)


# ------------------------------------------------------------------------------------------------ data


def test_projection_is_project_of_world_to_camera(h36m):
    seqs = load_h36m(h36m, TRAIN_SUBJECTS)
    assert len(seqs) == 4 * len(TRAIN_SEQS)
    raw = np.load(h36m / "h36m_3d.npz")
    cams = json.loads((h36m / "h36m_cameras.json").read_text())["cameras"]
    table = {(str(s), str(a)): (int(st), int(n)) for s, a, st, n in
             zip(raw["subject"], raw["action"], raw["start"], raw["length"])}
    for seq in seqs:
        st, n = table[(seq.subject, seq.action)]
        cam = next(c for c in cams[seq.subject] if c["id"] == seq.camera)  # the subject's own camera
        world = raw["joints_world_mm"][st:st + n].astype(np.float64)
        xyz_mm = world_to_camera(world, np.asarray(cam["R_world_to_cam"]), np.asarray(cam["center_world_mm"]))
        assert seq.num_frames == n and seq.xy_sh is None
        assert seq.xyz_camera.dtype == np.float32 and seq.xyz_camera.shape == (n, 17, 3)
        np.testing.assert_allclose(seq.xyz_camera, xyz_mm / 1000.0, atol=1e-6)  # metres
        np.testing.assert_allclose(seq.xy_gt, project(xyz_mm, cam["f"], cam["c"], cam["k"], cam["p"]), atol=1e-3)
        assert seq.image_size == tuple(cam["image_size"])
    assert [s.camera for s in seqs[:4]] == list(CAMERA_IDS)
    assert {(s.subject, s.action) for s in seqs} == {(s, a) for s, a, _ in TRAIN_SEQS}


def test_camera_subset(h36m):
    seqs = load_h36m(h36m, ("S9",), cameras=(1,))
    assert [s.camera for s in seqs] == ["55011271"] * 3


def test_sh_remapped_to_h36m17_and_missing_camera_skipped(h36m):
    seqs = load_h36m(h36m, TEST_SUBJECTS, with_sh=True)
    assert len(load_h36m(h36m, TEST_SUBJECTS)) == 4 * len(TEST_SEQS)
    assert len(seqs) == 4 * len(TEST_SEQS) - len(MISSING_SH)
    assert not any((s.subject, s.action, s.camera) in MISSING_SH for s in seqs)
    raw = np.load(h36m / "h36m_2d_sh_test.npz")
    rows = {(str(s), str(a), str(c)): (int(st), int(n)) for s, a, c, st, n in
            zip(raw["subject"], raw["action"], raw["camera"], raw["start"], raw["length"])}
    j = H36M17.idx
    for seq in seqs:
        assert seq.xy_sh.shape == (seq.num_frames, 17, 2)
        st, n = rows[(seq.subject, seq.action, seq.camera)]
        det = raw["keypoints_px"][st:st + n].astype(np.float32)
        for name in set(SH16.joints) - set(RECIPES[("sh16", "h36m17")]):  # copied by name
            np.testing.assert_array_equal(seq.xy_sh[:, j(name)], det[:, SH16.idx(name)])
        sh = seq.xy_sh
        np.testing.assert_allclose(sh[:, j("neck_nose")], (sh[:, j("thorax")] + sh[:, j("head_top")]) / 2, atol=1e-4)
        np.testing.assert_allclose(sh[:, j("spine")], (sh[:, j("pelvis")] + sh[:, j("thorax")]) / 2, atol=1e-4)
        assert np.median(np.linalg.norm(sh - seq.xy_gt, axis=-1)) < 10  # detections sit on the projection


def test_short_sh_sequence_is_padded_with_its_last_frame(h36m, tmp_path):
    d = tmp_path / "h36m"
    d.mkdir()
    for f in ("h36m_3d.npz", "h36m_cameras.json", "h36m_2d_sh_train.npz"):
        (d / f).write_bytes((h36m / f).read_bytes())
    with np.load(h36m / "h36m_2d_sh_test.npz") as raw:
        length = raw["length"].copy()
    length[0] -= 5
    _copy_npz(h36m / "h36m_2d_sh_test.npz", d / "h36m_2d_sh_test.npz", length=length)
    seq = load_h36m(d, ("S9",), with_sh=True)[0]
    assert seq.xy_sh.shape[0] == seq.num_frames
    np.testing.assert_array_equal(seq.xy_sh[-5:], np.repeat(seq.xy_sh[-6:-5], 5, axis=0))


def test_missing_or_bad_files_raise_config_error(h36m, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_h36m(tmp_path)
    (tmp_path / "h36m_3d.npz").write_bytes((h36m / "h36m_3d.npz").read_bytes())
    with pytest.raises(ConfigError, match="h36m_cameras.json"):
        load_h36m(tmp_path)
    (tmp_path / "h36m_cameras.json").write_bytes((h36m / "h36m_cameras.json").read_bytes())
    assert load_h36m(tmp_path, ("S9",))  # enough files without SH
    with pytest.raises(ConfigError, match="Stacked Hourglass"):
        load_h36m(tmp_path, ("S9",), with_sh=True)
    with pytest.raises(ConfigError, match="no Human3.6M sequences"):
        load_h36m(tmp_path, ("S2",))
    _copy_npz(h36m / "h36m_2d_sh_test.npz", tmp_path / "h36m_2d_sh_test.npz",
              joint_names=np.array(SH16.joints[::-1]))
    with pytest.raises(ConfigError, match="joint order"):
        load_h36m(tmp_path, TEST_SUBJECTS, with_sh=True)


def _npz_header(path: Path) -> dict[str, tuple]:
    """key -> (dtype, ndim, trailing shape) read from the .npy headers only (the real files are tens of MB)."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            with z.open(name) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
                out[name.removesuffix(".npy")] = (dtype.str, len(shape), shape[1:] if len(shape) == 3 else ())
    return out


@pytest.mark.skipif(not REAL_H36M.is_dir(), reason=f"real Human3.6M data absent ({REAL_H36M})")
def test_fixture_has_the_layout_of_the_real_data(h36m):
    for name in ("h36m_3d.npz", "h36m_2d_sh_train.npz", "h36m_2d_sh_test.npz"):
        assert _npz_header(h36m / name) == _npz_header(REAL_H36M / name), name
    real = json.loads((REAL_H36M / "h36m_cameras.json").read_text())
    ours = json.loads((h36m / "h36m_cameras.json").read_text())
    assert ours.keys() == real.keys()
    for subj, cams in ours["cameras"].items():
        assert [c["id"] for c in cams] == [c["id"] for c in real["cameras"][subj]]
        assert all(c.keys() == real["cameras"][subj][0].keys() for c in cams)
    with np.load(REAL_H36M / "h36m_3d.npz") as r:
        assert tuple(r["joint_names"]) == H36M17.joints
        assert sorted({base_action(str(a)) for a in r["action"]}) == sorted({
            "Directions", "Discussion", "Eating", "Greeting", "Phoning", "TakingPhoto", "Posing", "Purchases",
            "Sitting", "SittingDown", "Smoking", "Waiting", "WalkingDog", "WalkTogether", "Walking"})


@pytest.mark.parametrize("name, base", [("Directions", "Directions"), ("Directions 1", "Directions"),
                                        ("Photo", "TakingPhoto"), ("Photo 2", "TakingPhoto"),
                                        ("WalkDog 1", "WalkingDog"), ("WalkTogether 2", "WalkTogether"),
                                        ("SittingDown", "SittingDown")])
def test_base_action(name, base):
    assert base_action(name) == base


# ----------------------------------------------------------------------------------------- corruption


def _clip(seq: Sequence, L: int = 27) -> np.ndarray:
    return seq.xy_gt[:L].astype(np.float64)


def test_corrupt_2d_offsets_scale_with_noise_std(train_seqs):
    xy = _clip(train_seqs[0])
    half = crop_params(xy, np.ones(xy.shape[:2])).scale_px
    smooth = CorruptionConfig(noise_std=0.02, jitter_std=0.0, outlier_prob=0.0)
    a, _ = corrupt_2d(xy, np.random.default_rng(3), smooth)
    b, _ = corrupt_2d(xy, np.random.default_rng(3), CorruptionConfig(noise_std=0.06, jitter_std=0.0, outlier_prob=0.0))
    np.testing.assert_allclose(b - xy, 3 * (a - xy), atol=1e-3)  # same draws, three times the std
    rng = np.random.default_rng(0)
    off = np.stack([(corrupt_2d(xy, rng, smooth)[0] - xy) / half for _ in range(200)])
    assert 0.7 < np.sqrt((off ** 2).mean()) / 0.02 < 1.3  # in units of the box half-size
    assert np.abs(np.diff(off, axis=1)).mean() < 0.35 * np.abs(off).mean()  # smooth in time
    jitter = CorruptionConfig(noise_std=0.0, jitter_std=0.01, outlier_prob=0.0)
    off = np.stack([(corrupt_2d(xy, rng, jitter)[0] - xy) / half for _ in range(100)])
    assert off.std() == pytest.approx(0.01, rel=0.05) and abs(off.mean()) < 1e-3
    outl = CorruptionConfig(noise_std=0.0, jitter_std=0.0, outlier_prob=0.2)
    off = np.stack([(corrupt_2d(xy, rng, outl)[0] - xy) / half for _ in range(100)])
    moved = np.abs(off).max(-1) > 1e-4
    assert moved.mean() == pytest.approx(0.2, abs=0.02) and np.abs(off).max() <= 0.3 + 1e-3


def test_corrupt_2d_confidence_in_unit_range_and_falls_with_error(train_seqs):
    xy = _clip(train_seqs[0])
    rng = np.random.default_rng(1)
    noisy, conf = zip(*(corrupt_2d(xy, rng, CorruptionConfig(noise_std=0.05)) for _ in range(100)))
    conf = np.stack(conf)
    assert conf.dtype == np.float32 and conf.shape == (100, 27, 17)
    assert conf.min() >= 0.0 and conf.max() <= 1.0 and conf.std() > 0.05
    err = np.linalg.norm(np.stack(noisy) - xy, axis=-1)
    assert np.corrcoef(err.ravel(), conf.ravel())[0, 1] < -0.5


def test_masking_rates_follow_the_configured_probabilities(train_seqs):
    seq = train_seqs[0]
    assert seq.xy_sh is not None
    cfg = CorruptionConfig(sh_prob=1.0, mask_joint_prob=0.2, mask_frame_prob=0.3, flip_prob=0.0)  # conf 1 before masks
    rng = np.random.default_rng(0)
    conf = np.stack([sample_clip(seq, 27, rng, cfg)[0][..., 2] for _ in range(150)]).reshape(-1, 17)
    assert set(np.unique(conf)) <= {0.0, 1.0}
    frame_masked = (conf == 0).all(-1)
    assert frame_masked.mean() == pytest.approx(0.3, abs=0.03)
    assert (conf[~frame_masked] == 0).mean() == pytest.approx(0.2, abs=0.015)
    x = np.stack([sample_clip(seq, 27, rng, CorruptionConfig())[0] for _ in range(40)])
    assert x[..., 2].min() >= 0 and x[..., 2].max() <= 1
    assert np.all(x[x[..., 2] == 0] == 0)  # masked joints are (0, 0, 0)


def test_flip_swaps_left_right_and_mirrors_2d_and_3d_together(train_seqs):
    seq = train_seqs[0]
    x0, t0 = sample_clip(seq, 27, np.random.default_rng(5), NO_NOISE)
    x1, t1 = sample_clip(seq, 27, np.random.default_rng(5), replace(NO_NOISE, flip_prob=1.0))
    assert not np.allclose(x0, x1)
    perm = H36M17.flip_permutation
    for a, b in ((x0, x1), (t0, t1)):
        np.testing.assert_allclose(b[..., 0], -a[:, perm, 0], atol=1e-5)
        np.testing.assert_allclose(b[..., 1:], a[:, perm, 1:], atol=1e-5)
    lw, rw = H36M17.idx("left_wrist"), H36M17.idx("right_wrist")
    np.testing.assert_allclose(t1[:, lw], t0[:, rw] * [-1, 1, 1], atol=1e-6)  # by name
    np.testing.assert_allclose(x1[:, lw, :2], x0[:, rw, :2] * [-1, 1], atol=1e-5)
    for x, t in ((x0, t0), (x1, t1)):  # image x and camera X agree in sign in both samples
        assert np.corrcoef((x[..., 0] - x[:, :1, 0]).ravel(), t[..., 0].ravel())[0, 1] > 0.9


def test_clean_clip_is_exact_ground_truth(train_seqs):
    seq = train_seqs[0]
    T = seq.num_frames
    for seed in range(5):  # the default config flips and masks half the time; clean ignores all of it
        x, t = sample_clip(seq, T, np.random.default_rng(seed), CorruptionConfig(strides=(1,)), clean=True)
        ones = np.ones((T, 17), np.float32)
        np.testing.assert_array_equal(x, encode(seq.xy_gt, ones, crop_params(seq.xy_gt, ones)))
        np.testing.assert_allclose(t, seq.xyz_camera - seq.xyz_camera[:, :1], atol=1e-6)
    # a sequence shorter than the clip is stretched evenly over its frames, by index
    x, t = sample_clip(seq, T + 20, np.random.default_rng(0), CorruptionConfig(), clean=True)
    rel = seq.xyz_camera - seq.xyz_camera[:, :1]
    assert x.shape == (T + 20, 17, 3)
    src = [int(np.argmin(np.abs(rel - f).sum(axis=(1, 2)))) for f in t]
    assert src == np.round(np.linspace(0, T - 1, T + 20)).astype(int).tolist()
    np.testing.assert_allclose(t, rel[src], atol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_clips_start_anywhere_inside_the_sequence_at_the_stride(train_seqs, stride):
    seq = train_seqs[0]
    T, L = seq.num_frames, 9
    rel = seq.xyz_camera - seq.xyz_camera[:, :1]
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(60):
        _, t = sample_clip(seq, L, rng, replace(NO_NOISE, strides=(stride,)), clean=True)
        src = [int(np.argmin(np.abs(rel - f).sum(axis=(1, 2)))) for f in t]
        assert np.all(np.diff(src) == stride) and 0 <= src[0] and src[-1] < T  # never across the boundary
        starts.add(src[0])
    assert len(starts) > 15 and max(starts) > T - (L - 1) * stride - 5


def test_only_strides_that_fit_are_drawn(train_seqs):
    """A sequence with room for stride 1 but not 2 is never slowed down by a stretched stride-2 clip."""
    seq = train_seqs[0]
    T = seq.num_frames
    L = (T + 1) // 2 + 2  # (L - 1) * 2 + 1 > T >= L
    rel = seq.xyz_camera - seq.xyz_camera[:, :1]
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, t = sample_clip(seq, L, rng, replace(NO_NOISE, strides=(1, 2)), clean=True)
        src = [int(np.argmin(np.abs(rel - f).sum(axis=(1, 2)))) for f in t]
        assert np.all(np.diff(src) == 1)


def test_clip_sampler_shapes_determinism_and_state(train_seqs):
    cfg = CorruptionConfig()
    s = ClipSampler(train_seqs, 27, cfg, seed=7)
    x, t = s.batch(5)
    assert x.shape == t.shape == (5, 27, 17, 3) and x.dtype == t.dtype == np.float32
    np.testing.assert_allclose(t[:, :, 0], 0.0)  # root-relative
    x2, t2 = ClipSampler(train_seqs, 27, cfg, seed=7).batch(5)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(t, t2)
    assert not np.array_equal(ClipSampler(train_seqs, 27, cfg, seed=8).batch(5)[0], x)
    state = json.loads(json.dumps(s.state()))  # survives a JSON round trip, as in a checkpoint
    a = s.batch(3)
    s.batch(2)
    s.set_state(state)
    b = s.batch(3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_clip_sampler_picks_sequences_in_proportion_to_length(train_seqs):
    short = Sequence("S1", "still", "1", np.zeros((10, 17, 3), np.float32), np.zeros((10, 17, 2), np.float32),
                     (1000, 1000))  # a motionless sequence: its targets are all zero
    long = train_seqs[0]
    p_short = 10 / (10 + long.num_frames)
    _, t = ClipSampler([short, long], 9, CorruptionConfig(), seed=0, clean=True).batch(600)
    assert (np.abs(t).max(axis=(1, 2, 3)) == 0).mean() == pytest.approx(p_short, abs=0.05)


# --------------------------------------------------------------------------------------------- losses


def _poses(B: int = 2, T: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, 17, 3, generator=g, dtype=torch.float64) * 0.3
    return x - x[:, :, :1]


def test_losses_known_values():
    target = _poses()
    offset = torch.tensor([0.03, 0.04, 0.0], dtype=torch.float64)
    assert float(losses.mpjpe(target + offset, target)) == pytest.approx(0.05)
    assert float(losses.mpjpe(target, target)) == 0.0
    assert float(losses.n_mpjpe(1.7 * target, target)) == pytest.approx(0.0, abs=1e-9)
    assert float(losses.n_mpjpe(target + offset, target)) > 0.01
    assert float(losses.velocity(target + offset, target)) == pytest.approx(0.0, abs=1e-12)
    drift = torch.arange(5, dtype=torch.float64)[None, :, None, None] * offset  # 5 cm more every frame
    assert float(losses.velocity(target + drift, target)) == pytest.approx(0.05)
    assert float(losses.velocity(target[:, :1] + 1, target[:, :1])) == 0.0  # one frame: no motion term


def test_losses_agree_with_the_evaluation_metrics():
    pred, target = _poses(seed=1), _poses(seed=2)
    np.testing.assert_allclose(float(losses.mpjpe(pred, target)), np_mpjpe(pred.numpy(), target.numpy()).mean())
    np.testing.assert_allclose(float(losses.n_mpjpe(pred, target)), np_n_mpjpe(pred.numpy(), target.numpy()).mean())


def test_lifter_loss_weights_and_gradient():
    target = _poses(seed=3)
    pred = (_poses(seed=4) * 0.1 + target).requires_grad_(True)
    total, parts = losses.lifter_loss(pred, target, w_scale=0.5, w_velocity=20.0)
    assert set(parts) == {"mpjpe", "n_mpjpe", "velocity"}
    p = {k: float(v) for k, v in parts.items()}
    assert float(total.detach()) == pytest.approx(p["mpjpe"] + 0.5 * p["n_mpjpe"] + 20 * p["velocity"])
    only_mp, _ = losses.lifter_loss(pred, target, w_scale=0.0, w_velocity=0.0)
    assert float(only_mp.detach()) == pytest.approx(p["mpjpe"])
    assert not any(v.requires_grad for v in parts.values())
    total.backward()  # the parts are detached tensors, the total carries the gradient
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------- recipes


def _recipe(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", sorted(f.stem for f in RECIPE_DIR.glob("*.yaml")))
def test_builtin_recipes_resolve_by_name(name):
    r = load_recipe(name)
    assert isinstance(r, Recipe) and r.name == name
    assert r.lr_schedule in ("exp", "cosine", "cosine-time") and isinstance(r.subjects, tuple)


def test_smoke_recipe_values():
    r = load_recipe("smoke")
    assert (r.model.preset, r.clip_len, r.batch_size, r.steps, r.use_sh) == ("tiny", 27, 4, 6, False)
    assert r.loss == Recipe().loss and r.corruption == CorruptionConfig()


def test_unknown_recipe_name_lists_builtins():
    with pytest.raises(ConfigError, match="smoke"):
        load_recipe("no-such-recipe")


@pytest.mark.parametrize("text, key", [("lrr: 0.1\n", "lrr"), ("loss: {w_scal: 1.0}\n", "loss.w_scal"),
                                       ("corruption:\n  noise: 0.1\n", "corruption.noise"),
                                       ("model: {preset: tiny, depth: 2}\n", "model.depth")])
def test_unknown_key_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=f"unknown recipe key {key}") as e:
        load_recipe(str(_recipe(tmp_path, text)))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text", ["steps: [1, 2\n", "a: b: c\n", "\tsteps: 3\n"])
def test_bad_yaml_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(str(_recipe(tmp_path, text)))


@pytest.mark.parametrize("text", ["- steps\n- 3\n", "just a string\n", "loss: 3\n"])
def test_non_mapping_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="mapping"):
        load_recipe(str(_recipe(tmp_path, text)))


def test_values_lists_become_tuples_and_name_defaults_to_stem(tmp_path):
    r = load_recipe(str(_recipe(tmp_path, "subjects: [S1, S5]\ncorruption: {strides: [1], noise_std: 0.03}\n"
                                          "loss: {w_velocity: 5}\nlr_schedule: cosine\nmin_lr: 1.0e-6\n",
                                "my-run.yaml")))
    assert r.name == "my-run" and r.subjects == ("S1", "S5")
    assert r.corruption.strides == (1,) and r.corruption.noise_std == 0.03
    assert r.corruption.mask_joint_prob == CorruptionConfig().mask_joint_prob  # unspecified keys keep defaults
    assert r.loss.w_velocity == 5 and r.loss.w_scale == 0.5
    assert r.lr_schedule == "cosine" and r.min_lr == 1e-6
    assert not any(isinstance(v, list) for v in (*r.__dict__.values(), *r.corruption.__dict__.values()))


def test_an_empty_recipe_is_refused_and_an_empty_mapping_is_all_defaults(tmp_path):
    with pytest.raises(ConfigError, match="is empty"):  # it used to start a 10,000-step default run without a word
        load_recipe(str(_recipe(tmp_path, "# nothing\n", "empty.yaml")))
    assert load_recipe(str(_recipe(tmp_path, "{}\n", "defaults.yaml"))) == Recipe(name="defaults")


def test_lr_schedule_must_be_exp_or_cosine(tmp_path):
    assert load_recipe(str(_recipe(tmp_path, "lr_schedule: exp\n"))).lr_schedule == "exp"
    with pytest.raises(ConfigError, match="lr_schedule must be exp, cosine or cosine-time, got 'linear'"):
        load_recipe(str(_recipe(tmp_path, "lr_schedule: linear\n")))


def test_init_from_is_resolved_against_the_recipe_folder(tmp_path, monkeypatch):
    sub = tmp_path / "recipes"
    sub.mkdir()
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    r = load_recipe(str(_recipe(sub, "init_from: ../ckpt/base.pt\n")))
    assert r.init_from == str((tmp_path / "ckpt" / "base.pt").resolve())
    absolute = str(tmp_path / "elsewhere.pt")
    assert load_recipe(str(_recipe(sub, f"init_from: {absolute}\n", "abs.yaml"))).init_from == absolute
    assert load_recipe(str(_recipe(sub, "steps: 3\n", "none.yaml"))).init_from is None
