"""Video exports: the 2D skeleton overlay and the side-by-side [input + 2D overlay | 3D skeleton] H.264 video.

Drawing is plain OpenCV (anti-aliased ``cv2.line``/``cv2.circle`` with sub-pixel coordinates) on RGB uint8 frames;
no matplotlib figure per frame (FORMATS.md section 5: ~10 fps with matplotlib, >1000 fps for a cv2 panel).
Layout follows FORMATS.md section 5 (VideoPose3D's "Input | Reconstruction" figure, GVHMR's horizontal merge):

- Left panel: the input frame scaled to ``height`` px, each tracked person's 2D skeleton drawn on it. Colours are
  per person (``track_id``): left-side limbs in a blue family, right-side limbs in a red/orange family, centre
  bones and the ``#id`` label in the person's own colour. Joints whose score is below ``score_threshold`` are not
  drawn, nor are the bones touching them.
- Right panel: a square panel of the same height with the 3D skeleton(s), drawn with our own orthographic camera.
  Pose3D in the "camera" frame (OpenCV: x right, y down, z forward) is turned into a Y-up view frame by a 180 degree
  rotation about x: (x, y, z) -> (x, -y, -z), so the head is up and azimuth 0 looks from the input camera.
  "world" poses are taken as Y-up already (the mbcli.motion convention, FORMATS.md section 3).
  The view is R = Rx(elevation) @ Ry(azimuth) (geometry.euler_to_matrix, order "XYZ"); positive azimuth orbits
  the camera towards the subject's right side, positive elevation looks down.
  - **World view** (every person with a 3D pose has ``MotionResult.world``, as ``mbcli lift`` gives): the people
    are drawn where they are in the clip's world frame (Y up, the floor at y = 0, the grid on the floor), so a
    walker crosses the panel, a jump leaves the grid, and people keep their places; the world frame's -Z is the
    camera's horizontal viewing direction, so azimuth 0 still looks from the input camera. Each root's path over
    the last seconds is traced on the floor. The panel is centred on the median root position of the clip.
  - **Root-centred view** (otherwise): every person is root-centred in every frame; with several people they are
    spread along x by where their 2D root is in the image (pixels converted to 3D units with the median ratio of
    3D to 2D body height), so the panel keeps the people's left-to-right order; the ground grid is at the feet
    (the 5th percentile of each frame's lowest joint).
  Scale, centre and the grid are fixed for the whole video, so the skeleton does not breathe; bones are drawn far
  to near.
- Output: H.264 yuv420p at the source fps through mbcli.video.VideoWriter (atomic: nothing is left on error).
  Decoding runs in a helper thread a few frames ahead (bounded queue), overlapping drawing and encoding.
  Frame f of the output is frame f of the input; a person is drawn on frame f only where their Keypoints2D /
  Pose3D ``frame_indices`` contain f.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mbcli.errors import ConfigError, ExportError
from mbcli.geometry import euler_to_matrix
from mbcli.skeletons import Skeleton, get_skeleton
from mbcli.types import Keypoints2D, MotionResult, Pose3D, VideoInfo
from mbcli.video import VideoWriter, iter_frames, probe

__all__ = [
    "render_overlay_frame",
    "render_side_by_side",
    "View3D",
    "camera_to_view",
    "drawing_edges",
    "person_colors",
]

# RGB colours. Person k uses LEFT[k], RIGHT[k], CENTRE[k] (k = track_id modulo the palette length).
_LEFT = ((30, 144, 255), (0, 206, 209), (100, 110, 255), (0, 170, 140), (135, 206, 250), (70, 70, 220))
_RIGHT = ((255, 69, 0), (255, 165, 0), (220, 20, 120), (255, 215, 0), (205, 92, 60), (255, 120, 160))
_CENTRE = ((50, 220, 50), (250, 250, 250), (190, 90, 255), (240, 240, 60), (90, 240, 200), (255, 110, 255))
_PANEL_BG = (24, 24, 28)
_GRID = (70, 72, 80)
_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn at 1/16 px
_ONE = 1 << _SHIFT
_TRAIL_S = 3.0  # seconds of root path traced on the floor in the world view


def person_colors(track_id: int) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """(left, right, centre) RGB colours of a person."""
    k = int(track_id) % len(_LEFT)
    return _LEFT[k], _RIGHT[k], _CENTRE[k]


def _side(name: str) -> int:
    """0 centre, 1 left, 2 right, from the joint name."""
    return 1 if name.startswith("left_") else 2 if name.startswith("right_") else 0


_EDGE_CACHE: dict[Skeleton, tuple[np.ndarray, np.ndarray]] = {}


def drawing_edges(skeleton: Skeleton | str) -> tuple[np.ndarray, np.ndarray]:
    """The lines drawn for a skeleton: (E,2) joint index pairs and (E,) side codes (0 centre, 1 left, 2 right).

    The skeleton's bones, except that COCO-like tables, which hang the shoulders off the nose to make a tree, are
    drawn with a torso instead: the nose-shoulder bones are dropped and shoulder-shoulder and hip-hip lines are
    added whenever the two joints are not already joined through a shared parent bone. A bone takes the side of
    its side joint (thorax-left_shoulder is left); a left-right line is centre.
    """
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    if sk in _EDGE_CACHE:
        return _EDGE_CACHE[sk]
    names = sk.joints
    edges: list[tuple[int, int]] = []
    for p, c in sk.bones:
        if names[c] in ("left_shoulder", "right_shoulder") and names[p] in ("nose", "neck_nose"):
            continue
        edges.append((p, c))
    kept = set(edges)
    for a, b in (("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")):
        if a in sk.index and b in sk.index:
            ia, ib = sk.index[a], sk.index[b]
            pa, pb = sk.parents[ia], sk.parents[ib]
            if not (pa == pb and (pa, ia) in kept and (pb, ib) in kept):
                edges.append((ia, ib))
    sides = []
    for p, c in edges:
        sp, sc = _side(names[p]), _side(names[c])
        sides.append(sc if sp in (0, sc) else (sp if sc == 0 else 0))
    out = (np.asarray(edges, dtype=np.int64).reshape(-1, 2), np.asarray(sides, dtype=np.int64))
    _EDGE_CACHE[sk] = out
    return out


def _fix(v: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(v, dtype=np.float64) * _ONE).astype(np.int64)


# ----------------------------------------------------------------------------------------------- 2D overlay


def render_overlay_frame(
    frame: np.ndarray,
    keypoints_xy: np.ndarray,
    scores: np.ndarray | None,
    skeleton: Skeleton | str,
    track_ids: Sequence[int] | None = None,
    score_threshold: float = 0.3,
    thickness: int | None = None,
    labels: bool = True,
) -> np.ndarray:
    """Draw N people's 2D skeletons on ``frame`` (RGB uint8 (H,W,3), modified in place and returned).

    keypoints_xy (N,J,2) or (J,2) px in ``frame``'s pixel coordinates; scores (N,J) or None (all visible);
    track_ids (N,) pick colours and the ``#id`` labels (default 0..N-1). Joints with score < score_threshold or
    non-finite coordinates are skipped, with their bones. ``thickness`` defaults to H/240 px (at least 2).
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 (H,W,3) frame, got {frame.dtype} {frame.shape}")
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    xy = np.asarray(keypoints_xy, dtype=np.float64)
    if xy.ndim == 2:
        xy = xy[None]
    N, J, _ = xy.shape
    if J != sk.num_joints:
        raise ValueError(f"keypoints have {J} joints, skeleton {sk.name} has {sk.num_joints}")
    s = np.ones((N, J)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(N, J)
    ids = list(range(N)) if track_ids is None else [int(t) for t in track_ids]
    H = frame.shape[0]
    t = max(2, int(round(H / 240))) if thickness is None else int(thickness)
    edges, sides = drawing_edges(sk)
    joint_side = np.array([_side(n) for n in sk.joints])
    for n in range(N):
        vis = (s[n] >= score_threshold) & np.isfinite(xy[n]).all(axis=1)
        if not vis.any():
            continue
        cols = person_colors(ids[n])
        pts = _fix(np.where(vis[:, None], xy[n], 0.0))
        for (a, b), side in zip(edges, sides):
            if vis[a] and vis[b]:
                cv2.line(frame, tuple(pts[a]), tuple(pts[b]), _col(cols, side), t, cv2.LINE_AA, _SHIFT)
        for j in np.flatnonzero(vis):
            cv2.circle(frame, tuple(pts[j]), (t + 1) * _ONE, _col(cols, joint_side[j]), -1, cv2.LINE_AA, _SHIFT)
        if labels:
            top = xy[n][vis]
            _label(frame, f"#{ids[n]}", float(np.median(top[:, 0])), float(top[:, 1].min()) - 3 * t, cols[2], H)
    return frame


def _col(cols, side: int) -> tuple[int, int, int]:
    """cols = (left, right, centre); side 0 centre, 1 left, 2 right."""
    return cols[2] if side == 0 else cols[0] if side == 1 else cols[1]


def _label(img: np.ndarray, text: str, cx: float, bottom: float, color, H: int) -> None:
    scale = max(0.35, H / 1200)
    th = max(1, int(round(H / 600)))
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    x0 = int(round(cx - tw / 2))
    y1 = int(round(bottom))
    x0 = min(max(x0, 0), max(0, img.shape[1] - tw - 4))
    y1 = min(max(y1, tht + base + 4), img.shape[0] - 1)
    cv2.rectangle(img, (x0, y1 - tht - base - 4), (x0 + tw + 4, y1), color, -1)
    cv2.putText(img, text, (x0 + 2, y1 - base - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th, cv2.LINE_AA)


# ----------------------------------------------------------------------------------------------- 3D panel


def camera_to_view(xyz: np.ndarray, frame: str = "camera") -> np.ndarray:
    """(..., 3) pose coordinates -> the Y-up view frame: camera (x right, y down, z forward) -> (x, -y, -z);
    "world" poses are returned unchanged (taken as Y-up)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) points, got {xyz.shape}")
    if frame == "camera":
        return xyz * np.array([1.0, -1.0, -1.0])
    if frame == "world":
        return xyz.copy()
    raise ValueError(f"frame must be camera or world, got {frame!r}")


def _nice_step(x: float) -> float:
    """The 1-2-5 number nearest above x (grid spacing)."""
    if not x > 0:
        return 1.0
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * e >= x * 0.999:
            return m * e
    return 10 * e


@dataclass
class View3D:
    """A fixed orthographic camera for a square panel of ``size`` px looking at Y-up points.

    Build it with ``View3D.fit(points_up, size, azimuth, elevation)`` so that all points (over the whole video)
    fit; ``project`` maps (..., 3) Y-up points to (..., 2) panel pixels and view depth (larger = nearer).
    """

    size: int
    R: np.ndarray  # (3,3) view rotation, Rx(elevation) @ Ry(azimuth)
    scale: float  # px per unit
    center_v: float  # the projected height (units) shown at the panel's vertical centre
    ground: float  # y of the ground plane
    grid_step: float
    grid_half: float

    @classmethod
    def fit(
        cls,
        points_up: np.ndarray,
        size: int,
        azimuth: float = 30.0,
        elevation: float = 15.0,
        ground: float | None = None,
    ) -> View3D:
        """Fit scale and centre so that (robustly: 0.5-99.5th percentiles) all points are in view.

        ``ground`` is the y of the grid plane (default: the lowest points').
        """
        pts = np.asarray(points_up, dtype=np.float64).reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) == 0:  # nothing to show: frame a 1.8-unit person (metres) standing on the grid
            pts = np.array([[0.0, -0.9, 0.0], [0.0, 0.9, 0.0], [0.4, 0.0, 0.4], [-0.4, 0.0, -0.4]])
            ground = -0.9
        e = math.radians(elevation)
        R = euler_to_matrix(np.array([e, math.radians(azimuth), 0.0]), "XYZ")
        y = pts[:, 1]
        ground = float(np.percentile(y, 0.5)) if ground is None or not math.isfinite(ground) else float(ground)
        top = max(float(np.percentile(y, 99.5)), ground + 1e-6)
        span = top - ground
        rad = max(float(np.percentile(np.hypot(pts[:, 0], pts[:, 2]), 99.5)), 0.2 * span)
        step = _nice_step(span / 4)
        half = max(2, math.ceil(rad * 1.2 / step)) * step
        ce, se = math.cos(e), math.sin(e)
        v_lo, v_hi = ground * ce - rad * se, top * ce + rad * se  # projected height range
        scale = 0.9 * size / max(2 * rad, v_hi - v_lo)
        return cls(int(size), np.asarray(R), float(scale), 0.5 * (v_lo + v_hi), ground, step, half)

    def project(self, points_up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) Y-up points -> (..., 2) panel pixels (x right, y down) and (...) depth (larger = nearer)."""
        p = np.asarray(points_up, dtype=np.float64) @ self.R.T
        uv = np.stack(
            [self.size / 2 + self.scale * p[..., 0], self.size / 2 - self.scale * (p[..., 1] - self.center_v)], -1
        )
        return uv, p[..., 2]

    def background(self) -> np.ndarray:
        """The empty panel: background colour and the ground grid (drawn once, copied per frame)."""
        img = np.empty((self.size, self.size, 3), np.uint8)
        img[:] = _PANEL_BG
        n = int(round(self.grid_half / self.grid_step))
        ticks = np.arange(-n, n + 1) * self.grid_step
        g, h = self.ground, self.grid_half
        segs = [((t, g, -h), (t, g, h)) for t in ticks] + [((-h, g, t), (h, g, t)) for t in ticks]
        uv, _ = self.project(np.asarray(segs))
        px = _fix(uv)
        for a, b in px:
            cv2.line(img, tuple(a), tuple(b), _GRID, 1, cv2.LINE_AA, _SHIFT)
        return img


def _draw_3d(panel: np.ndarray, view: View3D, people: list[tuple[int, np.ndarray, Skeleton]], labels: bool) -> None:
    """Draw (track_id, xyz_up (J,3), skeleton) people on ``panel``, all bones sorted far to near."""
    t = max(2, int(round(view.size / 200)))
    items: list[tuple[float, int, tuple[Any, ...]]] = []  # (depth, kind, payload): the payload depends on the kind
    for track_id, xyz, sk in people:
        uv, depth = view.project(xyz)
        ok = np.isfinite(uv).all(axis=1) & np.isfinite(depth)
        cols = person_colors(track_id)
        px = _fix(np.where(ok[:, None], uv, 0.0))
        edges, sides = drawing_edges(sk)
        for (a, b), side in zip(edges, sides):
            if ok[a] and ok[b]:
                items.append((0.5 * (depth[a] + depth[b]), 0, (tuple(px[a]), tuple(px[b]), _col(cols, side))))
        joint_side = [_side(n) for n in sk.joints]
        for j in np.flatnonzero(ok):
            items.append((depth[j] + 1e-6, 1, (tuple(px[j]), _col(cols, joint_side[j]))))
        if labels and ok.any():
            top = uv[ok]
            items.append(
                (np.inf, 2, (f"#{track_id}", float(np.median(top[:, 0])), float(top[:, 1].min()) - 2 * t, cols[2]))
            )
    items.sort(key=lambda it: it[0])
    for _, kind, pl in items:
        if kind == 0:
            cv2.line(panel, pl[0], pl[1], pl[2], t, cv2.LINE_AA, _SHIFT)
        elif kind == 1:
            cv2.circle(panel, pl[0], (t + 1) * _ONE, pl[1], -1, cv2.LINE_AA, _SHIFT)
        else:
            _label(panel, pl[0], pl[1], pl[2], pl[3], view.size)


# ----------------------------------------------------------------------------------------------- side by side


@dataclass
class _Person:
    track_id: int
    image_size: tuple[int, int]
    sk2d: Skeleton
    rows2d: dict[int, int]
    xy: np.ndarray  # (T2,J,2) source px
    scores: np.ndarray  # (T2,J)
    sk3d: Skeleton | None = None
    rows3d: dict[int, int] | None = None
    xyz_up: np.ndarray | None = None  # (T3,J,3) Y-up: world joints (world view) or root-centred + layout offset
    trail: np.ndarray | None = None  # (T3,3) the root's path on the floor (world view only)


def _pose3d(p: _Person) -> tuple[dict[int, int], np.ndarray, Skeleton] | None:
    """(rows3d, xyz_up (T3,J,3), sk3d) of a person with a 3D pose (_prepare sets the three together), else None."""
    if p.rows3d is None or p.xyz_up is None or p.sk3d is None:
        return None
    return p.rows3d, p.xyz_up, p.sk3d


def _root_index(sk: Skeleton) -> int:
    return sk.parents.index(-1)


def _as_result(i: int, r) -> MotionResult:
    """A MotionResult, or a (Keypoints2D, Pose3D | None) pair that becomes track ``i``."""
    if isinstance(r, MotionResult):
        return r
    if isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], Keypoints2D):
        return MotionResult(video=None, track_id=i, keypoints_2d=r[0], pose_3d=r[1])
    raise TypeError(f"expected MotionResult or (Keypoints2D, Pose3D | None), got {type(r).__name__}")


def _prepare(results: Sequence, image_size: tuple[int, int]) -> list[_Person]:
    """Per person: 2D rows and, where lifted, the 3D pose in the panel's Y-up frame (world or root-centred)."""
    rs = [_as_result(n, r) for n, r in enumerate(results)]
    lifted = [r for r in rs if r.pose_3d is not None and r.pose_3d.num_frames > 0]
    world = bool(lifted) and all(r.world is not None for r in lifted)
    people = []
    for r in rs:
        k = r.keypoints_2d
        p = _Person(
            track_id=int(r.track_id),
            image_size=k.image_size,
            sk2d=k.skeleton,
            rows2d={int(f): i for i, f in enumerate(k.frame_indices)},
            xy=k.xy.astype(np.float64),
            scores=k.scores.astype(np.float64),
        )
        if r.pose_3d is not None and r.pose_3d.num_frames > 0:
            P = r.pose_3d
            root = _root_index(P.skeleton)
            if world:
                assert r.world is not None
                up = r.world.joints_world.astype(np.float64)  # (T3,J,3) world frame: Y up, floor y = 0
                p.trail = up[:, root] * np.array([1.0, 0.0, 1.0])  # (T3,3) the root dropped onto the floor
            else:
                up = camera_to_view(P.xyz, P.frame)
                up = up - up[:, root : root + 1, :]  # (T3,J,3) root-centred
            p.sk3d, p.xyz_up = P.skeleton, up
            p.rows3d = {int(f): i for i, f in enumerate(P.frame_indices)}
        people.append(p)
    with3d = [p for p in people if p.xyz_up is not None]
    if world:
        _centre(with3d)
    elif len(with3d) > 1:
        _layout(with3d, image_size)
    return people


def _centre(people: list[_Person]) -> None:
    """Shift world-view people horizontally by one common offset: the median root position of the clip goes to the
    panel's centre (the floor stays at y = 0)."""
    trails = [p.trail for p in people if p.trail is not None]
    if not trails:
        return
    c = np.median(np.concatenate(trails), axis=0) * np.array([1.0, 0.0, 1.0])  # (3,)
    for p in people:
        if p.xyz_up is not None:
            p.xyz_up = p.xyz_up - c
        if p.trail is not None:
            p.trail = p.trail - c


def _layout(people: list[_Person], image_size: tuple[int, int]) -> None:
    """Offset each root-centred person along x by their 2D position in the image (see the module docstring)."""
    W = image_size[0]
    ratios, tracks = [], []
    for p in people:
        pose = _pose3d(p)
        assert pose is not None  # only people with a 3D pose are laid out
        rows3d, xyz_up, _ = pose
        frames3d = np.array(sorted(rows3d), dtype=np.int64)
        fu, u = [], []
        for f in frames3d:
            i = p.rows2d.get(int(f))
            if i is None:
                continue
            vis = (p.scores[i] > 0) & np.isfinite(p.xy[i]).all(axis=1)
            if vis.sum() < 2:
                continue
            fu.append(f)
            u.append(float(np.median(p.xy[i][vis, 0])))
            h2 = np.ptp(p.xy[i][vis, 1])
            xyz = xyz_up[rows3d[int(f)]]
            h3 = np.ptp(xyz[np.isfinite(xyz).all(axis=1), 1]) if np.isfinite(xyz).any() else 0.0
            if h2 > 10 and h3 > 0:
                ratios.append(h3 / h2)
        tracks.append((frames3d, fu, u))
    units_per_px = float(np.median(ratios)) if ratios else 0.0
    for p, (frames3d, fu, u) in zip(people, tracks):
        if not fu or units_per_px == 0.0:
            continue
        u_all = np.interp(frames3d, np.asarray(fu, dtype=np.float64), np.asarray(u))
        off = (u_all - W / 2) * units_per_px  # (T3,)
        pose = _pose3d(p)
        assert pose is not None
        rows3d, xyz_up, _ = pose
        rows = np.array([rows3d[int(f)] for f in frames3d])
        moved = xyz_up.copy()
        moved[rows, :, 0] += off[:, None]
        p.xyz_up = moved


def _prefetch(it, depth: int):
    """Run iterator ``it`` in a thread, ``depth`` items ahead (decode overlaps drawing and encoding; PyAV and
    swscale release the GIL). Exceptions are re-raised in the caller; closing the generator stops the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer
            q.put(e)
        finally:
            if hasattr(it, "close"):
                it.close()

    th = threading.Thread(target=work, name="mbcli-decode", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while th.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            th.join(timeout=0.05)


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def prepare_render(video_path: str | os.PathLike, out_path: str | os.PathLike, height: int
                   ) -> tuple[VideoInfo, Path, int, int]:
    """Probe the source and check the output: (source info, output path, panel width, panel height)."""
    src = probe(video_path)
    out = Path(out_path)
    if out.exists() and out.resolve() == Path(video_path).resolve():
        raise ExportError(f"{out}: the output would overwrite the input video")
    if height < 16:
        raise ConfigError(f"render height must be at least 16 px, got {height}")
    W, H = panel_size(src, height)
    return src, out, W, H


def panel_size(src: VideoInfo, height: int) -> tuple[int, int]:
    """(W, H): even output size for the video scaled to ``height``, preferring a width whose aspect-kept height
    (as iter_frames rounds it) is exactly H, so frames need no second resize."""
    H = _even(height)
    W = _even(src.width * H / src.height)
    return next((w for w in (W, W - 2, W + 2, W - 4, W + 4) if 2 <= w and _even(src.height * w / src.width) == H),
                W), H


def stream_resized(video_path: str | os.PathLike, src: VideoInfo, W: int, H: int):
    """(frame index, RGB (H,W,3) uint8) for every frame of the video, decoded ahead on a thread."""
    frames = iter_frames(video_path, max_width=W if W < src.width else None)
    for f, rgb in _prefetch(frames, depth=4):
        if rgb.shape[0] != H or rgb.shape[1] != W:
            rgb = cv2.resize(rgb, (W, H), interpolation=cv2.INTER_AREA if W < rgb.shape[1] else cv2.INTER_LINEAR)
        yield f, rgb


def render_side_by_side(
    video_path: str | os.PathLike,
    results: Sequence[MotionResult | tuple[Keypoints2D, Pose3D | None]],
    out_path: str | os.PathLike,
    height: int = 720,
    azimuth: float = 30.0,
    elevation: float = 15.0,
    score_threshold: float = 0.3,
    show_3d: bool = True,
    labels: bool = True,
    crf: int = 23,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> VideoInfo:
    """Render ``[input + 2D overlay | 3D skeleton]`` (or the overlay alone with ``show_3d=False``) to ``out_path``.

    ``results``: one MotionResult per tracked person (or (Keypoints2D, Pose3D | None) pairs, track ids 0, 1, ...).
    Streams ``video_path`` frame by frame; the input panel is the video scaled to ``height`` px (even sizes), the
    3D panel a ``height`` x ``height`` square. Keypoints are scaled from each Keypoints2D's ``image_size`` to the
    panel. Writes H.264 yuv420p at the source fps, atomically; calls ``on_progress("render", done, total)``.
    Returns the VideoInfo of the written file. Raises VideoReadError for a bad input, ExportError for a bad output.
    """
    src, out, W, H = prepare_render(video_path, out_path, height)
    people = _prepare(results, (src.width, src.height))

    view = None
    if show_3d:
        pts = [p.xyz_up.reshape(-1, 3) for p in people if p.xyz_up is not None]
        allpts = np.concatenate(pts) if pts else np.zeros((0, 3))
        if len(allpts) > 200_000:
            allpts = allpts[:: len(allpts) // 200_000 + 1]
        view = View3D.fit(allpts, H, azimuth, elevation, ground=_ground(people))
        bg = view.background()
        trail_len = max(2, int(round(_TRAIL_S * src.fps)))

    def draw(f: int, rgb: np.ndarray) -> np.ndarray:
        for p in people:
            i = p.rows2d.get(f)
            if i is None:
                continue
            xy = p.xy[i] * np.array([W / p.image_size[0], H / p.image_size[1]])
            render_overlay_frame(rgb, xy, p.scores[i], p.sk2d, [p.track_id], score_threshold, labels=labels)
        if view is not None:
            panel = bg.copy()
            _draw_trails(panel, view, people, f, trail_len)
            shown = []
            for p in people:
                pose = _pose3d(p)
                if pose is not None and f in pose[0]:
                    rows3d, xyz_up, sk3d = pose
                    shown.append((p.track_id, xyz_up[rows3d[f]], sk3d))
            _draw_3d(panel, view, shown, labels and len(shown) > 1)
            rgb = np.concatenate([rgb, panel], axis=1)
        return rgb

    return encode_drawn(video_path, src, out, W, H, draw, crf, on_progress)


def _ground(people: list[_Person]) -> float | None:
    """The grid's height: the floor (0) in the world view, else the feet (5th percentile of each frame's lowest
    joint); None when nobody has a 3D pose."""
    if any(p.trail is not None for p in people):
        return 0.0
    ys = [p.xyz_up[..., 1] for p in people if p.xyz_up is not None]
    lows = [np.where(np.isfinite(y), y, np.inf).min(axis=1) for y in ys]  # (T3,) each: a frame's lowest joint
    lowest = np.concatenate(lows) if lows else np.zeros(0)
    lowest = lowest[np.isfinite(lowest)]
    return float(np.percentile(lowest, 5)) if len(lowest) else None


def _draw_trails(panel: np.ndarray, view: View3D, people: list[_Person], f: int, length: int) -> None:
    """Trace each world-view person's root on the floor over their last ``length`` frames up to frame ``f``."""
    t = max(1, int(round(view.size / 400)))
    for p in people:
        if p.trail is None or p.rows3d is None:
            continue
        i = p.rows3d.get(f)
        if i is None:
            continue
        path = p.trail[max(0, i - length + 1) : i + 1]  # (n,3)
        if len(path) < 2:
            continue
        uv, _ = view.project(path)
        cv2.polylines(panel, [_fix(uv).reshape(-1, 1, 2)], False, person_colors(p.track_id)[2], t, cv2.LINE_AA,
                      _SHIFT)


def encode_drawn(video_path: str | os.PathLike, src: VideoInfo, out: Path, W: int, H: int,
                 draw: Callable[[int, np.ndarray], np.ndarray], crf: int,
                 on_progress: Callable[[str, int, int], None] | None) -> VideoInfo:
    """Stream the video scaled to W x H, pass each frame through ``draw(frame index, rgb) -> rgb`` and encode the
    result (H.264, atomically, at the source fps); on_progress("render", done, total). Returns the written VideoInfo."""
    total = src.num_frames
    done = 0
    with VideoWriter(out, fps=src.fps, crf=crf) as writer:
        for f, rgb in stream_resized(video_path, src, W, H):
            writer.write(draw(f, rgb))
            done += 1
            if on_progress is not None:
                on_progress("render", done, max(total, done))
        size = writer.size
    assert size is not None  # set by the first frame; closing a writer with none raises ExportError
    return VideoInfo(
        path=str(out), width=size[0] + size[0] % 2, height=size[1] + size[1] % 2, fps=src.fps, num_frames=done
    )
