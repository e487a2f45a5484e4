"""mbcli.track: association across frames, occlusion, births, selection, gap filling, given ids, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mbcli.appearance import colour_histogram
from mbcli.detect.files import read_keypoint_file
from mbcli.errors import ConfigError, NoPersonFound
from mbcli.geometry import box_iou
from mbcli.skeletons import COCO17
from mbcli.track import Tracker, select_tracks, stitch_tracks, track_people, track_to_keypoints
from mbcli.types import FramePoses, Track

ASSETS = Path(__file__).parent / "assets" / "keypoints"

# A standing COCO-17 figure in a unit box (u right, v down).
_TEMPLATE = np.array(
    [[0.5, 0.05], [0.55, 0.03], [0.45, 0.03], [0.6, 0.05], [0.4, 0.05], [0.75, 0.2], [0.25, 0.2], [0.85, 0.4],
     [0.15, 0.4], [0.9, 0.55], [0.1, 0.55], [0.65, 0.55], [0.35, 0.55], [0.65, 0.78], [0.35, 0.78], [0.65, 1.0],
     [0.35, 1.0]]
)  # fmt: skip


def person(cx: float, cy: float, h: float, rng=None, jitter=0.0, arm=0.0):
    """(17,2) keypoints of a figure centred at (cx, cy), h px tall (width 0.4 h); ``arm`` raises the wrists."""
    kp = _TEMPLATE.copy()
    kp[[9, 10], 1] -= arm
    xy = np.stack([cx + (kp[:, 0] - 0.5) * 0.4 * h, cy + (kp[:, 1] - 0.5) * h], axis=-1)
    if rng is not None and jitter:
        xy = xy + rng.normal(0, jitter, xy.shape)
    return xy


def frame(f: int, people: list[np.ndarray], scores=None, box_scores=None, order=None) -> FramePoses:
    if not people:
        return FramePoses.empty(f, COCO17)
    xy = np.stack(people)
    if order is not None:
        xy = xy[order]
    N = len(xy)
    sc = np.full((N, 17), 0.9) if scores is None else np.asarray(scores)
    boxes = np.concatenate([xy.min(1), xy.max(1)], axis=1)
    bs = np.full(N, 0.9) if box_scores is None else np.asarray(box_scores)
    return FramePoses(f, boxes, bs, xy, sc, COCO17)


def owner(track: Track, frames: list[FramePoses], truth: dict[int, dict[int, np.ndarray]]) -> dict[int, str]:
    """For each observed frame of ``track``, which true person ('A', 'B', ...) its row belongs to."""
    out = {}
    for f, r in zip(track.frame_indices.tolist(), track.rows.tolist()):
        if r < 0:
            continue
        kp = frames[f].keypoints_xy[r]
        out[f] = min(truth[f], key=lambda name: np.abs(truth[f][name] - kp).max())
    return out


def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0, 0.0]])


@pytest.mark.parametrize("arm", [0.3, 0.0])  # with different poses, and with identical ones (motion alone)
def test_crossing_people_keep_ids_through_occlusion(arm):
    rng = np.random.default_rng(0)
    frames, truth = [], {}
    for f in range(40):
        a = person(100 + 10 * f, 300, 200, rng, 1.5)
        b = person(500 - 10 * f, 300, 200, rng, 1.5, arm=arm)
        visible = {"A": a} if 17 <= f <= 23 else {"A": a, "B": b}  # B walks behind A
        truth[f] = visible
        names = list(visible)
        order = rng.permutation(len(names))  # detection order must not matter
        frames.append(frame(f, [visible[names[i]] for i in order]))
    tracks = track_people(frames, fps=30)
    assert [t.track_id for t in tracks] == [0, 1]
    ta, tb = tracks
    assert set(owner(ta, frames, truth).values()) == {"A"} and len(owner(ta, frames, truth)) == 40
    assert set(owner(tb, frames, truth).values()) == {"B"}
    assert tb.frame_indices.tolist() == list(range(40))
    assert np.flatnonzero(tb.rows < 0).tolist() == list(range(17, 24))


def test_crossing_without_occlusion_follows_motion():
    frames, truth = [], {}
    for f in range(40):  # identical figures whose boxes coincide exactly at frame 20
        vis = {"A": person(100 + 10 * f, 300, 200), "B": person(500 - 10 * f, 300, 200)}
        truth[f] = vis
        frames.append(frame(f, list(vis.values())))
    ta, tb = track_people(frames, fps=30)
    assert {k: v for k, v in owner(ta, frames, truth).items() if k != 20} == {f: "A" for f in range(40) if f != 20}
    assert {k: v for k, v in owner(tb, frames, truth).items() if k != 20} == {f: "B" for f in range(40) if f != 20}


def test_leaving_and_entering_people_get_new_ids():
    frames, truth = [], {}
    for f in range(100):
        vis = {}
        if f < 20 or 26 <= f < 40:  # A: hidden 20-25 (within max_age), then leaves
            vis["A"] = person(100 + 5 * f, 300, 200)
        if 30 <= f < 60:  # C enters far away
            vis["C"] = person(600, 300, 200)
        if 75 <= f:  # D enters where A was last seen, long after A's track died
            vis["D"] = person(100 + 5 * 39, 300, 200)
        truth[f] = vis
        frames.append(frame(f, list(vis.values())))
    tracks = track_people(frames, fps=30, stitch_gap_s=0)  # the tracker alone
    names = [set(owner(t, frames, truth).values()) for t in tracks]
    assert names == [{"A"}, {"C"}, {"D"}]
    assert tracks[0].frame_indices[[0, -1]].tolist() == [0, 39] and (tracks[0].rows[20:26] == -1).all()
    # stitching takes D, of A's size where A was lost 1.2 s before, for A coming back; C stays apart
    stitched = track_people(frames, fps=30)
    assert [set(owner(t, frames, truth).values()) for t in stitched] == [{"A", "D"}, {"C"}]
    assert stitched[0].frame_indices[[0, -1]].tolist() == [0, 99] and (stitched[0].rows[40:75] == -1).all()


def _walk(spans: dict[str, tuple[range, float, float, float]]) -> tuple[list[FramePoses], dict]:
    """Frames of people walking: name -> (frames where seen, x at frame 0, x px/frame, box height)."""
    frames, truth = [], {}
    n = max(r.stop for r, *_ in spans.values())
    for f in range(n):
        vis = {k: person(x0 + v * f, 300, h) for k, (r, x0, v, h) in spans.items() if f in r}
        truth[f] = vis
        frames.append(frame(f, list(vis.values())))
    return frames, truth


def test_person_lost_for_long_keeps_id_and_gap_is_filled(caplog):
    # A walks right, is unseen for 45 frames (1.5 s, beyond max_age) and reappears where the walk leads
    frames, truth = _walk({"A": (range(0, 30), 50, 4, 200), "B": (range(75, 120), 50, 4, 200),
                           "C": (range(10, 120), 900, 0, 150)})
    tracks = track_people(frames, fps=30)
    assert [set(owner(t, frames, truth).values()) for t in tracks] == [{"A", "B"}, {"C"}]
    a = tracks[0]
    assert a.track_id == 0 and a.frame_indices.tolist() == list(range(120))
    assert np.flatnonzero(a.rows < 0).tolist() == list(range(30, 75))
    with caplog.at_level(logging.WARNING, logger="mbcli.track"):
        kp = track_to_keypoints(a, frames, (1200, 600), 30)
    assert (kp.scores[30:75] == 0).all() and (kp.scores[:30] > 0).all()
    assert "45 frames unseen" in caplog.text


def test_crossing_people_hidden_long_keep_ids():
    # A and B walk towards each other; B is hidden for 40 frames (beyond max_age) while passing behind A
    frames, truth = _walk({"A": (range(0, 90), 100, 6, 200), "B1": (range(0, 25), 640, -6, 210),
                           "B2": (range(65, 90), 640, -6, 210)})
    tracks = track_people(frames, fps=30)
    assert [set(owner(t, frames, truth).values()) for t in tracks] == [{"A"}, {"B1", "B2"}]
    assert np.flatnonzero(tracks[1].rows < 0).tolist() == list(range(25, 65))


def test_new_person_far_away_or_of_another_size_gets_new_id():
    frames, truth = _walk({"A": (range(0, 30), 100, 2, 200), "B": (range(40, 80), 1100, 0, 200),
                           "C": (range(120, 150), 1100, 0, 400)})  # gap 40 > max_age
    tracks = track_people(frames, fps=30)
    assert [set(owner(t, frames, truth).values()) for t in tracks] == [{"A"}, {"B"}, {"C"}]
    assert [t.track_id for t in tracks] == [0, 1, 2]


def test_tracks_overlapping_in_time_are_not_joined():
    # B appears next to A 10 frames before A is lost: two people, not one
    frames, truth = _walk({"A": (range(0, 40), 100, 2, 200), "B": (range(30, 70), 180, 2, 200)})
    tracks = track_people(frames, fps=30)
    assert [set(owner(t, frames, truth).values()) for t in tracks] == [{"A"}, {"B"}]
    by_idx = {f.frame_index: f for f in frames}
    assert len(stitch_tracks(tracks, by_idx, 30, max_overlap=10)) == 1  # the overlap alone keeps them apart
    # ... while an overlap of one frame (a late detection of A) is tolerated; the earlier track keeps that frame
    frames, truth = _walk({"A": (range(0, 40), 100, 2, 200), "B": (range(39, 70), 160, 2, 200)})
    tracks = track_people(frames, fps=30)
    assert len(tracks) == 1 and tracks[0].frame_indices.tolist() == list(range(70))
    assert set(owner(tracks[0], frames, truth).values()) == {"A", "B"} and owner(tracks[0], frames, truth)[39] == "A"


def test_stitching_renumbers_in_order_of_first_appearance():
    # A (id 0) comes back as track 2 of the tracker; C, born in between, becomes 1
    frames, truth = _walk({"A": (range(0, 20), 100, 3, 200), "C": (range(10, 100), 900, 0, 200),
                           "A2": (range(60, 100), 220, 3, 200)})
    raw = track_people(frames, fps=30, stitch_gap_s=0)
    assert [t.track_id for t in raw] == [0, 1, 2]
    tracks = track_people(frames, fps=30)
    assert [t.track_id for t in tracks] == [0, 1]
    assert [set(owner(t, frames, truth).values()) for t in tracks] == [{"A", "A2"}, {"C"}]


def test_streaming_tracker_update_returns_ids_and_same_frame_births_left_to_right():
    tr = Tracker(fps=25, max_age=5)
    ids0 = tr.update(frame(0, [person(400, 200, 100), person(100, 200, 100)]))
    assert ids0.tolist() == [1, 0]  # born left to right
    ids1 = tr.update(frame(1, [person(102, 200, 100), person(402, 200, 100)]))
    assert ids1.tolist() == [0, 1] and sorted(tr.active_ids) == [0, 1]
    # a low-score detection does not start a track
    ids2 = tr.update(
        frame(2, [person(104, 200, 100), person(404, 200, 100), person(700, 200, 100)], box_scores=[0.9, 0.9, 0.1])
    )
    assert ids2.tolist() == [0, 1, -1]
    tracks = tr.finish()
    assert [t.frame_indices.tolist() for t in tracks] == [[0, 1, 2], [0, 1, 2]]
    with pytest.raises(RuntimeError):
        tr.update(frame(3, []))
    with pytest.raises(ValueError, match="increasing"):
        t2 = Tracker(fps=25)
        t2.update(frame(3, []))
        t2.update(frame(3, []))


def test_select_largest_all_and_filters():
    frames, truth = [], {}
    for f in range(30):
        vis = {"small": person(100, 240, 100), "big": person(400, 240, 300), "tiny": person(600, 100, 20)}
        if f < 5:
            vis["brief"] = person(300, 100, 200)
        truth[f] = vis
        frames.append(frame(f, list(vis.values())))
    tracks = track_people(frames, fps=30)
    name = {t.track_id: next(iter(set(owner(t, frames, truth).values()))) for t in tracks}
    (best,) = select_tracks(tracks, frames, "largest", fps=30, image_size=(640, 480))
    assert name[best.track_id] == "big"
    kept = select_tracks(tracks, frames, "all", fps=30, image_size=(640, 480))
    assert sorted(name[t.track_id] for t in kept) == ["big", "small"]  # tiny (< 10 % of 480 px) and brief dropped
    # without an image size only the length filter applies
    assert sorted(name[t.track_id] for t in select_tracks(tracks, frames, "all", fps=30)) == ["big", "small", "tiny"]
    tiny_id = next(k for k, v in name.items() if v == "tiny")
    assert select_tracks(tracks, frames, str(tiny_id), image_size=(640, 480))[0].track_id == tiny_id  # ids unfiltered
    # largest weighs duration: a bigger person seen briefly loses to a smaller one seen throughout
    pair = [t for t in tracks if name[t.track_id] in ("small", "brief")]
    (best,) = select_tracks(pair, frames, "largest", min_frames=1)
    assert name[best.track_id] == "small"


def test_filters_never_leave_nothing():
    frames = [frame(f, [person(100, 100, 30)]) for f in range(4)]
    tracks = track_people(frames, fps=30)
    assert len(select_tracks(tracks, frames, "all", fps=30, image_size=(1920, 1080))) == 1


def test_select_errors():
    frames = [frame(f, [person(100, 200, 100), person(400, 200, 100)]) for f in range(3)]
    tracks = track_people(frames, fps=30)
    with pytest.raises(NoPersonFound, match="track ids found: 0, 1"):
        select_tracks(tracks, frames, "7")
    with pytest.raises(ConfigError, match="all"):
        select_tracks(tracks, frames, "biggest")
    with pytest.raises(NoPersonFound):
        select_tracks([], frames, "largest")


def test_gap_filling_is_linear_with_score_zero(caplog):
    frames = [
        frame(0, [person(100, 200, 100)]),
        frame(1, []),
        frame(2, []),
        frame(3, []),
        frame(4, [person(110, 205, 100)]),
    ]
    sc = np.full((1, 17), 0.9)
    sc[0, 9] = 0.0  # left wrist missing in frame 5
    frames.append(frame(5, [person(112, 205, 100)], scores=sc))
    (tr,) = track_people(frames, fps=30)
    assert tr.rows.tolist() == [0, -1, -1, -1, 0, 0]
    with caplog.at_level(logging.WARNING, logger="mbcli.track"):
        k2d = track_to_keypoints(tr, frames, (640, 480), 30)
    assert not caplog.records
    assert k2d.xy.shape == (6, 17, 2) and k2d.frame_indices.tolist() == list(range(6)) and k2d.fps == 30
    assert k2d.skeleton.name == "coco17" and k2d.image_size == (640, 480)
    np.testing.assert_array_equal(k2d.scores[1:4], 0)
    np.testing.assert_allclose(k2d.scores[[0, 4]], 0.9)
    a, b = frames[0].keypoints_xy[0], frames[4].keypoints_xy[0]
    for t in (1, 2, 3):
        np.testing.assert_allclose(k2d.xy[t], a + (b - a) * t / 4, rtol=1e-6)
    # a joint observed with score 0 keeps score 0 and is held at its last seen position
    assert k2d.scores[5, 9] == 0
    np.testing.assert_allclose(k2d.xy[5, 9], b[9])
    # gaps over max_gap are filled the same way and reported
    with caplog.at_level(logging.WARNING, logger="mbcli.track"):
        k2d_long = track_to_keypoints(tr, frames, (640, 480), 30, max_gap=2)
    assert "3 frames unseen" in caplog.text
    np.testing.assert_array_equal(k2d_long.xy, k2d.xy)


def test_given_ids_path_keeps_file_ids():
    frames = [
        frame(0, [person(100, 200, 100), person(400, 200, 100)]),
        frame(1, [person(400, 200, 100)]),
        frame(2, [person(100, 200, 100), person(400, 200, 100), person(700, 200, 100)], box_scores=[0.9, 0.5, 0.8]),
    ]
    ids = [np.array([5, 7]), np.array([7]), np.array([5, 7, 7])]
    tracks = track_people(frames, fps=30, given_ids=ids)
    assert [t.track_id for t in tracks] == [5, 7]
    assert tracks[0].rows.tolist() == [0, -1, 0]
    assert tracks[1].rows.tolist() == [1, 0, 2]  # repeated id in one frame: the higher box score wins
    tracks = track_people(frames, fps=30, given_ids=[np.array([-1, 7]), np.array([7]), np.array([-1, 7, -1])])
    assert [t.track_id for t in tracks] == [7]


def test_alphapose_file_ids_end_to_end():
    kf = read_keypoint_file(ASSETS / "alphapose_halpe26.json")
    tracks = track_people(kf.frames, fps=30, given_ids=kf.track_ids)
    assert [t.track_id for t in tracks] == [1, 2] and tracks[0].rows.tolist() == [0, -1, 0]
    (t,) = select_tracks(tracks, kf.frames, "1")
    k2d = track_to_keypoints(t, kf.frames, (640, 480), 30)
    assert k2d.skeleton.name == "halpe26" and k2d.num_frames == 3 and (k2d.scores[1] == 0).all()
    # the tracker finds the same two people without the ids
    assert len(track_people(kf.frames, fps=30)) == 2


# ------------------------------------------------------------------------------------------- re-identification

_COLOURS = {"red": (200, 30, 40), "blue": (30, 50, 190), "green": (40, 160, 50), "grey": (120, 120, 120)}


def _look(shirt: str, trousers: str = "grey", rng=None) -> np.ndarray:
    """(DIM,) descriptor of a person in ``shirt`` and ``trousers``, with pixel noise from ``rng``; a shirt
    "red+green:0.1" is red with a tenth of its pixels green."""
    out = []
    for colour in (shirt, trousers):
        main, _, rest = colour.partition("+")
        other, _, frac = rest.partition(":")
        k = round(float(frac or 0) * 60)
        px = np.array([_COLOURS[main]] * (60 - k) + [_COLOURS[other or main]] * k, dtype=np.float64)
        if rng is not None:
            px = px + rng.normal(0, 12, px.shape)
        out.append(colour_histogram(np.clip(px, 0, 255).astype(np.uint8)))
    return np.concatenate(out)


def _scene(spans: dict[str, tuple[range, float, float, float, str]], looks: bool = True):
    """Frames of people: name -> (frames where seen, x at its first frame, x px/frame, box height, shirt colour);
    with ``looks``, each frame carries every person's appearance."""
    rng = np.random.default_rng(1)
    frames, truth = [], {}
    for f in range(max(r.stop for r, *_ in spans.values())):
        vis = {k: (person(x0 + v * (f - r.start), 300, h), shirt) for k, (r, x0, v, h, shirt) in spans.items()
               if f in r}
        truth[f] = {k: xy for k, (xy, _) in vis.items()}
        fp = frame(f, [xy for xy, _ in vis.values()])
        if looks and vis:
            fp = FramePoses(f, fp.boxes_xyxy, fp.box_scores, fp.keypoints_xy, fp.keypoint_scores, fp.skeleton,
                            np.stack([_look(shirt, rng=rng) for _, shirt in vis.values()]))
        frames.append(fp)
    return frames, truth


def _people(tracks, frames, truth) -> list[set[str]]:
    return [set(owner(t, frames, truth).values()) for t in tracks]


def test_one_person_across_a_cut_keeps_one_id_by_appearance():
    # A (red) walks; at the cut (frame 60) it is back at the far right, B (blue) stays put all along
    spans = {"A": (range(0, 60), 100, 4, 200, "red"), "A2": (range(60, 120), 1100, -4, 200, "red"),
             "B": (range(0, 120), 600, 0, 180, "blue")}
    frames, truth = _scene(spans)
    tracks = track_people(frames, fps=30)
    assert _people(tracks, frames, truth) == [{"A", "A2"}, {"B"}]
    assert [t.track_id for t in tracks] == [0, 1] and tracks[0].frame_indices.tolist() == list(range(120))
    assert _people(track_people(frames, fps=30, reid_distance=0), frames, truth) == [{"A"}, {"B"}, {"A2"}]
    # keypoint files carry no appearance: motion alone, as before
    frames, truth = _scene(spans, looks=False)
    assert _people(track_people(frames, fps=30), frames, truth) == [{"A"}, {"B"}, {"A2"}]


def test_people_in_other_colours_or_sizes_are_never_joined():
    frames, truth = _scene({"A": (range(0, 60), 100, 4, 200, "red"), "C": (range(60, 120), 1100, -4, 200, "green"),
                            "D": (range(130, 190), 1100, -4, 400, "red")})  # D: A's colours, twice A's height
    assert _people(track_people(frames, fps=30), frames, truth) == [{"A"}, {"C"}, {"D"}]


def test_tracks_overlapping_in_time_are_never_joined_by_appearance():
    # two people dressed alike at the same time are two people, however alike they look
    frames, truth = _scene({"A": (range(0, 80), 100, 2, 200, "red"), "A2": (range(40, 120), 1100, -2, 200, "red")})
    assert _people(track_people(frames, fps=30), frames, truth) == [{"A"}, {"A2"}]


def test_appearance_overrules_a_motion_link_to_someone_else():
    # both are unseen for 40 frames (beyond the tracker's memory); then B (blue) appears exactly where A's (red)
    # walk leads and A where B stood: motion alone swaps them
    spans = {"A": (range(0, 60), 100, 4, 200, "red"), "B": (range(0, 60), 900, 0, 200, "blue"),
             "B2": (range(100, 160), 500, 4, 200, "blue"), "A2": (range(100, 160), 900, 0, 200, "red")}
    frames, truth = _scene(spans)
    assert _people(track_people(frames, fps=30), frames, truth) == [{"A", "A2"}, {"B", "B2"}]
    assert _people(track_people(frames, fps=30, reid_distance=0), frames, truth) == [{"A", "B2"}, {"B", "A2"}]


def test_lost_tracks_match_the_most_recently_seen_first():
    # A runs right, then steps back at frame 5: its prediction overshoots, so B is born on the same body; both are
    # unseen for frames 8-9; the body is back in frame 10, nearer A's last box: the track seen last (B) takes it
    people = {f: person(100 + 50 * f, 300, 200) for f in range(5)}
    people |= {f: person(290, 300, 200) for f in (5, 6, 7)} | {f: person(298, 300, 200) for f in (10, 11, 12)}
    frames = [frame(f, [people[f]] if f in people else []) for f in range(13)]
    tracks = track_people(frames, fps=30, stitch_gap_s=0, reid_distance=0, iou_weight=1.0)
    assert [(t.frame_indices[0], t.frame_indices[-1]) for t in tracks] == [(0, 4), (5, 12)]


def test_a_look_seen_as_a_chain_of_near_looks_joins_and_a_motion_link_joins_two_looks():
    # the jumper: on the roof (blue in the shade) and, after a flip, on the grass (red in the sun); the grass
    # pieces drift in colour (each within reid_distance of its neighbour, the ends not); one motion link (R1 -> G1)
    # joins the two looks; the other pieces are 70+ frames apart (beyond stitching's reach)
    spans = {"R1": (range(0, 40), 100, 2, 200, "blue"), "G1": (range(75, 105), 300, 2, 200, "red"),
             "R2": (range(180, 210), 100, 2, 200, "blue"), "G2": (range(280, 310), 300, 2, 200, "red"),
             "G3": (range(380, 410), 300, 2, 200, "red+green:0.04"),
             "G4": (range(480, 510), 300, 2, 200, "red+green:0.08"), "W": (range(0, 510), 1000, 0, 200, "blue")}
    frames, truth = _scene(spans)
    people = _people(track_people(frames, fps=30), frames, truth)
    assert people == [{"R1", "G1", "R2", "G2", "G3", "G4"}, {"W"}]


def test_a_cheap_motion_link_to_someone_else_waits_for_a_better_one():
    # A1 -> A2 (A in the sun: not alike enough to join by look) and A2 -> B2 (B re-enters where A2 leaves, a
    # cheaper motion link); B (B's look) is seen with A1, so A2 cannot be B once it is A1's: the link that also
    # agrees in look goes first
    spans = {"A1": (range(0, 30), 300, 4, 200, "red"), "A2": (range(65, 85), 570, 4, 200, "red+green:0.3"),
             "B": (range(0, 35), 1100, 0, 200, "blue"), "B2": (range(120, 160), 790, 4, 200, "blue")}
    frames, truth = _scene(spans)
    assert _people(track_people(frames, fps=30), frames, truth) == [{"A1", "A2"}, {"B", "B2"}]


def test_two_people_alike_side_by_side_never_join():
    # dressed alike and walking side by side, one of them lost for a while: never one track
    spans = {"A": (range(0, 120), 300, 2, 200, "red"), "B1": (range(0, 40), 500, 2, 200, "red"),
             "B2": (range(75, 120), 650, 2, 200, "red")}
    frames, truth = _scene(spans)
    assert _people(track_people(frames, fps=30), frames, truth) == [{"A"}, {"B1", "B2"}]
