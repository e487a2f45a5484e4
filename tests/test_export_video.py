"""Tests for mbcli.export.video: the 2D overlay, the 3D view, and the side-by-side H.264 render."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from mbcli.errors import ConfigError, ExportError, VideoReadError
from mbcli.export.video import (
    View3D,
    _ground,
    _prepare,
    camera_to_view,
    drawing_edges,
    person_colors,
    render_overlay_frame,
    render_side_by_side,
)
from mbcli.skeletons import get_skeleton
from mbcli.types import Keypoints2D, MotionResult, Pose3D, WorldPose
from mbcli.video import VideoWriter, iter_frames

H36 = get_skeleton("h36m17")
GREY = 128

# A standing h36m17 person in a Y-up body frame (metres), facing +z, left side on +x.
_UP = {
    "pelvis": (0, 0.95, 0), "right_hip": (-0.12, 0.93, 0), "right_knee": (-0.12, 0.5, 0), "right_ankle": (-0.12, 0.08, 0),
    "left_hip": (0.12, 0.93, 0), "left_knee": (0.12, 0.5, 0), "left_ankle": (0.12, 0.08, 0),
    "spine": (0, 1.2, 0), "thorax": (0, 1.45, 0), "neck_nose": (0, 1.58, 0.05), "head_top": (0, 1.78, 0),
    "left_shoulder": (0.18, 1.42, 0), "left_elbow": (0.45, 1.42, 0), "left_wrist": (0.7, 1.42, 0),
    "right_shoulder": (-0.18, 1.42, 0), "right_elbow": (-0.45, 1.42, 0), "right_wrist": (-0.7, 1.42, 0),
}  # fmt: skip
POSE_UP = np.array([_UP[n] for n in H36.joints])
POSE_CAM = POSE_UP * np.array([1.0, -1.0, -1.0])  # camera frame: y down, z away from the camera (person faces it)


def _pixels(width: int, height: int, center=(80.0, 60.0), px_per_m: float = 50.0) -> np.ndarray:
    """Image coordinates (J,2) of the person seen from the front, pelvis at ``center``."""
    return np.asarray(center) + (POSE_CAM[:, :2] - POSE_CAM[0, :2]) * px_per_m


@pytest.fixture(scope="module")
def grey_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("vid") / "grey.mp4"
    with VideoWriter(path, 25) as w:
        for _ in range(8):
            w.write(np.full((120, 160, 3), GREY, np.uint8))
    return path


def _result(frames, track_id=1, scores=None, with_3d=True):
    T = len(frames)
    xy = np.repeat(_pixels(160, 120)[None], T, 0)
    sc = np.ones((T, 17)) if scores is None else np.repeat(np.asarray(scores)[None], T, 0)
    k2 = Keypoints2D(xy, sc, np.asarray(frames), "h36m17", (160, 120), 25.0)
    p3 = (
        Pose3D(np.repeat((POSE_CAM - POSE_CAM[0])[None], T, 0), "h36m17", np.asarray(frames), 25.0) if with_3d else None
    )
    return MotionResult(video=None, track_id=track_id, keypoints_2d=k2, pose_3d=p3)


def _near(img: np.ndarray, xy, col) -> int:
    """How close the best pixel of the 3x3 window around xy is to colour ``col`` (max channel difference)."""
    x, y = np.round(np.asarray(xy)).astype(int)
    return int(np.abs(img[y - 1 : y + 2, x - 1 : x + 2].astype(int) - col).max(axis=-1).min())


def _coloured(img: np.ndarray) -> np.ndarray:
    """Mask of clearly non-grey pixels (drawn colours)."""
    img = img.astype(int)
    return (img.max(axis=-1) - img.min(axis=-1)) > 60


# ----------------------------------------------------------------------------------------------- 2D overlay


def test_overlay_draws_left_and_right_colour_families_where_expected():
    frame = np.zeros((120, 160, 3), np.uint8)
    xy = _pixels(160, 120)
    render_overlay_frame(frame, xy, None, "h36m17", [0], labels=False)
    left, right, _ = person_colors(0)
    # the person faces the camera, so their left arm is on the image's right
    mid_l = np.round((xy[H36.idx("left_elbow")] + xy[H36.idx("left_wrist")]) / 2).astype(int)
    mid_r = np.round((xy[H36.idx("right_elbow")] + xy[H36.idx("right_wrist")]) / 2).astype(int)
    assert mid_l[0] > 80 > mid_r[0]
    assert _near(frame, mid_l, left) < 40 and _near(frame, mid_r, right) < 40
    assert left[2] > left[0] and right[0] > right[2]  # blue family vs red/orange family
    ys, xs = np.nonzero(frame.max(axis=-1))
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    m = 5  # joint disc radius + anti-aliasing
    assert xs.min() >= lo[0] - m and xs.max() <= hi[0] + m and ys.min() >= lo[1] - m and ys.max() <= hi[1] + m


def test_overlay_skips_low_score_joints_and_their_bones():
    frame = np.zeros((120, 160, 3), np.uint8)
    xy = _pixels(160, 120)
    scores = np.ones(17)
    scores[H36.idx("left_wrist")] = 0.1
    render_overlay_frame(frame, xy, scores, "h36m17", labels=False)
    w = np.round(xy[H36.idx("left_wrist")]).astype(int)
    mid = np.round((xy[H36.idx("left_elbow")] + xy[H36.idx("left_wrist")]) / 2).astype(int)
    assert frame[w[1], w[0]].max() == 0 and frame[mid[1], mid[0]].max() == 0
    e = np.round(xy[H36.idx("left_elbow")]).astype(int)
    assert frame[e[1], e[0]].max() > 0


def test_overlay_label_and_shape_checks():
    frame = np.zeros((120, 160, 3), np.uint8)
    render_overlay_frame(frame, _pixels(160, 120)[None], np.ones((1, 17)), "h36m17", [7])
    _, _, centre = person_colors(7)
    assert (np.abs(frame.astype(int) - centre).max(axis=-1) < 10).sum() > 30  # the #7 label box
    with pytest.raises(ValueError):
        render_overlay_frame(frame, np.zeros((1, 5, 2)), None, "h36m17")
    with pytest.raises(ValueError):
        render_overlay_frame(frame.astype(np.float32), _pixels(160, 120), None, "h36m17")


def test_coco_like_skeletons_get_a_torso():
    sk = get_skeleton("coco17")
    edges, sides = drawing_edges(sk)
    named = {(sk.joints[a], sk.joints[b]) for a, b in edges}
    assert ("left_shoulder", "right_shoulder") in named and ("left_hip", "right_hip") in named
    assert not any("shoulder" in b and a == "nose" for a, b in named)
    assert len(drawing_edges("h36m17")[0]) == 16  # h36m bones drawn as they are


# ----------------------------------------------------------------------------------------------- 3D view


def test_view_is_upright_and_azimuth_turns_the_body():
    up = camera_to_view(POSE_CAM, "camera")
    np.testing.assert_allclose(up, POSE_UP)
    view = View3D.fit(up, 200, azimuth=0.0, elevation=0.0)
    uv, _ = view.project(up)
    assert uv[H36.idx("head_top"), 1] < uv[H36.idx("pelvis"), 1] < uv[H36.idx("left_ankle"), 1]  # head up
    assert uv[H36.idx("left_wrist"), 0] > uv[H36.idx("right_wrist"), 0]  # seen from the front, like the camera
    assert (uv >= 0).all() and (uv <= 200).all()
    side = View3D.fit(up, 200, azimuth=90.0, elevation=0.0)
    uv90, depth = side.project(up)
    assert abs(uv90[H36.idx("left_wrist"), 0] - uv90[H36.idx("right_wrist"), 0]) < 1  # arms now point at us
    assert depth[H36.idx("right_wrist")] > depth[H36.idx("left_wrist")]  # +azimuth: the right side is nearer
    bg = view.background()
    assert bg.shape == (200, 200, 3) and bg.dtype == np.uint8 and bg.std() > 0  # the grid is drawn


# ----------------------------------------------------------------------------------------------- side by side


def test_side_by_side_output_format_and_frame_indices(grey_video, tmp_path):
    out = tmp_path / "sbs.mp4"
    calls = []
    info = render_side_by_side(
        grey_video, [_result(range(3, 6))], out, height=120, on_progress=lambda s, d, t: calls.append((s, d, t))
    )
    assert out.is_file() and (info.width, info.height, info.num_frames) == (280, 120, 8)
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert s.average_rate == Fraction(25) and (s.width, s.height) == (280, 120)
    frames = dict(iter_frames(out))
    assert sorted(frames) == list(range(8))
    assert calls[-1] == ("render", 8, 8)
    for f, rgb in frames.items():
        n_left, n_right = _coloured(rgb[:, :160]).sum(), _coloured(rgb[:, 160:]).sum()
        if f in (3, 4, 5):
            assert n_left > 100 and n_right > 100, f
        else:
            assert n_left == 0 and n_right == 0, f
    # the 2D skeleton sits where the keypoints are: left wrist at the image's right, right wrist at its left
    rgb = frames[4][:, :160].astype(int)
    xy = _pixels(160, 120)
    left, right, _ = person_colors(1)
    for joint, col in (("left_wrist", left), ("right_wrist", right)):
        assert _near(rgb, xy[H36.idx(joint)], col) < 60, joint


def test_overlay_only_and_missing_3d(grey_video, tmp_path):
    out = tmp_path / "overlay.mp4"
    info = render_side_by_side(grey_video, [_result(range(8), with_3d=False)], out, height=120, show_3d=False)
    assert (info.width, info.height, info.num_frames) == (160, 120, 8)
    out2 = tmp_path / "no3d.mp4"
    info2 = render_side_by_side(grey_video, [_result(range(8), with_3d=False)], out2, height=60)
    assert (info2.width, info2.height) == (140, 60)  # an empty 3D panel with its grid
    r = _result(range(2, 4))
    out3 = tmp_path / "pairs.mp4"
    render_side_by_side(grey_video, [(r.keypoints_2d, r.pose_3d)], out3, height=60)  # plain pairs work too
    assert sum(_coloured(rgb[:, :80]).sum() > 0 for _, rgb in iter_frames(out3)) == 2


def _walker(frames, track_id, start_x, step_x, lift_y=0.0):
    """A person whose world joints stand at x = start_x + step_x * i (metres), feet at y = 0.08 + lift_y."""
    r = _result(frames, track_id=track_id)
    T = len(frames)
    offset = np.stack([start_x + step_x * np.arange(T), np.full(T, lift_y), np.full(T, -4.0)], -1)  # (T,3)
    joints = POSE_UP[None] + offset[:, None]
    w = WorldPose(joints, offset, np.zeros(T, np.uint8), np.zeros((T, 2), bool))
    return MotionResult(video=None, track_id=track_id, keypoints_2d=r.keypoints_2d, pose_3d=r.pose_3d, world=w)


def test_world_view_keeps_people_where_they_are_on_the_floor():
    a, b = _walker(range(8), 0, -2.0, 0.1), _walker(range(8), 1, 2.0, 0.0, lift_y=1.0)
    people = _prepare([a, b], (160, 120))
    assert _ground(people) == 0.0  # the grid is the floor
    pa, pb = people
    # one common horizontal shift (the median root), heights untouched: b still stands 1 m higher, 4 m to the right
    np.testing.assert_allclose(pb.xyz_up[0] - pa.xyz_up[0], [[4.0, 1.0, 0.0]] * 17, atol=1e-6)
    np.testing.assert_allclose(pa.xyz_up[:, :, 1], np.repeat(POSE_UP[None, :, 1], 8, 0), atol=1e-6)
    assert pa.trail is not None and np.allclose(pa.trail[:, 1], 0.0)  # the path is traced on the floor
    assert pa.trail[-1, 0] - pa.trail[0, 0] == pytest.approx(0.7)  # and follows the walk
    mixed = _prepare([a, _result(range(8), track_id=2)], (160, 120))  # one person without a world pose:
    assert all(p.trail is None for p in mixed)  # everybody falls back to the root-centred view
    np.testing.assert_allclose(mixed[0].xyz_up[:, H36.idx("pelvis"), 1:], 0.0, atol=1e-6)  # root-centred


def test_world_view_render_moves_the_walker_across_the_panel(grey_video, tmp_path):
    out = tmp_path / "world.mp4"
    render_side_by_side(grey_video, [_walker(range(8), 0, -1.0, 0.3)], out, height=120, azimuth=0.0, elevation=0.0)
    xs = {}
    for f, rgb in iter_frames(out):
        cols = np.flatnonzero(_coloured(rgb[:, 160:]).any(axis=0))
        xs[f] = cols.mean()
    assert xs[7] - xs[0] > 20  # 2.1 m to the right, seen from the camera (azimuth 0)


def test_errors_leave_no_output(grey_video, tmp_path):
    out = tmp_path / "o" / "x.mp4"
    with pytest.raises(VideoReadError):
        render_side_by_side(tmp_path / "missing.mp4", [], out)
    assert not out.exists()

    def boom(stage, done, total):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_side_by_side(grey_video, [_result(range(8))], out, height=60, on_progress=boom)
    assert not out.exists() and list(out.parent.iterdir()) == []
    with pytest.raises(ExportError, match="overwrite"):
        render_side_by_side(grey_video, [], grey_video)
    with pytest.raises(ConfigError):
        render_side_by_side(grey_video, [], out, height=4)
    assert not out.exists()
