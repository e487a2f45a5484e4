"""mbcli.keypoints2d: joints that jump onto something else or stretch a bone get score 0; normal motion keeps all."""

from __future__ import annotations

import numpy as np
import pytest

from mbcli.keypoints2d import (
    flickers,
    person_size,
    reject_glitches,
    reject_on_others,
    reject_outliers,
    temporal_residual,
    typical_bones,
)
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D

FPS = 30.0
T = 60

# A standing h36m17 figure, px relative to the pelvis (x right, y down): torso (hips to shoulders) 100 px.
_STAND = {
    "pelvis": (0, 0), "right_hip": (-20, 0), "right_knee": (-22, 90), "right_ankle": (-24, 180),
    "left_hip": (20, 0), "left_knee": (22, 90), "left_ankle": (24, 180), "spine": (0, -50), "thorax": (0, -100),
    "neck_nose": (0, -125), "head_top": (0, -150), "left_shoulder": (35, -100), "left_elbow": (40, -45),
    "left_wrist": (42, 5), "right_shoulder": (-35, -100), "right_elbow": (-40, -45), "right_wrist": (-42, 5),
}  # fmt: skip
_BASE = np.array([_STAND[n] for n in H36M17.joints], dtype=np.float64)  # (17,2)


def _walker(speed_px: float = 0.0, swing: float = 0.0, seed: int = 0) -> np.ndarray:
    """(T,17,2) a figure moving right by ``speed_px`` per frame, arms and legs swinging by ``swing`` px (1 Hz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    xy = np.repeat(_BASE[None], T, axis=0) + np.array([200.0, 300.0])
    xy[:, :, 0] += speed_px * t[:, None]
    phase = np.sin(2 * np.pi * t / FPS)  # (T,)
    for name, sign in (("left_wrist", 1), ("right_wrist", -1), ("left_ankle", -1), ("right_ankle", 1)):
        xy[:, H36M17.idx(name), 0] += sign * swing * phase
    for name, sign in (("left_elbow", 1), ("right_elbow", -1), ("left_knee", -1), ("right_knee", 1)):
        xy[:, H36M17.idx(name), 0] += sign * swing / 2 * phase
    return xy + rng.normal(0.0, 1.0, xy.shape)


def _kp(xy: np.ndarray) -> Keypoints2D:
    scores = np.full(xy.shape[:2], 0.9, dtype=np.float32)
    return Keypoints2D(xy, scores, np.arange(len(xy)), H36M17, (1920, 1080), FPS)


def test_person_size_is_the_torso_length():
    assert person_size(_kp(_walker())) == pytest.approx(100.0, abs=2.0)


def test_head_jump_run_is_rejected_there_and_nowhere_else():
    xy = _walker(speed_px=2.0, swing=20.0)
    head = [H36M17.idx("neck_nose"), H36M17.idx("head_top")]
    xy[20:28, head] += np.array([200.0, 0.0])  # 8 frames on something 200 px to the right, then back
    kp = _kp(xy)
    out, bad = reject_outliers(kp)
    expected = np.zeros(bad.shape, dtype=bool)
    expected[20:28, head[0]] = expected[20:28, head[1]] = True
    np.testing.assert_array_equal(bad, expected)
    assert np.all(out.scores[bad] == 0.0)
    np.testing.assert_array_equal(out.scores[~bad], kp.scores[~bad])
    np.testing.assert_array_equal(out.xy, kp.xy)  # xy untouched


def test_fast_walker_loses_nothing():
    kp = _kp(_walker(speed_px=25.0, swing=40.0))  # 25 px/frame = 7.5 torso lengths per second
    out, bad = reject_outliers(kp)
    assert not bad.any()
    np.testing.assert_array_equal(out.scores, kp.scores)


def test_whole_body_jump_loses_nothing():
    xy = _walker(speed_px=2.0)
    xy[30:] += np.array([150.0, -40.0])  # the whole person jumps (a camera cut, a tracker hop): all joints agree
    _, bad = reject_outliers(_kp(xy))
    assert not bad.any()


def test_overlong_bone_rejects_its_misplaced_end():
    xy = _walker(speed_px=2.0)
    w = H36M17.idx("left_wrist")
    xy[40, w] += np.array([120.0, 60.0])  # forearm ~2.5x its usual 50 px
    _, bad = reject_outliers(_kp(xy), jump=np.inf)  # the bone rule alone
    assert bad[40, w]
    assert bad.sum() == 1


def test_unseen_joints_are_not_reported():
    xy = _walker()
    xy[20:28, H36M17.idx("head_top")] += 200.0
    kp = _kp(xy)
    scores = kp.scores.copy()
    scores[:, H36M17.idx("head_top")] = 0.0
    _, bad = reject_outliers(Keypoints2D(kp.xy, scores, kp.frame_indices, H36M17, kp.image_size, FPS))
    assert not bad.any()


def test_joint_drawn_on_another_person_is_rejected():
    xy = _walker(speed_px=1.0)
    other = _walker(seed=1) + np.array([150.0, 20.0])  # a second person standing 150 px to the right
    knee = H36M17.idx("left_knee")
    xy[30:36, knee] = other[30:36, H36M17.idx("spine")]  # the hidden knee is drawn on the other one's belly
    out, bad = reject_on_others(_kp(xy), [_kp(other)])
    expected = np.zeros(bad.shape, dtype=bool)
    expected[30:36, knee] = True
    np.testing.assert_array_equal(bad, expected)
    assert np.all(out.scores[bad] == 0.0)


def test_people_side_by_side_lose_nothing():
    a = _walker(speed_px=3.0, swing=30.0)
    b = _walker(speed_px=3.0, swing=30.0, seed=2) + np.array([60.0, 0.0])  # overlapping boxes, nothing misplaced
    _, bad = reject_on_others(_kp(a), [_kp(b)])
    assert not bad.any()


def test_head_flickering_every_other_frame_loses_the_off_body_frames():
    xy = _walker(speed_px=2.0, swing=20.0)
    head = [H36M17.idx("neck_nose"), H36M17.idx("head_top")]
    xy[20:32:2, head] += np.array([-40.0, -30.0])  # every other frame of 20-31 the head is read 50 px off (A,B,A,B)
    _, bad = reject_outliers(_kp(xy), jump=np.inf, bone_ratio=np.inf)  # the flicker rule alone
    expected = np.zeros(bad.shape, dtype=bool)
    expected[20:32:2, head[0]] = expected[20:32:2, head[1]] = True
    np.testing.assert_array_equal(bad, expected)


def test_single_fast_kick_is_not_a_flicker():
    xy = _walker(speed_px=2.0)
    t = np.arange(T)
    kick = 120.0 * np.exp(-(((t - 30) / 1.2) ** 2))  # ankle out and back within ~5 frames, 120 px at the apex
    xy[:, H36M17.idx("right_ankle"), 0] -= kick
    xy[:, H36M17.idx("right_knee"), 0] -= kick / 2
    kp = _kp(xy)
    assert not flickers(kp, person_size(kp), 0.15, 0.1, 15).any()


def test_typical_bones_pool_left_and_right():
    xy = _walker()
    xy[:, H36M17.idx("left_wrist"), 1] += 30.0  # left forearm 80 px, right 50 px
    typical = typical_bones(_kp(xy))
    lw, rw = H36M17.idx("left_wrist"), H36M17.idx("right_wrist")
    assert typical[lw] == typical[rw]
    assert 50.0 < typical[lw] < 80.0
    assert np.isnan(typical[H36M17.idx("pelvis")])


def test_hidden_wrist_held_on_the_other_person_for_a_long_run_is_rejected():
    a = _walker(speed_px=0.5)
    b = _walker(seed=3) + np.array([40.0, -120.0])  # someone behind, up and to the right, chest about a's head height
    w = H36M17.idx("right_wrist")
    a[10:40, w] = b[10:40, H36M17.idx("spine")] + np.array([5.0, 0.0])  # 30 frames (1 s) on their belly
    out, bad = reject_on_others(_kp(a), [_kp(b)])
    expected = np.zeros(bad.shape, dtype=bool)
    expected[10:40, w] = True
    np.testing.assert_array_equal(bad, expected)
    assert np.all(out.scores[10:40, w] == 0.0)


def test_hand_resting_on_the_other_person_stays():
    a = _walker(speed_px=0.5)
    b = _walker(seed=4) + np.array([75.0, 0.0])  # overlapping: a's left wrist rests on b's right hip
    lw = H36M17.idx("left_wrist")
    a[:, lw] = b[:, H36M17.idx("right_hip")] + np.array([0.0, -5.0])  # the forearm stays about its usual length
    _, bad = reject_on_others(_kp(a), [_kp(b)])
    assert not bad.any()


def test_three_squashed_frames_lose_all_their_joints():
    xy = _walker(speed_px=2.0, swing=20.0)
    pelvis = xy[:, H36M17.idx("pelvis")].copy()
    xy[40:43] = pelvis[40:43, None] + (xy[40:43] - pelvis[40:43, None]) * np.array([1.0, 0.4])  # body squashed
    xy[40:43, :, 1] -= 60.0  # and drawn 60 px up: hips at the chest, legs at the torso
    kp = _kp(xy)
    out, bad = reject_glitches(kp)
    expected = np.zeros(bad.shape, dtype=bool)
    expected[40:43] = True
    np.testing.assert_array_equal(bad, expected)
    assert np.all(out.scores[40:43] == 0.0)
    np.testing.assert_array_equal(out.xy, kp.xy)


def test_flip_turning_fast_and_tucking_smoothly_keeps_all():
    xy = _walker(speed_px=4.0)
    t = np.arange(T)
    turn = np.clip((t - 20) / 20, 0.0, 1.0) * 2 * np.pi  # a full turn in 20 frames (18 degrees a frame) from frame 20
    tuck = np.sin(np.clip((t - 20) / 20, 0.0, 1.0) * np.pi)  # knees up to the chest and back out over the turn
    legs = [H36M17.idx(n) for n in ("right_knee", "right_ankle", "left_knee", "left_ankle")]
    xy[:, legs, 1] -= 150.0 * tuck[:, None] * np.array([0.6, 1.0, 0.6, 1.0])
    centre = xy[:, H36M17.idx("spine")][:, None]
    c, s = np.cos(turn)[:, None], np.sin(turn)[:, None]
    d = xy - centre
    xy = centre + np.stack([c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]], axis=-1)
    out, bad = reject_glitches(_kp(xy))
    assert not bad.any()


def test_one_wrong_joint_does_not_reject_its_frame():
    xy = _walker(speed_px=2.0, swing=20.0)
    xy[30, H36M17.idx("left_wrist")] += np.array([150.0, -80.0])
    _, bad = reject_glitches(_kp(xy))
    assert not bad.any()


def test_long_change_of_shape_is_not_a_glitch():
    xy = _walker(speed_px=2.0)
    arms = [H36M17.idx(n) for n in ("left_elbow", "left_wrist", "right_elbow", "right_wrist")]
    xy[30:, arms, 1] -= 150.0  # the arms go up in one frame and stay up: abrupt, but the body does not come back
    _, bad = reject_glitches(_kp(xy))
    assert not bad.any()


def test_quick_squat_and_back_keeps_all():
    xy = _walker(speed_px=2.0)
    t = np.arange(T)
    squat = 0.5 * np.exp(-0.5 * ((t - 30) / 1.5) ** 2)  # half height at frame 30, down and up within ~0.3 s
    pelvis = xy[:, H36M17.idx("pelvis")][:, None]
    xy = pelvis + (xy - pelvis) * np.stack([np.ones(T), 1.0 - squat], axis=-1)[:, None, :]
    _, bad = reject_glitches(_kp(xy))
    assert not bad.any()  # smooth: frames 29 and 31 are on the way (the same 3 frames squashed at once are a glitch)


def _window_median_reference(rel: np.ndarray, half: int) -> np.ndarray:
    """The straightforward window median: every frame's window at once (memory grows with the track)."""
    pad = np.pad(rel, ((half, half), (0, 0), (0, 0)), mode="reflect", reflect_type="odd")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1, axis=0)[: len(rel)]  # (T,J,2,W)
    out = np.full(win.shape[:-1], np.nan)
    ok = np.isfinite(win).any(-1)
    out[ok] = np.nanmedian(win[ok], axis=-1)
    return out


def _messy_pair(frames: int, seed: int) -> tuple[Keypoints2D, Keypoints2D]:
    """Two overlapping people with unseen stretches, random unseen joints, jumps and a squashed frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    a = np.repeat(_BASE[None], frames, 0) + np.array([200.0, 300.0]) + rng.normal(0.0, 3.0, (frames, 17, 2))
    a[:, :, 0] += 40 * np.sin(t / 7)[:, None]
    a[rng.random((frames, 17)) < 0.06] += rng.normal(0.0, 80.0, 2)  # joints off somewhere
    a[frames // 2, :, 1] *= 0.5  # a squashed frame
    b = a * 0.4 + (np.repeat(_BASE[None], frames, 0) + np.array([260.0, 300.0])) * 0.6
    scores = np.full((frames, 17), 0.9, dtype=np.float32)
    scores[rng.random((frames, 17)) < 0.1] = 0.0
    scores[frames // 3: frames // 3 + 6] = 0.0  # a gap of 6 unseen frames
    ka = Keypoints2D(a, scores, t, H36M17, (640, 360), FPS)
    kb = Keypoints2D(b, np.full((frames, 17), 0.9, dtype=np.float32), t + 2, H36M17, (640, 360), FPS)
    return ka, kb


def _all_rules(a: Keypoints2D, b: Keypoints2D) -> list[np.ndarray]:
    return [reject_outliers(a)[1], reject_on_others(a, [b])[1], reject_glitches(a, jump=0.05)[1],
            temporal_residual(a, 4)]


@pytest.mark.parametrize("frames", [1, 2, 9, 20, 61, 97])
@pytest.mark.parametrize("block", [1, 3, 8, 13])
def test_blockwise_cleaning_equals_the_whole_track_bit_for_bit(monkeypatch, frames, block):
    """Blocks of a few frames (more than 2 blocks; the gap at frames//3 straddles a block edge for some sizes, tracks
    shorter than a window) give exactly what one block of the whole track gives (today's computation)."""
    import mbcli.keypoints2d as k2

    a, b = _messy_pair(frames, seed=frames)
    rel = k2._relative(a)
    monkeypatch.setattr(k2, "_BLOCK", 10**9)
    whole = _all_rules(a, b)
    monkeypatch.setattr(k2, "_BLOCK", block)
    blocked = np.concatenate([k2._median_of(rel[a:b], a, lo, hi, 4) for lo, hi, a, b in k2._blocks(len(rel), 4)])
    np.testing.assert_array_equal(blocked, _window_median_reference(rel, 4))
    for got, want in zip(_all_rules(a, b), whole, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    if frames == 97:  # the rules do find something here, so the comparison means something
        assert all(w.any() for w in whole[:3])


def test_cleaning_memory_hardly_grows_with_the_track(monkeypatch):
    """Peak heap (numpy's arrays, tracemalloc) of the three rules on a 1000- and a 3000-frame pair of people, in
    blocks of 256 frames: what the longer track adds is its (T,J) results, not per-frame windows (the whole-track
    window medians and distances to bodies cost about 57 KB a frame)."""
    import tracemalloc

    import mbcli.keypoints2d as k2
    from mbcli.bench.memory import synthetic_people

    monkeypatch.setattr(k2, "_BLOCK", 256)
    peaks = []
    for frames in (1000, 3000):
        a, b = synthetic_people(frames, 2)
        tracemalloc.start()
        try:
            total = 0
            for rule, others in ((reject_outliers, ()), (reject_on_others, ([b],)), (reject_glitches, ())):
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                rule(a, *others)
                total += tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        peaks.append(total)
    per_frame = (peaks[1] - peaks[0]) / 2000
    assert per_frame < 2500, per_frame  # bytes; measured about 740
