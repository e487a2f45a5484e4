"""Windows, the normalisation codec and the Lifter: coverage, smooth blending, determinism, flip equivariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbcli.inference.predictors import H36M_BONE_LENGTHS_M, Lifter, LiftOptions, rescale_to_metric
from mbcli.inference.windows import blend, plan_windows, resample_time, window_weight
from mbcli.model import DSTformer, preset
from mbcli.normalize import crop_params, decode_xy, encode, image_params
from mbcli.skeletons import H36M17, flip_joints
from mbcli.types import Keypoints2D


@pytest.mark.parametrize("T,L,S", [(1, 27, 9), (27, 27, 9), (28, 27, 9), (500, 243, 81), (300, 81, 27), (90, 27, 27)])
def test_windows_cover_every_frame_and_fit(T, L, S):
    wins = plan_windows(T, L, S)
    covered = np.zeros(T, int)
    for w in wins:
        assert 0 <= w.start < w.stop <= T and w.length == min(L, T)
        covered[w.start:w.stop] += 1
    assert covered.min() >= 1
    assert wins[0].start == 0 and wins[-1].stop == T


def test_bad_window_arguments():
    with pytest.raises(ValueError):
        plan_windows(0, 27, 9)
    with pytest.raises(ValueError):
        plan_windows(100, 27, 28)


def test_blend_reproduces_a_common_signal_and_cross_fades_offsets():
    T, L, S = 200, 50, 20
    wins = plan_windows(T, L, S)
    signal = np.sin(np.linspace(0, 6, T))[:, None]
    same = blend(wins, [signal[w.start:w.stop] for w in wins], T)
    assert np.allclose(same, signal, atol=1e-6)
    # windows disagreeing by a constant offset: the blend moves between them without a step
    offsets = np.arange(len(wins)) * 0.1
    out = blend(wins, [signal[w.start:w.stop] + o for w, o in zip(wins, offsets)], T)
    jumps = np.abs(np.diff((out - signal)[:, 0]))
    assert jumps.max() < 0.1 / 5  # a hard cut would jump by the full 0.1
    for wt in (window_weight(wins, i) for i in range(len(wins))):
        assert wt.min() > 0 and wt.max() <= 1


def test_resample_time_round_trip_for_linear_signals():
    x = np.linspace(0, 1, 10)[:, None] * np.ones((1, 3))
    up = resample_time(x, 27)
    assert up.shape == (27, 3) and np.allclose(up[[0, -1]], x[[0, -1]])
    assert np.allclose(resample_time(up, 10), x, atol=1e-6)


def test_codec_round_trip_and_missing_joints():
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 900, (20, 17, 2))
    sc = rng.uniform(0.1, 1, (20, 17))
    sc[3, 5] = 0
    for p in (crop_params(xy, sc), image_params(1000, 1002)):
        enc = encode(xy, sc, p)
        assert enc.shape == (20, 17, 3) and enc.dtype == np.float32
        ok = sc > 0
        assert np.allclose(decode_xy(enc, p)[ok], xy[ok], atol=1e-3)
        assert np.all(enc[3, 5] == 0)
    enc = encode(xy, sc, crop_params(xy, sc))
    assert np.abs(enc[..., :2][sc > 0]).max() <= 1 + 1e-6


def test_image_params_follow_motionbert_h36m_convention():
    p = image_params(1000, 1002)
    enc = encode(np.array([[[0.0, 0.0], [1000.0, 1002.0]]]), np.ones((1, 2)), p)
    assert np.allclose(enc[0, 0, :2], [-1, -1.002]) and np.allclose(enc[0, 1, :2], [1, 1.002])


def _walker(T: int, seed: int = 0) -> Keypoints2D:
    """A synthetic 2D person: an h36m17 stick figure swinging its limbs and drifting right."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0], [-15, 0], [-15, 45], [-15, 90], [15, 0], [15, 45], [15, 90], [0, -25], [0, -50],
                     [0, -60], [0, -75], [20, -50], [35, -25], [45, 0], [-20, -50], [-35, -25], [-45, 0]], float)
    t = np.arange(T)[:, None, None]
    xy = base[None] * 2 + np.array([300, 300]) + t * np.array([1.5, 0])
    swing = np.sin(t[..., 0] / 8.0)
    xy[:, [2, 3], 0] += 20 * swing
    xy[:, [5, 6], 0] -= 20 * swing
    xy += rng.normal(0, 0.5, xy.shape)
    return Keypoints2D(xy, np.ones((T, 17)), np.arange(T), H36M17, (640, 480), 30.0)


@pytest.fixture(scope="module")
def tiny_lifter():
    torch.manual_seed(0)
    model = DSTformer(preset("tiny", maxlen=27)).eval()
    return Lifter(model, "cpu", LiftOptions(window=27, stride=9, flip=True, batch_size=4))


def test_lift_is_deterministic_and_root_relative(tiny_lifter):
    kp = _walker(100)
    a = tiny_lifter.lift(kp)
    b = tiny_lifter.lift(kp)
    assert a.xyz.shape == (100, 17, 3) and np.array_equal(a.xyz, b.xyz)
    assert np.abs(a.xyz[:, 0]).max() < 1e-6
    assert a.units == "m" and a.frame == "camera" and np.array_equal(a.frame_indices, kp.frame_indices)


def test_clip_shorter_than_a_window_works(tiny_lifter):
    for T in (1, 5, 26):
        p = tiny_lifter.lift(_walker(T))
        assert p.xyz.shape == (T, 17, 3) and np.isfinite(p.xyz).all()


def test_flip_tta_makes_the_lifter_mirror_equivariant(tiny_lifter):
    """With flip TTA, lifting the mirrored 2D gives exactly the mirrored 3D (a property of the averaging)."""
    kp = _walker(40)
    W = kp.image_size[0]
    mirrored = Keypoints2D(flip_joints(kp.xy, H36M17, W / 2), kp.scores[:, H36M17.flip_permutation],
                           kp.frame_indices, H36M17, kp.image_size, kp.fps)
    a = tiny_lifter.lift(kp).xyz
    b = tiny_lifter.lift(mirrored).xyz
    assert np.allclose(flip_joints(a, H36M17, 0.0), b, atol=1e-5)


def test_batching_does_not_change_results():
    torch.manual_seed(0)
    model = DSTformer(preset("tiny", maxlen=27)).eval()
    people = [_walker(60, 1), _walker(35, 2), _walker(10, 3)]
    one = Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=1)).lift_many(people)
    many = Lifter(model, "cpu", LiftOptions(27, 9, True, batch_size=16)).lift_many(people)
    for a, b in zip(one, many):
        assert np.allclose(a.xyz, b.xyz, atol=1e-5)


def test_rescale_to_metric_recovers_reference_bone_lengths():
    rng = np.random.default_rng(0)
    parents = H36M17.parents
    dirs = rng.normal(size=(17, 3))
    xyz = np.zeros((1, 17, 3))
    for j in range(1, 17):
        d = dirs[j] / np.linalg.norm(dirs[j])
        xyz[0, j] = xyz[0, parents[j]] + 3.7 * H36M_BONE_LENGTHS_M[H36M17.joints[j]] * d
    out = rescale_to_metric(xyz)
    lengths = [np.linalg.norm(out[0, j] - out[0, parents[j]]) for j in range(1, 17)]
    ref = [H36M_BONE_LENGTHS_M[H36M17.joints[j]] for j in range(1, 17)]
    assert np.allclose(lengths, ref, rtol=1e-6)


def test_window_capped_at_maxlen_keeps_its_overlap():
    model = DSTformer(preset("tiny", maxlen=27)).eval()
    lifter = Lifter(model, "cpu", LiftOptions(window=243, stride=81))
    assert (lifter.options.window, lifter.options.stride) == (27, 9)
