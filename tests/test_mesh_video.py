"""Tests for mbcli.export.mesh_video: the torch z-buffer rasteriser, mesh drawing, and the mesh overlay video."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mbcli.export.mesh_video as mv
from mbcli.errors import ConfigError, ExportError, VideoReadError
from mbcli.export.mesh_video import draw_mesh, draw_meshes, mesh_color, rasterize, render_mesh_video
from mbcli.video import VideoWriter, iter_frames, probe

GREY = 128
K64 = (60.0, 60.0, 32.0, 24.0)  # intrinsics of the 64x48 test images


def ellipsoid(segments: int = 24, rings: int = 16, axes=(0.25, 0.85, 0.15), centre=(0.0, 0.0, 3.0)):
    """A closed UV ellipsoid (metres), faces wound counter-clockwise seen from outside. segments=82, rings=85
    gives SMPL's counts: 6890 vertices, 13776 faces."""
    th = np.linspace(0, np.pi, rings + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    T, P = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(T) * np.cos(P), np.cos(T), np.sin(T) * np.sin(P)], -1).reshape(-1, 3)
    v = np.concatenate([v, [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]]) * axes + centre
    m, R = segments, rings - 1
    j = np.arange(m)
    quads = []
    for i in range(R - 1):
        a, b, c, d = i * m + j, i * m + (j + 1) % m, (i + 1) * m + j, (i + 1) * m + (j + 1) % m
        quads += [np.stack([a, c, b], 1), np.stack([b, c, d], 1)]
    top, bot = np.full(m, R * m), np.full(m, R * m + 1)
    quads += [np.stack([top, j, (j + 1) % m], 1), np.stack([bot, (R - 1) * m + (j + 1) % m, (R - 1) * m + j], 1)]
    return v.astype(np.float32), np.concatenate(quads).astype(np.int64)


def project(v: np.ndarray, K) -> np.ndarray:
    fx, fy, cx, cy = K
    return np.stack([fx * v[:, 0] / v[:, 2] + cx, fy * v[:, 1] / v[:, 2] + cy, v[:, 2]], 1)


def brute_force(vp: np.ndarray, faces: np.ndarray, H: int, W: int):
    """Reference z-buffer: every triangle against every pixel centre (edge functions in float64)."""
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    best, fid = np.full((H, W), np.inf), np.full((H, W), -1)
    for i, (a, b, c) in enumerate(faces):
        p = vp[[a, b, c]]
        area = (p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[1, 1] - p[0, 1]) * (p[2, 0] - p[0, 0])
        if area == 0 or p[:, 2].min() <= 1e-3:
            continue
        e = [((p[(k + 2) % 3, 0] - p[(k + 1) % 3, 0]) * (ys - p[(k + 1) % 3, 1])
              - (p[(k + 2) % 3, 1] - p[(k + 1) % 3, 1]) * (xs - p[(k + 1) % 3, 0])) / area for k in range(3)]  # fmt: skip
        inside = (e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)
        z = 1.0 / (e[0] / p[0, 2] + e[1] / p[1, 2] + e[2] / p[2, 2])
        upd = inside & (z < best)
        best[upd], fid[upd] = z[upd], i
    return best, fid


# ----------------------------------------------------------------------------------------------- rasterize


def test_quad_covers_exactly_its_pixels_with_constant_depth():
    # corners on pixel boundaries: columns 10..19, rows 10..29 have their centres inside
    vp = torch.tensor([[10.0, 10.0, 2.0], [20.0, 10.0, 2.0], [20.0, 30.0, 2.0], [10.0, 30.0, 2.0]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    depth, fid = rasterize(vp, faces, 40, 32)
    assert depth.shape == (40, 32) and fid.shape == (40, 32) and fid.dtype == torch.int64
    covered = fid >= 0
    assert covered.sum().item() == 200
    assert covered[10:30, 10:20].all()
    assert set(fid[covered].unique().tolist()) == {0, 1}
    assert torch.all(depth[covered] == 2.0) and torch.isinf(depth[~covered]).all()
    assert (fid[~covered] == -1).all()


def test_large_triangles_are_exact():
    N = 64
    # the half square below the anti-diagonal: centres with i + j <= N - 1 (those on the edge count)
    _, fid = rasterize(torch.tensor([[0.0, 0.0, 1.0], [N, 0.0, 1.0], [0.0, N, 1.0]]), torch.tensor([[0, 1, 2]]), N, N)
    assert fid.ge(0).sum().item() == N * (N + 1) // 2
    i, j = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    np.testing.assert_array_equal(fid.numpy() >= 0, (i + j) <= N - 1)
    # a triangle far larger than the image covers all of it
    huge = torch.tensor([[-1e5, -1e5, 3.0], [1e5, -1e5, 3.0], [0.0, 1e5, 3.0]])
    depth, fid = rasterize(huge, torch.tensor([[0, 1, 2]]), 48, 80)
    assert (fid == 0).all() and torch.allclose(depth, torch.full((48, 80), 3.0))


def test_nearer_triangle_wins_whatever_the_order():
    near = [[5.0, 5.0, 1.0], [35.0, 5.0, 1.0], [5.0, 35.0, 1.0]]
    far = [[0.0, 0.0, 2.0], [40.0, 0.0, 2.0], [40.0, 40.0, 2.0]]
    for order in ((near, far), (far, near)):
        vp = torch.tensor(order[0] + order[1])
        depth, fid = rasterize(vp, torch.tensor([[0, 1, 2], [3, 4, 5]]), 40, 40)
        near_id = 0 if order[0] is near else 1
        assert fid[10, 20].item() == near_id and depth[10, 20].item() == 1.0  # both cover it: the near one shows
        assert fid[30, 35].item() == 1 - near_id and depth[30, 35].item() == 2.0  # only the far one
        assert fid[35, 2].item() == -1


def test_depth_is_perspective_correct_on_a_slanted_triangle():
    K = (50.0, 50.0, 20.0, 20.0)
    v3 = np.array([[-1.0, -1.0, 2.0], [1.5, -1.0, 5.0], [-1.0, 1.5, 3.0]])
    depth, fid = rasterize(torch.tensor(project(v3, K)), torch.tensor([[0, 1, 2]]), 40, 40)
    n = np.cross(v3[1] - v3[0], v3[2] - v3[0])
    ys, xs = np.nonzero(fid.numpy() == 0)
    assert len(ys) > 100
    rays = np.stack([(xs + 0.5 - K[2]) / K[0], (ys + 0.5 - K[3]) / K[1], np.ones(len(xs))], 1)
    z_true = (n @ v3[0]) / (rays @ n)  # ray-plane intersection: the depth of the plane at the pixel centre
    np.testing.assert_allclose(depth.numpy()[ys, xs], z_true, rtol=1e-5)


def test_matches_a_brute_force_reference_on_random_triangles():
    rng = np.random.default_rng(0)
    for trial in range(12):
        H, W = (int(x) for x in rng.integers(8, 40, 2))
        n = int(rng.integers(2, 8))
        spread = 3.0 if trial % 3 == 0 else 1.3  # every third case: triangles much larger than the image
        xy = rng.uniform(-spread + 1, spread, (3 * n, 2)) * [W, H]
        if trial % 2:
            xy = np.round(xy * 2) / 2  # half-pixel grid: pixel centres fall exactly on edges and vertices
        vp = np.concatenate([xy, rng.uniform(0.5, 5.0, (3 * n, 1))], 1)
        faces = np.arange(3 * n).reshape(n, 3)
        depth, fid = rasterize(torch.tensor(vp), torch.tensor(faces), H, W)
        best, ref = brute_force(vp, faces, H, W)
        np.testing.assert_array_equal(fid.numpy() >= 0, ref >= 0)
        np.testing.assert_allclose(depth.numpy()[ref >= 0], best[ref >= 0], rtol=1e-5)


def test_behind_camera_degenerate_and_back_faces():
    faces = torch.tensor([[0, 1, 2]])
    ccw = torch.tensor([[5.0, 5.0, 1.0], [5.0, 25.0, 1.0], [25.0, 5.0, 1.0]])  # counter-clockwise on screen: front
    cw = ccw[[0, 2, 1]]
    assert rasterize(ccw, faces, 30, 30, cull_backfaces=True)[1].ge(0).sum() > 0
    assert rasterize(cw, faces, 30, 30, cull_backfaces=True)[1].ge(0).sum() == 0
    assert rasterize(cw, faces, 30, 30)[1].ge(0).sum() == rasterize(ccw, faces, 30, 30)[1].ge(0).sum()
    behind = ccw.clone()
    behind[1, 2] = -1.0
    assert rasterize(behind, faces, 30, 30)[1].ge(0).sum() == 0
    # face ids stay those of the input when earlier faces are dropped
    _, fid = rasterize(torch.cat([behind, ccw]), torch.tensor([[0, 1, 2], [3, 4, 5]]), 30, 30)
    assert set(fid.unique().tolist()) == {-1, 1}
    assert rasterize(torch.tensor([[1.0, 1.0, 1.0], [9.0, 9.0, 1.0], [5.0, 5.0, 1.0]]), faces, 30, 30)[1].max() == -1
    nan = ccw.clone()
    nan[0, 0] = float("nan")
    assert rasterize(nan, faces, 30, 30)[1].max() == -1
    offscreen = ccw + torch.tensor([100.0, 0.0, 0.0])
    assert rasterize(offscreen, faces, 30, 30)[1].max() == -1
    assert rasterize(ccw, torch.zeros((0, 3), dtype=torch.int64), 30, 30)[1].max() == -1
    with pytest.raises(ValueError):
        rasterize(ccw, torch.tensor([[0, 1, 3]]), 30, 30)
    with pytest.raises(ValueError):
        rasterize(ccw[:, :2], faces, 30, 30)


def test_chunked_rasterisation_gives_the_same_result(monkeypatch):
    v, f = ellipsoid(segments=32, rings=20, axes=(0.6, 0.9, 0.4))
    vp = torch.tensor(project(v, K64))
    depth, fid = rasterize(vp, torch.tensor(f), 48, 64)
    monkeypatch.setattr(mv, "_CHUNK", 97)  # many chunks, cut between the rows of a triangle
    depth2, fid2 = rasterize(vp, torch.tensor(f), 48, 64)
    assert torch.equal(fid, fid2) and torch.equal(depth, depth2) and (fid >= 0).sum() > 500


# ----------------------------------------------------------------------------------------------- drawing


def test_draw_mesh_changes_only_the_silhouette():
    cv2 = pytest.importorskip("cv2")
    v, f = ellipsoid(axes=(0.6, 0.9, 0.4), centre=(0.2, 0.0, 3.0))
    img = np.full((48, 64, 3), GREY, np.uint8)
    out = draw_mesh(img, v, f, K64, color=(255, 0, 0), alpha=0.8)
    assert out is img
    changed = (img != GREY).any(axis=-1)
    mask = np.zeros((48, 64), np.uint8)
    px = project(v, K64)[:, :2]
    cv2.fillPoly(mask, [np.round(px[t] * 16).astype(np.int32) for t in f], 1, lineType=cv2.LINE_8, shift=4)
    grown = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)
    assert changed.sum() > 0.9 * mask.sum() > 200
    assert not (changed & ~grown).any()  # nothing outside the projected silhouette (one pixel of rounding)
    # red over grey: red at least ambient-lit, green and blue become (1 - alpha) * grey
    assert (img[changed, 0] >= 0.8 * 0.3 * 255 + 0.2 * GREY - 1).all() and img[changed, 0].max() > 200
    np.testing.assert_allclose(img[changed, 1:], (1 - 0.8) * GREY, atol=1)


def test_shading_is_brightest_where_the_surface_faces_the_camera():
    v, f = ellipsoid(segments=48, rings=32, axes=(0.8, 0.8, 0.8), centre=(0.0, 0.0, 4.0))
    img = np.zeros((48, 64, 3), np.uint8)
    draw_mesh(img, v, f, K64, color=(200, 200, 200), alpha=1.0)
    centre, rim = int(img[24, 32, 0]), int(img[24, 32 + 10, 0])
    assert centre >= 190 and rim < centre - 20 and rim >= int(0.3 * 200) - 1  # ambient keeps the rim visible


def test_nearer_mesh_occludes_the_farther_one_in_either_order():
    red = ellipsoid(axes=(0.3, 0.3, 0.3), centre=(0.0, 0.0, 2.0))
    blue = ellipsoid(axes=(1.2, 1.2, 1.2), centre=(0.1, 0.0, 4.0))
    for order in ((red, blue), (blue, red)):
        img = np.full((48, 64, 3), GREY, np.uint8)
        cols = {id(red): (255, 0, 0), id(blue): (0, 0, 255)}
        draw_meshes(img, [(v, f, cols[id(m)]) for m in order for v, f in [m]], K64, alpha=1.0)
        assert img[24, 32, 0] > 150 and img[24, 32, 2] == 0  # red (near) in the middle
        assert img[24, 32 + 13, 2] > 150 and img[24, 32 + 13, 0] == 0  # blue around it


def test_closed_meshes_show_their_outside_whichever_way_they_are_wound():
    outer_v, outer_f = ellipsoid(axes=(0.8, 0.8, 0.8), centre=(0.0, 0.0, 4.0))
    inner = ellipsoid(axes=(0.3, 0.3, 0.3), centre=(0.0, 0.0, 4.0))  # hidden inside the outer one
    for faces in (outer_f, outer_f[:, ::-1].copy()):
        img = np.zeros((48, 64, 3), np.uint8)
        draw_meshes(img, [(outer_v, faces, (255, 0, 0)), (*inner, (0, 0, 255))], K64, alpha=1.0)
        assert img[..., 2].max() == 0 and img[24, 32, 0] > 200


def test_winding_direction_and_open_meshes():
    v, f = ellipsoid(axes=(0.6, 0.9, 0.4), centre=(0.0, 0.0, 3.0))
    a = draw_mesh(np.zeros((48, 64, 3), np.uint8), v, f, K64, alpha=1.0)
    b = draw_mesh(np.zeros((48, 64, 3), np.uint8), v, f[:, ::-1].copy(), K64, alpha=1.0)  # inward winding
    np.testing.assert_array_equal(a, b)
    quad = np.array([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]], np.float32)
    for faces in ([[0, 1, 2], [0, 2, 3]], [[0, 2, 1], [0, 3, 2]]):  # an open mesh is drawn from both sides
        img = draw_mesh(np.zeros((48, 64, 3), np.uint8), quad, np.array(faces), K64, color=(100, 100, 100), alpha=1.0)
        assert (img[..., 0] == 100).sum() == 30 * 30
    with pytest.raises(ValueError):
        draw_mesh(np.zeros((48, 64), np.uint8), v, f, K64)
    with pytest.raises(ValueError):
        draw_mesh(np.zeros((48, 64, 3), np.uint8), v, f, (0.0, 60.0, 32.0, 24.0))


# ----------------------------------------------------------------------------------------------- video


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("mesh") / "tiny.mp4"
    with VideoWriter(path, 10) as w:
        for _ in range(10):
            w.write(np.full((48, 64, 3), GREY, np.uint8))
    return path


def _person(frame: int):
    v, f = ellipsoid(axes=(0.25, 0.6, 0.2), centre=(0.4 * (frame % 2), 0.0, 3.0))
    return [(3, v, f)]


def test_render_mesh_video_with_and_without_side_view(tiny_video, tmp_path):
    calls = []
    out = tmp_path / "mesh.mp4"
    info = render_mesh_video(tiny_video, _person, out, K64, height=48, on_progress=lambda *a: calls.append(a))
    assert (info.width, info.height, info.num_frames) == (64 + 48, 48, 10)
    p = probe(out)
    assert (p.width, p.height, p.num_frames) == (112, 48, 10) and abs(p.fps - 10) < 1e-6
    assert calls[-1] == ("render", 10, 10) and len(calls) == 10
    col = np.array(mesh_color(3))
    frames = [rgb.astype(int) for _, rgb in iter_frames(out)]
    assert len(frames) == 10
    for i, rgb in enumerate(frames):
        cx = int(round(32 + 60 * 0.4 * (i % 2) / 3.0))
        assert np.abs(rgb[24, cx] - (0.8 * col + 0.2 * GREY)).max() < 40  # the mesh over the video
        assert np.abs(rgb[2, 2] - GREY).max() < 6  # the video elsewhere
        side = rgb[:, 64:]
        assert np.abs(side[24, 24] - col).max() < 60 and side[2, 2].max() < 45  # the person on a dark panel

    out2 = tmp_path / "overlay.mp4"
    info2 = render_mesh_video(tiny_video, _person, out2, (30.0, 30.0, 16.0, 12.0), height=96, side_view=False)
    p2 = probe(out2)
    assert (info2.width, info2.height) == (128, 96) == (p2.width, p2.height) and p2.num_frames == 10
    # intrinsics are in source pixels: scaled x2 with the output, the person stays at the same place in the image
    _, rgb = next(iter(iter_frames(out2)))
    assert np.abs(rgb[24, 32].astype(int) - (0.8 * col + 0.2 * GREY)).max() < 40


def test_render_mesh_video_leaves_nothing_when_meshes_at_fails(tiny_video, tmp_path):
    out = tmp_path / "sub" / "mesh.mp4"
    for side in (True, False):
        calls: list[int] = []
        fail_at = 2 if side else 1  # the side view samples every frame first: fail mid-render either way

        def broken(frame: int, calls=calls, fail_at=fail_at):
            calls.append(frame)
            if frame == 5 and calls.count(5) == fail_at:
                raise RuntimeError("boom")
            return _person(frame)

        with pytest.raises(RuntimeError, match="boom"):
            render_mesh_video(tiny_video, broken, out, K64, height=48, side_view=side)
        assert calls[-6:] == [0, 1, 2, 3, 4, 5]  # frames 0-4 were rendered and written before the failure
        assert not out.exists()
        assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_render_mesh_video_errors(tiny_video, tmp_path):
    with pytest.raises(VideoReadError):
        render_mesh_video(tmp_path / "missing.mp4", _person, tmp_path / "o.mp4", K64)
    with pytest.raises(ConfigError):
        render_mesh_video(tiny_video, _person, tmp_path / "o.mp4", (0.0, 60.0, 32.0, 24.0))
    with pytest.raises(ConfigError):
        render_mesh_video(tiny_video, _person, tmp_path / "o.mp4", (60.0, 60.0))
    with pytest.raises(ConfigError):
        render_mesh_video(tiny_video, _person, tmp_path / "o.mp4", K64, height=8)
    with pytest.raises(ExportError):
        render_mesh_video(tiny_video, _person, tiny_video, K64)
    # no people at all: the plain video (and an empty side panel)
    info = render_mesh_video(tiny_video, lambda f: [], tmp_path / "empty.mp4", K64, height=48)
    assert info.num_frames == 10 and info.width == 112
