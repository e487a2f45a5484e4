"""mbcli.appearance: colour histograms (known bins), per-person descriptors of drawn figures, the distance."""

from __future__ import annotations

import numpy as np
import pytest

from mbcli.appearance import (
    DIM,
    HUE_BINS,
    PART_DIM,
    SAT_BINS,
    appearance_distance,
    colour_histogram,
    describe_people,
    describe_person,
    mean_descriptor,
)
from mbcli.skeletons import COCO17, Skeleton
from mbcli.types import FramePoses

GREY0 = HUE_BINS * SAT_BINS  # index of the dark grey bin


def _pixels(rgb, n=10) -> np.ndarray:
    return np.tile(np.asarray(rgb, dtype=np.uint8), (n, 1))


def test_histogram_known_bins():
    # pure red (hue 0) sits between the centres of hue bins 11 and 0 (15 and 345 degrees), fully saturated
    h = colour_histogram(_pixels([255, 0, 0]))
    want = np.zeros(PART_DIM)
    want[[0 * SAT_BINS + 1, 11 * SAT_BINS + 1]] = 0.5
    np.testing.assert_allclose(h, want, atol=1e-12)
    # pure green (120 degrees) likewise between bins 3 and 4
    h = colour_histogram(_pixels([0, 255, 0]))
    assert h[3 * SAT_BINS + 1] == pytest.approx(0.5) and h[4 * SAT_BINS + 1] == pytest.approx(0.5)
    # black, white and mid grey go to the grey bins by value
    assert colour_histogram(_pixels([0, 0, 0]))[GREY0] == pytest.approx(1.0)
    assert colour_histogram(_pixels([255, 255, 255]))[GREY0 + 2] == pytest.approx(1.0)
    mid = colour_histogram(_pixels([128, 128, 128]))
    assert mid[GREY0 + 1] == pytest.approx(1.0, abs=0.01) and mid.sum() == pytest.approx(1.0)
    # a very dark red is too dark for its hue to count: grey
    assert colour_histogram(_pixels([20, 0, 0]))[GREY0] == pytest.approx(1.0)
    assert np.isnan(colour_histogram(np.zeros((0, 3), np.uint8))).all()


def test_histogram_ignores_brightness_of_colours():
    shirt = np.array([[200, 40, 60], [180, 50, 50], [150, 30, 90]], dtype=np.float64)
    bright = colour_histogram(shirt.astype(np.uint8))
    dim = colour_histogram((shirt * 0.5).astype(np.uint8))
    assert appearance_distance(np.r_[bright, bright], np.r_[dim, dim]) < 0.05


# A standing COCO-17 figure in a unit box (u right, v down); shoulders 5/6, hips 11/12, knees 13/14.
_TEMPLATE = np.array(
    [[0.5, 0.05], [0.55, 0.03], [0.45, 0.03], [0.6, 0.05], [0.4, 0.05], [0.75, 0.2], [0.25, 0.2], [0.85, 0.4],
     [0.15, 0.4], [0.9, 0.55], [0.1, 0.55], [0.65, 0.55], [0.35, 0.55], [0.65, 0.78], [0.35, 0.78], [0.65, 1.0],
     [0.35, 1.0]]
)  # fmt: skip


def _figure(img: np.ndarray, x0: int, shirt, trousers, h: int = 200, y0: int = 20) -> np.ndarray:
    """Paint a figure (torso box in ``shirt``, legs box in ``trousers``) into img; its (17,2) keypoints."""
    kp = np.stack([x0 + _TEMPLATE[:, 0] * 0.4 * h, y0 + _TEMPLATE[:, 1] * h], axis=-1)
    l, r = int(kp[6, 0]), int(kp[5, 0])  # the right shoulder is on the image's left
    img[int(kp[5, 1]):int(kp[11, 1]), l:r + 1] = shirt
    img[int(kp[11, 1]):int(kp[13, 1]) + 5, int(kp[12, 0]) - 8:int(kp[11, 0]) + 9] = trousers
    return kp


def _scene(brightness: float = 1.0):
    img = np.full((260, 400, 3), 90, dtype=np.uint8)
    a = _figure(img, 20, (200, 30, 30), (40, 40, 160))  # red shirt, blue trousers
    b = _figure(img, 220, (30, 150, 40), (40, 40, 160))  # green shirt, the same trousers
    img = np.clip(img.astype(np.float64) * brightness, 0, 255).astype(np.uint8)
    return img, np.stack([a, b]), np.full((2, 17), 0.9)


def test_two_shirts_are_far_apart_and_one_shirt_survives_a_change_of_light():
    img, kp, sc = _scene()
    d = describe_people(img, kp, sc, COCO17)
    assert d.shape == (2, DIM) and d.dtype == np.float32 and np.isfinite(d).all()
    np.testing.assert_allclose(d[:, :PART_DIM].sum(1), 1.0, rtol=1e-5)
    assert appearance_distance(d[0], d[1]) > 0.5
    # legs alone: the same trousers
    legs = np.r_[np.full(PART_DIM, np.nan), np.ones(PART_DIM)]
    assert appearance_distance(d[0] * legs, d[1] * legs) < 0.02
    dark = describe_people(_scene(0.55)[0], kp, sc, COCO17)
    assert appearance_distance(d[0], dark[0]) < 0.05 and appearance_distance(d[1], dark[1]) < 0.05
    assert appearance_distance(d[0], dark[1]) > 0.5


def test_parts_not_seen_are_nan():
    img, kp, sc = _scene()
    sc = sc.copy()
    sc[0, 13:15] = 0.1  # person 0's knees unsure: no legs
    sc[1, 11] = 0.1  # person 1's left hip unsure: no torso; its right leg still counts
    d = describe_people(img, kp, sc, COCO17)
    assert np.isfinite(d[0, :PART_DIM]).all() and np.isnan(d[0, PART_DIM:]).all()
    assert np.isnan(d[1, :PART_DIM]).all() and np.isfinite(d[1, PART_DIM:]).all()
    assert np.isnan(appearance_distance(np.full(DIM, np.nan), d[0]))  # nothing to compare
    # a person mostly outside the frame, and a skeleton without hips
    off = kp[0] + np.array([1000.0, 0.0])
    assert np.isnan(describe_person(img, off, sc[0], COCO17)).all()
    tiny = Skeleton("tiny", ("nose", "neck"), (-1, 0))
    assert np.isnan(describe_person(img, kp[0, :2], sc[0, :2], tiny)).all()
    assert describe_people(img, np.zeros((0, 17, 2)), np.zeros((0, 17)), COCO17).shape == (0, DIM)


def test_mean_descriptor_averages_each_part_over_frames_that_see_it():
    a = np.r_[np.eye(PART_DIM)[0], np.eye(PART_DIM)[1]]
    b = np.r_[np.eye(PART_DIM)[2], np.full(PART_DIM, np.nan)]
    m = mean_descriptor(np.stack([a, b]))
    np.testing.assert_allclose(m[:PART_DIM], (np.eye(PART_DIM)[0] + np.eye(PART_DIM)[2]) / 2)
    np.testing.assert_allclose(m[PART_DIM:], np.eye(PART_DIM)[1])
    assert appearance_distance(a, a) == pytest.approx(0.0)
    assert appearance_distance(a, np.r_[np.eye(PART_DIM)[5], np.eye(PART_DIM)[6]]) == pytest.approx(1.0)


def test_frameposes_checks_appearance_rows():
    box = np.array([[0, 0, 10, 20]])
    kp, ks = np.zeros((1, 17, 2)), np.ones((1, 17))
    fp = FramePoses(0, box, [0.9], kp, ks, COCO17, np.zeros((1, DIM)))
    assert fp.appearance is not None and fp.appearance.dtype == np.float32
    assert FramePoses(0, box, [0.9], kp, ks, COCO17).appearance is None
    with pytest.raises(ValueError, match="appearance"):
        FramePoses(0, box, [0.9], kp, ks, COCO17, np.zeros((2, DIM)))
