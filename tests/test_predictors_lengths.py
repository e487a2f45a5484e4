"""Windows run at their own length: a clip shorter than the window is not stretched to it, windows of different
lengths go in separate batches, and grouping them changes no result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbcli.inference.predictors import MIN_OWN_LENGTH, Lifter, LiftOptions, _batches
from mbcli.inference.windows import plan_windows
from mbcli.model import DSTformer, preset
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D


def _kp(T: int, seed: int = 0) -> Keypoints2D:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(100, 400, (17, 2)) + rng.normal(0, 5, (T, 17, 2)).cumsum(0)
    return Keypoints2D(xy, np.ones((T, 17)), np.arange(T), H36M17, (640, 480), 30.0)


@pytest.fixture(scope="module")
def model() -> DSTformer:
    torch.manual_seed(0)
    return DSTformer(preset("tiny", maxlen=27)).eval()


def _record_lengths(model: DSTformer) -> tuple[list[tuple[int, ...]], torch.utils.hooks.RemovableHandle]:
    shapes: list[tuple[int, ...]] = []
    handle = model.register_forward_hook(lambda m, args, out: shapes.append(tuple(args[0].shape)))
    return shapes, handle


def test_a_short_clip_runs_at_its_own_length(model):
    lifter = Lifter(model, "cpu", LiftOptions(27, 18, True, batch_size=8))
    shapes, handle = _record_lengths(model)
    try:
        out = lifter.lift(_kp(15))
    finally:
        handle.remove()
    assert shapes == [(2, 15, 17, 3)]  # one window and its mirror, 15 frames: not stretched to 27, not padded
    assert out.xyz.shape == (15, 17, 3) and np.isfinite(out.xyz).all()


def test_windows_of_different_lengths_are_batched_apart_without_changing_results(model):
    people = [_kp(60, 1), _kp(10, 2), _kp(40, 3), _kp(10, 4), _kp(5, 5)]
    lifter = Lifter(model, "cpu", LiftOptions(27, 18, False, batch_size=3))
    shapes, handle = _record_lengths(model)
    try:
        together = lifter.lift_many(people)
    finally:
        handle.remove()
    # 60 frames: 3 windows, 40 frames: 2 windows of 27; then the 10-frame clips together, then the 5-frame one
    assert shapes == [(3, 27, 17, 3), (2, 27, 17, 3), (2, 10, 17, 3), (1, 5, 17, 3)]
    for kp, pose in zip(people, together):
        assert np.allclose(lifter.lift(kp).xyz, pose.xyz, atol=1e-5)


def test_batches_keep_each_persons_windows_in_order():
    plans = [plan_windows(T, 27, 18) for T in (100, 7, 50, 7, 3)]
    batches = _batches(plans, 4, 27)
    seen: dict[int, list[int]] = {}
    for T, chunk in batches:
        assert 1 <= len(chunk) <= 4
        assert all(plans[pi][wi].length == T for pi, wi in chunk)
        for pi, wi in chunk:
            seen.setdefault(pi, []).append(wi)
    assert seen == {pi: list(range(len(p))) for pi, p in enumerate(plans)}
    assert [(T, len(c)) for T, c in batches] == [(27, 4), (27, 4), (27, 1), (7, 2), (3, 1)]  # 6 + 3 full windows


def test_clips_of_one_or_two_frames_are_stretched_to_the_window(model):
    """Single frames and pairs were measured less accurate at their own length (predictors.py), so they still run
    stretched to the window, in a batch of their own; the output has the clip's frames."""
    assert MIN_OWN_LENGTH == 3
    lifter = Lifter(model, "cpu", LiftOptions(27, 18, False, batch_size=8))
    shapes, handle = _record_lengths(model)
    try:
        poses = lifter.lift_many([_kp(1, 1), _kp(2, 2), _kp(3, 3), _kp(1, 4)])
    finally:
        handle.remove()
    assert shapes == [(3, 27, 17, 3), (1, 3, 17, 3)]
    assert [p.xyz.shape[0] for p in poses] == [1, 2, 3, 1]
