"""Mesh overlay video: a CPU z-buffer rasteriser in torch, flat Lambert shading, and the ``mbcli mesh`` render
``[input + shaded meshes | side view]``.

Conventions:
- 3D points are metres in the OpenCV camera frame (x right, y down, z forward). Intrinsics are ``K = (fx, fy, cx,
  cy)`` in pixels with the origin at the top-left pixel *corner* (mbcli.types), so pixel (row i, column j) has its
  centre at (j + 0.5, i + 0.5) and scaling an image by s scales all four numbers by s.
- ``rasterize`` covers a pixel when its centre lies inside or on the edge of a projected triangle (no top-left
  rule: a centre exactly on a shared edge goes to the nearer triangle, or the lower face index on a depth tie).
  Depth is interpolated perspective-correctly (1/z is linear in screen space). Triangles with a vertex at
  depth <= ``near`` or a non-finite coordinate are dropped (not clipped); so are zero-area ones.
- Front faces wind counter-clockwise as seen from the camera (the right-hand normal points at the camera); in
  image coordinates (v down) that is a negative signed area.
- The rasteriser is vectorised (no Python loop over triangles), in three bulk stages: per triangle, its pixel
  bounding box (clipped to the image) and barycentric gradients; per scanline of every box (``repeat_interleave``
  over the box heights), the exact span of pixel centres inside the triangle, from its three edge half-planes; per
  covered pixel (``repeat_interleave`` over the spans, in chunks of at most ``_CHUNK`` pixels), the depth. The
  nearest triangle per pixel comes from ``scatter_reduce(amin)`` over an int64 key (float32 depth bits << 32 |
  face index; positive float32 bit patterns sort like their values), which yields depth and face id together and
  deterministically. Work grows with the covered area plus the scanlines, never with empty bounding-box corners,
  so large triangles are exact and cheap. Per-triangle and per-row maths is float64, per-pixel depth float32.
- Shading is flat (per-face normals) with a headlight: intensity = ambient + (1 - ambient) * |cos| where cos is
  between the face normal and the direction from the face to the camera. Closed, consistently wound meshes (every
  directed edge has its reverse exactly once; SMPL is one) are back-face culled before rasterising, whichever way
  they are wound (the signed volume tells); other meshes are drawn two-sided. Edges are not anti-aliased.
- Several meshes share one z-buffer (``draw_meshes``), so nearer people occlude farther ones.
- The side view is a second, virtual pinhole camera fixed for the whole video: it looks along -x from the image's
  right-hand side (the real camera is then on the panel's left, the head up), i.e. the real camera turned 90
  degrees about the vertical (y) axis through the people's centre. Centre and distance come from up to
  ``_SIDE_SAMPLES`` frames sampled before rendering, so the panel does not zoom; people moving in depth move
  sideways in it, while motion across the image (the side camera's depth) is followed: each frame is shifted along
  the real x so the people's centre stays at the pivot (a person walking across keeps its size).
- Torch work runs with the caller's ``torch.get_num_threads()``; nothing here changes it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from mbcli.errors import ConfigError
from mbcli.export.video import encode_drawn, person_colors, prepare_render
from mbcli.types import VideoInfo

__all__ = ["rasterize", "draw_mesh", "draw_meshes", "render_mesh_video", "mesh_color"]

_CHUNK = 1 << 21  # covered pixels processed at once (bounds the temporaries to ~100 MB)
_BG_KEY = torch.iinfo(torch.int64).max
_PANEL_BG = (24, 24, 28)
_AMBIENT = 0.3
_EDGE_EPS = 1e-7  # px: a pixel centre this close to an edge counts as on it (float64 rounding is far below)
_SIDE_SAMPLES = 32

ArrayLike = np.ndarray | torch.Tensor


# ----------------------------------------------------------------------------------------------- rasteriser


def rasterize(
    verts_px: ArrayLike,
    faces: ArrayLike,
    height: int,
    width: int,
    near: float = 1e-3,
    cull_backfaces: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Z-buffer rasterise triangles given in screen space.

    ``verts_px`` (V,3): u px (right), v px (down), depth (metres, > 0 in front of the camera); ``faces`` (F,3)
    vertex indices. Returns ``depth`` (H,W) float32 (+inf on background) and ``face_id`` (H,W) int64 (-1 on
    background), the nearest triangle covering each pixel centre. With ``cull_backfaces`` triangles whose
    vertices run clockwise on screen (back faces, see the module docstring) are skipped.
    """
    H, W = int(height), int(width)
    keys, (x0, y0, x1, y1) = _zbuffer(verts_px, faces, H, W, near, cull_backfaces)
    depth = torch.full((H, W), math.inf, dtype=torch.float32)
    face_id = torch.full((H, W), -1, dtype=torch.int64)
    if keys is not None:
        bg = keys == _BG_KEY
        face_id[y0:y1, x0:x1] = torch.where(bg, -1, keys & 0xFFFFFFFF)
        depth[y0:y1, x0:x1] = torch.where(bg, math.inf, (keys >> 32).to(torch.int32).view(torch.float32))
    return depth, face_id


def _zbuffer(
    verts_px: ArrayLike, faces: ArrayLike, H: int, W: int, near: float, cull: bool
) -> tuple[torch.Tensor | None, tuple[int, int, int, int]]:
    """The z-buffer of the region that the triangles can touch: ``keys`` (y1-y0, x1-x0) int64 (float32 depth bits
    << 32 | face index; _BG_KEY where empty) and the region (x0, y0, x1, y1), end-exclusive. None when empty."""
    if H < 1 or W < 1:
        raise ValueError(f"bad raster size {W}x{H}")
    v = torch.as_tensor(verts_px).detach().to("cpu", torch.float64)
    f = torch.as_tensor(faces).detach().to("cpu", torch.int64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"verts_px must be (V,3), got {tuple(v.shape)}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must be (F,3), got {tuple(f.shape)}")
    if f.numel() and (int(f.min()) < 0 or int(f.max()) >= v.shape[0]):
        raise ValueError(f"faces index vertices outside 0..{v.shape[0] - 1}")
    if f.shape[0] >= 1 << 31:
        raise ValueError("too many faces")
    empty = None, (0, 0, 0, 0)
    if f.shape[0] == 0:
        return empty

    # --- per triangle (float64): validity, culling, clipped pixel bounding box, barycentric gradients, 1/z
    ok_v = torch.isfinite(v).all(dim=1) & (v[:, 2] > near)
    fT = f.t().contiguous().view(-1)  # (3F,): first vertices, then second, then third: contiguous rows below
    ids = None  # the face indices of f's rows when some are dropped here
    if not bool(ok_v.all()):
        ids = torch.nonzero(ok_v.index_select(0, fT).view(3, -1).all(dim=0)).squeeze(1)
        f = f.index_select(0, ids)
        fT = f.t().contiguous().view(-1)
    u = v[:, 0].contiguous().index_select(0, fT).view(3, -1)
    w = v[:, 1].contiguous().index_select(0, fT).view(3, -1)
    ax, ay = u[1] - u[0], w[1] - w[0]
    bx, by = u[2] - u[0], w[2] - w[0]
    area2 = ax * by - ay * bx  # twice the signed area; < 0: counter-clockwise on screen (front face)
    keep = area2 < 0 if cull else area2 != 0
    # pixel indices whose centres (i + 0.5) fall in the triangle's bounding box, clipped to the image
    umin = torch.minimum(torch.minimum(u[0], u[1]), u[2]).clamp_(-2.0, W + 2.0)
    umax = torch.maximum(torch.maximum(u[0], u[1]), u[2]).clamp_(-2.0, W + 2.0)
    wmin = torch.minimum(torch.minimum(w[0], w[1]), w[2]).clamp_(-2.0, H + 2.0)
    wmax = torch.maximum(torch.maximum(w[0], w[1]), w[2]).clamp_(-2.0, H + 2.0)
    box = torch.stack([umin, wmin, umax, wmax]).sub_(0.5)
    box[:2].ceil_()
    box[2:].floor_()
    box = box.to(torch.int64)
    box[:2].clamp_(min=0)
    box[2].clamp_(max=W - 1)
    box[3].clamp_(max=H - 1)
    keep &= (box[2] >= box[0]) & (box[3] >= box[1])
    idx = torch.nonzero(keep).squeeze(1)
    if idx.numel() == 0:
        return empty
    xlo, ylo, xhi, yhi = box.index_select(1, idx)  # 4 x (F',), the rare dim-1 gather: one call on a small table
    rx0, ry0, rx1, ry1 = int(xlo.min()), int(ylo.min()), int(xhi.max()) + 1, int(yhi.max()) + 1
    RW = rx1 - rx0
    ax, ay, bx, by, area2 = (x.index_select(0, idx) for x in (ax, ay, bx, by, area2))
    inv = 1.0 / area2
    # barycentrics at p = (x, y) - vertex 0: l1 = g1x px + g1y py, l2 = g2x px + g2y py, l0 = 1 - l1 - l2
    g1x, g1y, g2x, g2y = by * inv, -bx * inv, -ay * inv, ax * inv
    iz = 1.0 / v[:, 2].contiguous().index_select(0, f.index_select(0, idx).t().contiguous().view(-1)).view(3, -1)
    d1, d2 = iz[1] - iz[0], iz[2] - iz[0]
    bh = yhi - ylo + 1
    # per-triangle attributes gathered per row, one row of the table each
    u0, w0 = u[0].index_select(0, idx), w[0].index_select(0, idx)
    fa = torch.stack([w0, u0 - 0.5, g1y, g2y, -(g1x + g2x), g1x, g2x, iz[0], d1, d2, d1 * g1x + d2 * g2x], dim=1)
    ia = torch.stack([ylo, torch.cumsum(bh, 0) - bh, xlo, xhi, idx if ids is None else ids.index_select(0, idx)], 1)

    # --- per row (a scanline through pixel centres): the exact span of pixel centres inside the triangle
    R = int(bh.sum())
    t = torch.repeat_interleave(torch.arange(len(idx)), bh, output_size=R)
    fr = fa.index_select(0, t).unbind(1)  # 11 x (R,)  (index_select: several times faster than x[t])
    y0, start, xlo, xhi, face = ia.index_select(0, t).unbind(1)
    y = y0 + (torch.arange(R) - start)
    py = (y.to(torch.float64) + 0.5) - fr[0]
    k1, k2 = fr[2] * py, fr[3] * py  # l1, l2 at px = 0 on this row
    k = torch.stack([1.0 - k1 - k2, k1, k2])
    g = torch.stack(fr[4:7])  # d l_i / d px
    bound = -k / g  # l_i(px) >= 0  <=>  px >= bound (g > 0) or px <= bound (g < 0)
    lo = torch.where(g > 0, bound, -math.inf).amax(dim=0)
    hi = torch.where(g < 0, bound, math.inf).amin(dim=0)
    shift = fr[1]  # px -> pixel index: x = px + u0 - 0.5; _EDGE_EPS: centres on an edge are inside
    xa = torch.maximum(torch.ceil((lo + shift).sub_(_EDGE_EPS).clamp_(-1.0, W + 1.0)).to(torch.int64), xlo)
    xb = torch.minimum(torch.floor((hi + shift).add_(_EDGE_EPS).clamp_(-1.0, W + 1.0)).to(torch.int64), xhi)
    count = (xb - xa + 1).clamp_(min=0)
    count[((g == 0) & (k < -1e-12)).any(dim=0)] = 0  # an edge parallel to the row, the row outside it (rounding)
    # 1/z along the row: A at the first pixel, plus B per pixel
    pxa = xa.to(torch.float64) - shift
    A = fr[7] + fr[8] * (k1 + fr[5] * pxa) + fr[9] * (k2 + fr[6] * pxa)
    rows = torch.nonzero(count).squeeze(1)
    if rows.numel() == 0:
        return empty
    count = count.index_select(0, rows)
    zab = torch.stack([A, fr[10]], dim=1).to(torch.float32).index_select(0, rows)
    pf = torch.stack([(y - ry0) * RW + (xa - rx0), face], dim=1).index_select(0, rows)

    # --- per pixel, in chunks of about _CHUNK pixels
    keys = torch.full(((ry1 - ry0) * RW,), _BG_KEY, dtype=torch.int64)
    ends = torch.cumsum(count, 0)
    total = int(ends[-1])
    cuts = [0]
    if total > _CHUNK:
        marks = torch.arange(_CHUNK, total, _CHUNK, dtype=torch.int64)
        cuts += sorted(set(torch.searchsorted(ends, marks, right=True).tolist()) - {0, len(rows)})
    cuts.append(len(rows))
    for a, b in zip(cuts[:-1], cuts[1:]):
        c = count[a:b]
        n = int(c.sum())
        r = torch.repeat_interleave(torch.arange(b - a), c, output_size=n)
        j = torch.arange(n) - (torch.cumsum(c, 0) - c).index_select(0, r)
        za, zb = zab[a:b].index_select(0, r).unbind(1)
        pix, fid = pf[a:b].index_select(0, r).unbind(1)
        depth = torch.reciprocal((za + zb * j.to(torch.float32)).clamp_(min=1e-30))
        key = (depth.view(torch.int32).to(torch.int64) << 32) | fid
        keys.scatter_reduce_(0, pix + j, key, reduce="amin", include_self=True)
    return keys.view(ry1 - ry0, RW), (rx0, ry0, rx1, ry1)


# ----------------------------------------------------------------------------------------------- shading


def mesh_color(track_id: int) -> tuple[int, int, int]:
    """A person's mesh colour (RGB): their own colour in the skeleton videos (person_colors' centre colour)."""
    return person_colors(track_id)[2]


_CLOSED_CACHE: dict[tuple[tuple[int, ...], int], bool] = {}


def _closed_consistent(faces: np.ndarray) -> bool:
    """Whether every directed edge of ``faces`` occurs once and its reverse occurs once (a closed, consistently
    wound surface). Cached by the faces' contents (meshes keep their faces from frame to frame)."""
    key = (faces.shape, hash(faces.tobytes()))
    hit = _CLOSED_CACHE.get(key)
    if hit is not None:
        return hit
    if len(faces) < 4:
        ok = False
    else:
        a = faces.astype(np.int64)
        n = int(a.max()) + 1
        src = a.reshape(-1)
        dst = a[:, [1, 2, 0]].reshape(-1)
        fwd = np.sort(src * n + dst)
        rev = np.sort(dst * n + src)
        ok = bool(np.all(fwd[1:] != fwd[:-1]) and np.array_equal(fwd, rev))
    if len(_CLOSED_CACHE) > 64:
        _CLOSED_CACHE.clear()
    _CLOSED_CACHE[key] = ok
    return ok


def _as_mesh(vertices: ArrayLike, faces: ArrayLike) -> tuple[torch.Tensor, np.ndarray]:
    v = torch.as_tensor(vertices).detach().to("cpu", torch.float32)
    f = faces.detach().cpu().numpy() if isinstance(faces, torch.Tensor) else np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"mesh vertices must be (V,3), got {tuple(v.shape)}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"mesh faces must be integer (F,3), got {f.dtype} {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
        raise ValueError(f"mesh faces index vertices outside 0..{v.shape[0] - 1}")
    return v, f


def _check_k(K: Sequence[float]) -> tuple[float, float, float, float]:
    k = tuple(float(x) for x in K)
    if len(k) != 4 or not all(math.isfinite(x) for x in k) or k[0] <= 0 or k[1] <= 0:
        raise ValueError(f"K must be (fx, fy, cx, cy) with fx, fy > 0, got {K!r}")
    return k  # (a length-4 tuple: checked above)


def draw_meshes(
    image: np.ndarray,
    meshes: Sequence[tuple[ArrayLike, ArrayLike, tuple[int, int, int]]],
    K: Sequence[float],
    alpha: float = 0.8,
    near: float = 1e-3,
) -> np.ndarray:
    """Draw ``meshes`` = [(vertices_cam (V,3) m, faces (F,3), (r, g, b)), ...] on ``image`` (RGB uint8 (H,W,3),
    modified in place and returned) with one shared z-buffer, Lambert-shaded, blended with opacity ``alpha``.

    ``K = (fx, fy, cx, cy)`` in ``image``'s pixels. Parts of a mesh off-screen are not drawn; triangles with a
    vertex closer than ``near`` metres (or behind the camera) are dropped.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 (H,W,3) image, got {image.dtype} {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    fx, fy, cx, cy = _check_k(K)
    H, W = image.shape[:2]
    verts, faces, colors, offset = [], [], [], 0
    for vertices, mesh_faces, color in meshes:
        v, fa = _as_mesh(vertices, mesh_faces)
        if fa.shape[0] == 0 or v.shape[0] == 0:
            continue
        ft = torch.from_numpy(fa.astype(np.int64, copy=False))
        tri = v.index_select(0, ft.view(-1)).view(-1, 3, 3)
        n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
        centre = tri.mean(dim=1)
        facing = (n * centre).sum(1)  # < 0: the right-hand normal points at the camera
        cos = facing.abs() / (n.norm(dim=1) * centre.norm(dim=1)).clamp(min=1e-12)
        if _closed_consistent(fa):
            vol = (tri[:, 0] * torch.linalg.cross(tri[:, 1], tri[:, 2], dim=1)).sum()  # 6x signed volume
            front = torch.nonzero(facing < 0 if vol >= 0 else facing > 0).squeeze(1)
            ft, cos = ft.index_select(0, front), cos.index_select(0, front)
        shade = _AMBIENT + (1.0 - _AMBIENT) * cos.clamp(0.0, 1.0)
        rgb = torch.tensor([float(c) for c in color], dtype=torch.float32)
        colors.append(shade[:, None] * rgb[None, :])
        verts.append(v)
        faces.append(ft + offset)
        offset += v.shape[0]
    if not faces:
        return image
    v = torch.cat(verts)
    z = v[:, 2]
    zs = torch.where(z > near, z, torch.ones_like(z))  # vertices behind: their triangles are dropped anyway
    px = torch.stack([fx * v[:, 0] / zs + cx, fy * v[:, 1] / zs + cy, torch.where(z > near, z, -1.0)], dim=1)
    keys, (x0, y0, x1, y1) = _zbuffer(px, torch.cat(faces), H, W, near, False)
    if keys is None:
        return image
    # colour lookup table: one row per face, plus the background's row (face bits of _BG_KEY clipped to it)
    lut = torch.cat(colors).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()
    lut = np.concatenate([lut, np.zeros((1, 3), np.uint8)])
    k = keys.numpy()
    hit = k != _BG_KEY
    layer = np.take(lut, np.minimum(k & 0xFFFFFFFF, len(lut) - 1), axis=0)  # (h, w, 3)
    region = image[y0:y1, x0:x1]
    if alpha < 1.0:
        layer = cv2.addWeighted(region, 1.0 - alpha, layer, alpha, 0.0)
    np.copyto(region, layer, where=hit[..., None])
    return image


def draw_mesh(
    image: np.ndarray,
    vertices_cam: ArrayLike,
    faces: ArrayLike,
    K: Sequence[float],
    color: tuple[int, int, int] = (200, 200, 200),
    alpha: float = 0.8,
) -> np.ndarray:
    """Draw one Lambert-shaded mesh (vertices (V,3) metres in the camera frame, faces (F,3)) over ``image`` (RGB
    uint8, modified in place and returned). ``K = (fx, fy, cx, cy)`` in ``image``'s pixels. See draw_meshes."""
    return draw_meshes(image, [(vertices_cam, faces, color)], K, alpha=alpha)


# ----------------------------------------------------------------------------------------------- side view


class _SideView:
    """The fixed virtual camera of the side panel (see the module docstring).

    It sits on the line through ``pivot`` parallel to the real camera's x axis, ``distance`` metres to the right,
    looking back along -x; ``half_width`` metres around the pivot (across and up/down) fill 94% of the panel at
    the nearest depth (``distance - depth_half``).
    """

    def __init__(self, pivot: np.ndarray, half_width: float, depth_half: float, size: int) -> None:
        self.size = int(size)
        self.pivot_x = float(pivot[0])
        self.distance = max(3.0 * half_width, depth_half + 0.5)
        self.cam = torch.as_tensor(np.asarray(pivot, dtype=np.float64) + [self.distance, 0.0, 0.0], dtype=torch.float32)
        # rows: the virtual camera's x (= real +z: farther from the real camera is further right), y (down),
        # z (forward = real -x)
        self.R = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
        f = 0.47 * self.size * (self.distance - depth_half) / half_width
        self.K = (f, f, self.size / 2.0, self.size / 2.0)
        self.background = np.empty((self.size, self.size, 3), np.uint8)
        self.background[:] = _PANEL_BG

    @classmethod
    def fit(cls, samples: list[list[np.ndarray]], size: int) -> _SideView:
        """``samples``: per sampled frame, the vertex arrays (V,3) of its people. The pivot is the median of the
        frames' centres (mean of the people's mean vertices) across, and the middle of the vertices' height range
        vertically; the extent covers every sampled vertex (at least 0.5 m each way)."""
        centres, frames = [], []
        for people in samples:
            people = [p[np.isfinite(p).all(axis=1)] for p in people]
            people = [p for p in people if len(p)]
            if people:
                centres.append(np.mean([p.mean(axis=0) for p in people], axis=0))
                frames.append(np.concatenate(people))
        if not centres:
            return cls(np.array([0.0, 0.0, 3.0]), 1.0, 0.5, size)
        # the panel follows the people sideways (along the real camera's x, the side camera's depth), so a person
        # crossing the image keeps its size there: each frame is shifted to the pivot's x
        pivot = np.median(np.asarray(centres), axis=0)
        pts = np.concatenate([f - [c[0] - pivot[0], 0.0, 0.0] for f, c in zip(frames, centres)])
        pivot[1] = 0.5 * (pts[:, 1].min() + pts[:, 1].max())
        ext = np.abs(pts - pivot).max(axis=0)  # (3,) metres
        half = max(float(ext[1]), float(ext[2]), 0.5) * 1.03
        return cls(pivot, half, float(ext[0]), size)

    def transform(self, vertices: ArrayLike, centre_x: float | None = None) -> torch.Tensor:
        """(V,3) real-camera points -> the side camera's frame; with ``centre_x`` (the frame's people centre along
        the real x) shifted sideways so that centre sits at the pivot."""
        v = torch.as_tensor(vertices).detach().to("cpu", torch.float32)
        if centre_x is not None:
            v = v - torch.tensor([centre_x - self.pivot_x, 0.0, 0.0])
        return (v - self.cam) @ self.R.T


# ----------------------------------------------------------------------------------------------- video


MeshesAt = Callable[[int], Sequence[tuple[int, ArrayLike, ArrayLike]]]


def render_mesh_video(
    video_path: str | os.PathLike,
    meshes_at: MeshesAt,
    out_path: str | os.PathLike,
    intrinsics: Sequence[float],
    height: int = 720,
    side_view: bool = True,
    crf: int = 23,
    on_progress: Callable[[str, int, int], None] | None = None,
    alpha: float = 0.8,
) -> VideoInfo:
    """Render ``[input + shaded meshes | side view]`` (or the overlay alone with ``side_view=False``) to ``out_path``.

    ``meshes_at(frame_index)`` returns that frame's ``[(track_id, vertices_cam (V,3) m, faces (F,3)), ...]`` in the
    source camera frame with absolute translation; ``intrinsics = (fx, fy, cx, cy)`` in the source video's
    displayed (upright) pixels, scaled here to the output size. Streams the video frame by frame; the left panel
    is the frame scaled to ``height`` px (even sizes), the side panel a ``height`` x ``height`` square. With
    ``side_view``, ``meshes_at`` is first called on up to 32 evenly spread frames to place the side camera, so it
    must accept any frame index in any order. Writes H.264 yuv420p at the source fps, atomically (nothing is left
    at ``out_path`` when anything fails, ``meshes_at`` included); calls ``on_progress("render", done, total)``.
    ``alpha`` is the meshes' opacity over the video (the side panel is opaque). Returns the VideoInfo of the
    written file. Raises VideoReadError for a bad input, ExportError for a bad output, ConfigError for bad options.
    """
    src, out, W, H = prepare_render(video_path, out_path, height)
    try:
        fx, fy, cx, cy = _check_k(intrinsics)
    except (TypeError, ValueError):
        raise ConfigError(f"intrinsics must be (fx, fy, cx, cy) with fx, fy > 0, got {intrinsics!r}") from None
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"mesh opacity must be in [0, 1], got {alpha}")
    sx, sy = W / src.width, H / src.height
    K = (fx * sx, fy * sy, cx * sx, cy * sy)

    side = None
    if side_view:
        n = max(1, src.num_frames)
        picks = sorted({int(i) for i in np.linspace(0, n - 1, min(n, _SIDE_SAMPLES)).round()})
        samples = [[_vertices_np(v) for _, v, _ in meshes_at(i)] for i in picks]
        side = _SideView.fit(samples, H)

    def draw(f: int, rgb: np.ndarray) -> np.ndarray:
        people = list(meshes_at(f))
        draw_meshes(rgb, [(v, fa, mesh_color(t)) for t, v, fa in people], K, alpha=alpha)
        if side is not None:
            panel = side.background.copy()
            verts = [_vertices_np(v) for _, v, _ in people]
            finite = [v[np.isfinite(v).all(axis=1)] for v in verts]
            cx = float(np.mean([v[:, 0].mean() for v in finite if len(v)])) if any(len(v) for v in finite) else None
            draw_meshes(panel, [(side.transform(v, cx), fa, mesh_color(t)) for v, (t, _, fa) in zip(verts, people)],
                        side.K, 1.0)
            rgb = np.concatenate([rgb, panel], axis=1)
        return rgb

    return encode_drawn(video_path, src, out, W, H, draw, crf, on_progress)


def _vertices_np(v: ArrayLike) -> np.ndarray:
    a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    return a.reshape(-1, 3).astype(np.float64)
