"""The device sampler (train/device_sampler.py) draws what the numpy sampler (train/augment.py) draws: the same
distributions, compared statistically on the same sequences, plus its own shapes, determinism and exact state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from mbcli.skeletons import H36M17
from mbcli.train.augment import ClipSampler, CorruptionConfig
from mbcli.train.data import TRAIN_SUBJECTS, Sequence, load_h36m
from mbcli.train.device_sampler import DeviceClipSampler

pytestmark = pytest.mark.usefixtures("one_thread")

L = 16  # strides 1 and 2 both fit the fixture's 36-48-frame sequences; the 10-frame one below is stretched
N = 3000


@pytest.fixture(scope="module")
def seqs(h36m) -> list[Sequence]:
    out = load_h36m(h36m, TRAIN_SUBJECTS, with_sh=True)
    s = out[0]
    out.append(Sequence("S1", "short", s.camera, s.xyz_camera[:10], s.xy_gt[:10], s.image_size, None, "short"))
    return out


def _draw_numpy(seqs, cfg, n=N, seed=0, **kw):
    return ClipSampler(seqs, L, cfg, seed=seed, **kw).batch(n)


def _draw_torch(seqs, cfg, n=N, seed=0, **kw):
    return tuple(t.numpy() for t in DeviceClipSampler(seqs, L, cfg, seed=seed, **kw).batch(n))


def _stats(x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    conf = x[..., 2]
    vis = conf > 0
    ones = (conf == 1.0) & vis
    return {
        "masked": (~vis).mean(keepdims=True),
        "frame_masked": (~vis).all(-1).mean(keepdims=True),
        "exact_one": ones.mean(keepdims=True),  # SH clips (confidence 1) and corrupted joints that reached 1
        "x_visible": x[..., 0][vis],
        "y_visible": x[..., 1][vis],
        "conf_visible": conf[vis],
        "extent": np.abs(x[..., :2]).max(axis=(1, 2, 3)),  # the crop box (scale jitter) seen from inside
        "target_x_wrist": t[:, :, H36M17.idx("left_wrist"), 0].ravel(),
        "target_z_head": t[:, :, H36M17.idx("head_top"), 2].ravel(),
        "target_speed": np.linalg.norm(np.diff(t, axis=1), axis=-1).mean(axis=(1, 2)),  # stride 1 vs 2
        "left_right": np.sign(t[:, 0, H36M17.idx("left_hip"), 0]),  # flips
    }


@pytest.mark.parametrize("cfg", [CorruptionConfig(), CorruptionConfig(mask_part_prob=0.3, mask_window_prob=0.3,
                                                                        strides=(1, 2, 3), sh_prob=0.5)],
                         ids=["default", "actionpose-masks"])
def test_same_distributions_as_the_numpy_sampler(seqs, cfg):
    a = _stats(*_draw_numpy(seqs, cfg))
    b = _stats(*_draw_torch(seqs, cfg))
    for k, tol in (("masked", 0.01), ("frame_masked", 0.01), ("exact_one", 0.03)):  # exact_one: a per-clip draw
        assert b[k][0] == pytest.approx(a[k][0], abs=tol), k
    for k in ("x_visible", "y_visible", "conf_visible", "extent", "target_x_wrist", "target_z_head", "target_speed"):
        d = ks_2samp(a[k], b[k]).statistic
        assert d < 0.04, f"{k}: Kolmogorov-Smirnov distance {d:.3f}"
    assert b["left_right"].mean() == pytest.approx(a["left_right"].mean(), abs=0.06)


def test_a_changed_setting_is_detected(seqs):
    """The comparison above can fail: 1.5x the noise on one side moves the confidence distribution past it."""
    a = _stats(*_draw_numpy(seqs, CorruptionConfig()))
    b = _stats(*_draw_torch(seqs, CorruptionConfig(noise_std=0.03)))
    assert ks_2samp(a["conf_visible"], b["conf_visible"]).statistic > 0.04


def test_clean_clips_equal_the_numpy_clean_clips(seqs):
    """Clean clips carry no randomness but the clip position: the same positions give the same arrays."""
    cfg = replace(CorruptionConfig(), strides=(1,))
    s = seqs[0]
    one = [s]
    xn, tn = ClipSampler(one, s.num_frames, cfg, seed=0, clean=True).batch(1)
    xt, tt = DeviceClipSampler(one, s.num_frames, cfg, seed=0, clean=True).batch(1)
    np.testing.assert_allclose(xt.numpy(), xn, atol=2e-6)
    np.testing.assert_allclose(tt.numpy(), tn, atol=1e-6)


def test_shapes_labels_state_and_determinism(seqs):
    index = {"short": 7}
    s = DeviceClipSampler(seqs, L, CorruptionConfig(), seed=3, label_index=index)
    x, t, ids = s.batch(5)
    assert x.shape == t.shape == (5, L, 17, 3) and x.dtype == t.dtype == torch.float32 and ids.dtype == torch.int64
    assert torch.all(t[:, :, 0] == 0)
    assert set(ids.tolist()) <= {-1, 7}
    state = s.state()
    a = s.batch(4)
    s.batch(3)
    s.set_state(state)
    b = s.batch(4)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    c = DeviceClipSampler(seqs, L, CorruptionConfig(), seed=3, label_index=index).batch(5)
    assert torch.equal(c[0], x)
    assert not torch.equal(DeviceClipSampler(seqs, L, CorruptionConfig(), seed=4).batch(5)[0], x)
    masked = x[..., 2] == 0
    assert torch.all(x[masked] == 0)


def test_pools_mix_at_their_rates(seqs):
    """Two pools at 0.8 / 0.2 (MixedSampler's cmu_fraction), labelled apart."""
    short = [q for q in seqs if q.action == "short"]
    rest = [q for q in seqs if q.action != "short"]
    s = DeviceClipSampler([(rest, 0.8), (short, 0.2)], L, CorruptionConfig(), seed=0, label_index={"short": 1})
    ids = s.batch(4000)[2]
    assert (ids == 1).float().mean().item() == pytest.approx(0.2, abs=0.02)


def test_flipped_clips_equal_the_numpy_flipped_clips(seqs):
    """With every other random draw switched off, a flip must give exactly numpy's clip: 2D mirrored about the image
    centre with left and right swapped, the 3D mirrored about x = 0 with the same swap (the marginal statistics
    above cannot see a flip that swaps one and not the other)."""
    cfg = CorruptionConfig(noise_std=0.0, jitter_std=0.0, outlier_prob=0.0, mask_joint_prob=0.0, mask_frame_prob=0.0,
                           flip_prob=1.0, sh_prob=0.0, scale_jitter=(1.0, 1.0), center_jitter=0.0, strides=(1,))
    s = seqs[0]
    xn, tn = ClipSampler([s], s.num_frames, cfg, seed=0).batch(1)
    xt, tt = DeviceClipSampler([s], s.num_frames, cfg, seed=0).batch(1)
    np.testing.assert_allclose(xt[..., :2].numpy(), xn[..., :2], atol=2e-6)  # (the confidence carries its own noise)
    np.testing.assert_allclose(tt.numpy(), tn, atol=1e-6)
    plain = DeviceClipSampler([s], s.num_frames, replace(cfg, flip_prob=0.0), seed=0).batch(1)
    assert not np.allclose(plain[0][..., :2].numpy(), xn[..., :2], atol=1e-3)  # the flip did something
