"""pipeline/inputs.py: what a path holds, and which people of it are used (one rule for every input kind)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_error
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.detect import check_detector
from mbcli.errors import ConfigError, InputError, NoPersonFound, VideoReadError
from mbcli.export.json_motion import write_motion_json
from mbcli.pipeline.inputs import input_kind, read_people
from mbcli.skeletons import H36M17
from mbcli.types import Keypoints2D, MotionResult


def _motion_file(path: Path, ids: list[int], sizes: list[float], T: int = 30) -> Path:
    """An mbcli.motion file with one person per id, in that order; person i spans ``sizes[i]`` px."""
    rng = np.random.default_rng(0)
    res = []
    for tid, size in zip(ids, sizes):
        xy = 300 + size * rng.uniform(-0.5, 0.5, (17, 2)) + np.zeros((T, 1, 1))
        res.append(MotionResult(None, tid, Keypoints2D(xy, np.ones((T, 17)), np.arange(T), H36M17, (640, 480),
                                                       25.0), None))
    return write_motion_json(res, None, path)


def test_input_kinds_are_decided_by_content(tmp_path):
    motion = _motion_file(tmp_path / "a.json", [0], [100.0])
    other = tmp_path / "coco.json"
    other.write_text('{"annotations": []}')
    empty = tmp_path / "clip.mp4"
    empty.write_bytes(b"")
    assert input_kind(motion) == "motion" and input_kind(other) == "keypoints" and input_kind(tmp_path) == "keypoints"
    assert input_kind(Path("samples/sports2d_640.mp4")) == "video"
    with pytest.raises(VideoReadError, match="empty file"):
        input_kind(empty)
    with pytest.raises(InputError, match="no such file"):
        input_kind(tmp_path / "missing.mp4")


def test_motion_file_people_keep_the_file_order_and_largest_is_one_rule(tmp_path):
    path = _motion_file(tmp_path / "m.json", [5, 2, 9], [50.0, 200.0, 120.0])
    everyone = read_people(path, "motion", person="all")
    assert everyone.ids == (5, 2, 9) and everyone.video is None and everyone.poses == (None, None, None)
    assert read_people(path, "motion", person="largest").ids == (2,)  # mean area x frames, as for tracks
    assert read_people(path, "motion", person="9").ids == (9,)
    with pytest.raises(NoPersonFound, match="track ids found: 2, 5, 9"):
        read_people(path, "motion", person="7")
    with pytest.raises(ConfigError, match="person must be"):
        read_people(path, "motion", person="tallest")


def test_an_unknown_detector_fails_before_any_model_loads(tmp_path):
    with pytest.raises(ConfigError, match="valid detectors: default"):
        check_detector("yolo")
    src = _motion_file(tmp_path / "m.json", [0], [100.0])
    r = CliRunner().invoke(app, ["lift", str(src), "--out", str(tmp_path / "o"), "--detector", "yolo",
                                 "--weights", "does-not-exist.pt", "--no-progress"])
    assert_one_line_error(r, "unknown detector 'yolo'")  # not the missing weights: checked first
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [(["--focal", "-5"], "--focal must be a positive"),
                                           (["--focal", "800", "--fov", "60"], "not both"),
                                           (["--fov", "500"], "between 1 and 179")])
def test_bad_camera_options_fail_before_any_model_loads(tmp_path, args, message):
    src = _motion_file(tmp_path / "m.json", [0], [100.0])
    r = CliRunner().invoke(app, ["lift", str(src), "--out", str(tmp_path / "o"), "--weights", "does-not-exist.pt",
                                 "--no-progress", *args])
    assert_one_line_error(r, message)  # not the missing weights: checked first
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_person_who_jumps_across_a_cut_keeps_one_id(tmp_path):
    """Real footage: frames 60-119 of sports2d_640 played twice. At the cut the walker jumps back 200 px (motion
    cannot follow); the colours of the frames' people (computed while detecting) join the pieces: 2 people, 2 ids."""
    from mbcli.pipeline.inputs import _detect_video
    from mbcli.track import select_tracks, track_people
    from mbcli.video import VideoWriter, iter_frames

    clip = [rgb for _, rgb in iter_frames("samples/sports2d_640.mp4", start=60, stop=120)]
    video = tmp_path / "looped.mp4"
    with VideoWriter(video, 30) as w:
        for rgb in clip + clip:
            w.write(rgb)
    info, frames, _ = _detect_video(video, "default", None, None)
    assert all(f.appearance is not None and f.appearance.shape[0] == f.num_people for f in frames)

    def people(**options) -> list[tuple[int, int]]:
        tracks = select_tracks(track_people(frames, info.fps, **options), frames, "all", fps=info.fps,
                               image_size=(info.width, info.height))
        return [(int(t.frame_indices[0]), int(t.frame_indices[-1])) for t in tracks]

    by_motion = people(reid_distance=0)
    assert len(by_motion) == 3 and (0, 59) in by_motion  # the walker, cut in two at the loop
    together = people()
    assert len(together) == 2 and (0, 119) in together


def test_frames_nobody_was_seen_in_are_named():
    from mbcli.pipeline.inputs import People
    from mbcli.pipeline.lift import unseen_note

    def kp(frames, seen):
        sc = np.zeros((len(frames), 17))
        sc[np.asarray(seen)] = 1.0
        return Keypoints2D(np.zeros((len(frames), 17, 2)), sc, np.asarray(frames), "h36m17", (64, 48), 25.0)

    a = kp(range(0, 6), [0, 1, 2, 3, 4, 5])
    b = kp(range(4, 9), [0, 1])  # frames 4 and 5 seen, 6-8 score 0 (filled)
    note = unseen_note(People(None, (0, 1), (a, b), (None, None), 12))
    assert note.startswith("nobody was seen in 6 of 12 frames (frames 6-11)")
    assert unseen_note(People(None, (0,), (kp(range(3), [0, 1, 2]),), (None,), 3)) == ""


def test_tracks_left_out_and_people_lost_in_view_are_named():
    from mbcli.pipeline.inputs import People, left_out_note
    from mbcli.pipeline.lift import lost_in_view_notes
    from mbcli.types import Track

    short = [Track(5, np.arange(40, 46), np.zeros(6, int)), Track(9, np.arange(80, 83), np.zeros(3, int))]
    assert left_out_note(short).startswith("2 short or small tracks not lifted")
    assert "tracks 5 (frames 40-45), 9 (frames 80-82)" in left_out_note(short)
    assert left_out_note([]) == ""

    def kp(frames, x):  # a person whose joints all sit at column x (px) of a 100 x 100 image, at 25 fps
        xy = np.zeros((len(frames), 17, 2))
        xy[..., 0], xy[..., 1] = x, 50.0
        return Keypoints2D(xy, np.ones((len(frames), 17)), np.asarray(frames), "h36m17", (100, 100), 25.0)

    people = People(None, (0, 1, 2), (kp(range(0, 50), 50.0), kp(range(0, 30), 99.0), kp(range(0, 98), 50.0)),
                    (None,) * 3, 100)
    notes = lost_in_view_notes(people)  # 0 lost mid-image, 1 left by the right edge, 2 ends with the clip
    assert notes == ["person 0: lost in view at frame 49 of 100 (hidden, or missed by the detector): not followed "
                     "after it"]
