"""The shipped lifter on real Human3.6M input: window blending leaves no step at window boundaries, the output is
metric and plausible, and the quick benchmark subset stays at its recorded figure.

Needs ../shared/data/h36m (present in CI); skipped visibly without it.
"""

from __future__ import annotations

import numpy as np
import pytest

from mbcli.inference.predictors import Lifter, LiftOptions
from mbcli.inference.windows import plan_windows
from mbcli.model import load_model
from mbcli.skeletons import H36M17
from mbcli.train.data import default_data_dir, load_h36m
from mbcli.types import Keypoints2D
from mbcli.weights import entry

pytestmark = pytest.mark.skipif(not (default_data_dir() / "h36m_3d.npz").is_file(),
                                reason="Human3.6M data (../shared/data/h36m) not present")


@pytest.fixture(scope="module")
def model():
    return load_model("lifter-default")


@pytest.fixture(scope="module")
def s9_walking():
    seqs = load_h36m(None, ("S9",), with_sh=True, cameras=(1,))
    return next(s for s in seqs if s.action == "Walking")


def _jumps(xyz: np.ndarray) -> np.ndarray:
    """Mean joint displacement between consecutive frames (T-1,), root-relative, metres."""
    return np.linalg.norm(np.diff(xyz, axis=0), axis=-1).mean(axis=-1)


def _boundary_steps(T: int, L: int, S: int) -> np.ndarray:
    """Indices t of jumps (t -> t+1) where some window starts at t+1 or ends after t."""
    idx = set()
    for w in plan_windows(T, L, S)[1:]:
        idx.add(w.start - 1)
    for w in plan_windows(T, L, S)[:-1]:
        idx.add(w.stop - 1)
    return np.array(sorted(i for i in idx if 0 <= i < T - 1))


@pytest.mark.slow
def test_no_step_at_window_boundaries(model, s9_walking):
    T = 400
    L = model.config.maxlen
    kp = Keypoints2D(s9_walking.xy_sh[:T], np.ones((T, 17)), np.arange(T), H36M17, s9_walking.image_size, 50.0)
    blended = Lifter(model, "cpu", LiftOptions(window=L, stride=max(1, L // 3), flip=True)).lift(kp).xyz
    chunks = Lifter(model, "cpu", LiftOptions(window=L, stride=L, flip=True)).lift(kp).xyz

    b = _boundary_steps(T, L, max(1, L // 3))
    j = _jumps(blended)
    inner = np.setdiff1d(np.arange(T - 1), b)
    assert j[b].mean() <= 1.25 * j[inner].mean(), (j[b].mean(), j[inner].mean())
    assert j[b].max() <= j[inner].max()
    # the test can fail: non-overlapping chunks (MotionBERT's demo) jump at their boundaries
    bc = _boundary_steps(T, L, L)
    jc = _jumps(chunks)
    assert jc[bc].mean() > 1.25 * np.delete(jc, bc).mean()


def test_output_is_metric_and_close_to_ground_truth(model, s9_walking):
    T = 300
    kp = Keypoints2D(s9_walking.xy_gt[:T], np.ones((T, 17)), np.arange(T), H36M17, s9_walking.image_size, 50.0)
    pred = Lifter(model, "cpu", LiftOptions(window=model.config.maxlen, stride=9)).lift(kp).xyz
    gt = s9_walking.xyz_camera[:T] - s9_walking.xyz_camera[:T, :1]
    err_mm = np.linalg.norm(pred - gt, axis=-1).mean() * 1000
    limit = float(entry("lifter-default").get("test_walking_gt_mpjpe_limit_mm", 120.0))
    assert err_mm < limit, err_mm
    # metres: the thigh is about 0.45 m long
    thigh = np.linalg.norm(pred[:, 2] - pred[:, 1], axis=-1)
    assert 0.3 < np.median(thigh) < 0.6


@pytest.mark.slow
def test_quick_benchmark_matches_the_manifest(model):
    """CI's regression check: the shipped lifter's quick-subset figure (SH input) is the one recorded."""
    from mbcli.train.evaluate import QUICK_FRAMES, evaluate

    L = model.config.maxlen
    res = evaluate(Lifter(model, "cpu", LiftOptions(window=L, stride=max(1, L // 3), flip=True, batch_size=16)),
                   "sh", quick=True)
    e = entry("lifter-default")
    assert res.sequences == 59 and res.frames == 59 * QUICK_FRAMES
    assert abs(res.protocol1_mpjpe_mm - float(e["eval_quick_sh_mpjpe_mm"])) < 0.3, res.protocol1_mpjpe_mm
    assert abs(res.protocol2_pmpjpe_mm - float(e["eval_quick_sh_pmpjpe_mm"])) < 0.3, res.protocol2_pmpjpe_mm
