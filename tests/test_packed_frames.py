"""types.PackedFrames, a whole video's detections in one array per field: it gives back every frame as it was
packed (across block edges, frames without people, with or without appearance), refuses what it cannot hold, and
the tracker, the choice of people and the gap filling give the same tracks and keypoints from it as from a list."""

from __future__ import annotations

import numpy as np
import pytest
from test_track import _scene

from mbcli.track import select_tracks, track_people, track_to_keypoints
from mbcli.types import FramePoses, PackedFrames


def _frames(counts: list[int], looks: bool = True) -> list[FramePoses]:
    rng = np.random.default_rng(0)
    return [FramePoses(10 + 3 * i, rng.uniform(0, 99, (n, 4)), rng.random(n), rng.uniform(0, 99, (n, 17, 2)),
                       rng.random((n, 17)), "coco17", rng.random((n, 54)) if looks else None)
            for i, n in enumerate(counts)]


def _same(a: FramePoses, b: FramePoses) -> None:
    assert a.frame_index == b.frame_index and a.skeleton == b.skeleton
    for name in ("boxes_xyxy", "box_scores", "keypoints_xy", "keypoint_scores"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    if a.num_people:
        assert (a.appearance is None) == (b.appearance is None)
        assert a.appearance is None or np.array_equal(a.appearance, b.appearance)


@pytest.mark.parametrize("looks", [True, False])
def test_frames_come_back_as_packed(looks):
    frames = _frames([2, 0, 1, 3, 0, 0, 2], looks)
    packed = PackedFrames.pack(iter(frames), block=3)
    assert len(packed) == 7 and packed.num_people == 8 and (packed.appearance is None) == (not looks)
    for a, b in zip(frames, packed, strict=True):
        _same(a, b)
    _same(frames[-1], packed[-1])
    by_index = packed.by_index()
    assert list(by_index) == [f.frame_index for f in frames] and len(by_index) == 7
    _same(frames[3], by_index[19])
    with pytest.raises(KeyError):
        by_index[11]
    with pytest.raises(IndexError):
        packed[7]
    again = PackedFrames.from_arrays(packed.arrays(), "coco17")
    _same(frames[6], again[6])
    assert packed.keypoints_xy.dtype == np.float32 and packed.appearance is None or packed.appearance.dtype == np.float32


def test_a_frame_without_people_may_lack_appearance():
    frames = _frames([0, 2, 1])
    frames[0] = FramePoses.empty(frames[0].frame_index, "coco17")  # appearance None
    packed = PackedFrames.pack(frames)
    assert packed.appearance.shape == (3, 54) and packed[0].num_people == 0
    _same(frames[1], packed[1])


def test_what_cannot_be_packed_is_refused():
    mixed = _frames([1, 1])[:1] + _frames([1], looks=False)
    with pytest.raises(ValueError, match="appearance"):
        PackedFrames.pack(mixed)
    with pytest.raises(ValueError, match="no frames"):
        PackedFrames.pack([])
    f = _frames([1, 1])
    with pytest.raises(ValueError, match="increase"):
        PackedFrames.pack([f[1], f[0]])


def test_tracks_and_keypoints_from_packed_frames_are_those_of_the_list():
    spans = {"A": (range(0, 60), 100, 4, 200, "red"), "A2": (range(60, 120), 1100, -4, 200, "red"),
             "B": (range(0, 120), 600, 0, 180, "blue"), "C": (range(20, 50), 300, 2, 190, "green")}
    frames, _ = _scene(spans)
    packed = PackedFrames.pack(frames, block=7)
    want, got = track_people(frames, fps=30), track_people(packed, fps=30)
    assert len(want) == 3
    for a, b in zip(want, got, strict=True):
        assert a.track_id == b.track_id
        assert np.array_equal(a.frame_indices, b.frame_indices) and np.array_equal(a.rows, b.rows)
    assert ([t.track_id for t in select_tracks(want, frames, "all", fps=30)]
            == [t.track_id for t in select_tracks(got, packed, "all", fps=30)] == [0, 1, 2])
    for t in want:
        k1, k2 = track_to_keypoints(t, frames, (1280, 720), 30), track_to_keypoints(t, packed, (1280, 720), 30)
        assert np.array_equal(k1.xy, k2.xy) and np.array_equal(k1.scores, k2.scores)
