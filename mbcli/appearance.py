"""What a person looks like: a small colour descriptor per detection, and the distance between two of them.

The descriptor (``describe_people``) is made while frames stream through detection (frames are not kept), from
the RGB frame and each detection's keypoints. It is two normalised colour histograms: the torso (the quadrilateral
of the shoulders and hips) and the upper legs (a band along each hip-knee segment), each sampled at a fixed grid
of points, so its cost does not depend on the person's size (about 300 pixels a person). A part is described only
when its keypoints score at least ``min_score`` and at least half of its sample points fall inside the frame;
otherwise its histogram is NaN.

Colour binning, chosen to survive lighting changes: a pixel's hue h, saturation s = (max - min) / max and value
v = max (RGB in [0, 1]) are computed; its chromatic weight c = ramp(s; 0.15, 0.30) * ramp(v; 0.10, 0.20) (ramp:
0 below the first bound, 1 above the second, linear between). The chromatic part c goes to 12 hue bins x 2
saturation bins (split at s = 0.55, linearly shared between neighbours in hue, circularly, and in saturation);
the achromatic part 1 - c to 3 grey bins by value (dark, mid, bright; centres 0.15, 0.5, 0.85, linearly shared).
Scaling every RGB value of a coloured pixel by a factor (brighter or darker light) leaves h and s unchanged, so
the chromatic bins move only when the value crosses the dark ramp; only grey clothes depend on the value, and
only coarsely. Each part's histogram sums to 1: D = 2 * 27 = 54 values (``DIM``).

Distance (``appearance_distance``): per part, the Hellinger form of the Bhattacharyya distance,
sqrt(1 - sum_i sqrt(p_i q_i)), 0 for equal histograms and 1 for disjoint ones; over the parts both descriptors
have, the torso weighs ``torso_weight`` (0.6) and the legs the rest; NaN when they share no part.
"""

from __future__ import annotations

import numpy as np

from mbcli.skeletons import Skeleton

HUE_BINS = 12
SAT_BINS = 2
GREY_BINS = 3
PART_DIM = HUE_BINS * SAT_BINS + GREY_BINS  # 27
PARTS = ("torso", "legs")
DIM = PART_DIM * len(PARTS)  # 54

_TORSO_GRID = 12  # 12 x 12 samples over the torso quadrilateral
_LEG_ALONG, _LEG_ACROSS = 10, 5  # per thigh
_SAT_SPLIT = 0.55
_GREY_CENTRES = np.array([0.15, 0.5, 0.85])
_JOINTS = ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee")


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """(PART_DIM,) float64 histogram of pixels ``rgb`` (P,3) uint8 (module docstring), summing to 1; NaN for P = 0."""
    x = np.asarray(rgb, dtype=np.float64).reshape(-1, 3) / 255.0  # (P,3)
    if not len(x):
        return np.full(PART_DIM, np.nan)
    mx, mn = x.max(1), x.min(1)
    chroma = mx - mn
    sat = chroma / np.maximum(mx, 1e-6)
    # hue in [0, 6) sextants
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(mx == r, ((g - b) / safe) % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    c = _ramp(sat, 0.15, 0.30) * _ramp(mx, 0.10, 0.20)  # (P,) chromatic weight
    # hue: linear share between the two nearest bin centres, circularly
    hpos = hue / 6.0 * HUE_BINS - 0.5
    h0 = np.floor(hpos)
    hw1 = hpos - h0
    h0 = h0.astype(np.int64) % HUE_BINS
    h1 = (h0 + 1) % HUE_BINS
    # saturation: two bins, shared linearly over [0.3, 0.8]
    sw1 = _ramp(sat, _SAT_SPLIT - 0.25, _SAT_SPLIT + 0.25)
    hist = np.zeros(PART_DIM)
    for hb, hw in ((h0, 1.0 - hw1), (h1, hw1)):
        for sb, sw in ((0, 1.0 - sw1), (1, sw1)):
            np.add.at(hist, hb * SAT_BINS + sb, c * hw * sw)
    # grey: value shared between the nearest two of three centres
    grey = 1.0 - c
    gpos = np.interp(mx, _GREY_CENTRES, np.arange(GREY_BINS, dtype=np.float64))
    g0 = np.floor(gpos).astype(np.int64).clip(0, GREY_BINS - 1)
    g1 = np.minimum(g0 + 1, GREY_BINS - 1)
    gw1 = gpos - g0
    off = HUE_BINS * SAT_BINS
    np.add.at(hist, off + g0, grey * (1.0 - gw1))
    np.add.at(hist, off + g1, grey * gw1)
    return hist / hist.sum()


def _torso_points(ls: np.ndarray, rs: np.ndarray, lh: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """(G*G,2) sample points inside the shoulder-hip quadrilateral, kept off its edges (u across 0.2-0.8, v down
    0.1-0.9)."""
    u = np.linspace(0.2, 0.8, _TORSO_GRID)
    v = np.linspace(0.1, 0.9, _TORSO_GRID)
    uu, vv = np.meshgrid(u, v)  # (G,G)
    uu, vv = uu.ravel()[:, None], vv.ravel()[:, None]
    top = ls + uu * (rs - ls)
    bottom = lh + uu * (rh - lh)
    return top + vv * (bottom - top)


def _thigh_points(hip: np.ndarray, knee: np.ndarray) -> np.ndarray:
    """(A*C,2) sample points on a band along hip -> knee (0.15-0.85 of the way), +-0.1 of its length across."""
    d = knee - hip
    n = np.array([-d[1], d[0]])
    t = np.linspace(0.15, 0.85, _LEG_ALONG)[:, None, None]
    s = np.linspace(-0.1, 0.1, _LEG_ACROSS)[None, :, None]
    return (hip + t * d + s * n).reshape(-1, 2)


def _sample(rgb: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    """Pixels of ``rgb`` (H,W,3) at the points ``pts`` (P,2) px (nearest pixel); None when fewer than half are in."""
    H, W = rgb.shape[:2]
    ij = np.floor(pts).astype(np.int64)  # (P,2) x, y
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < W) & (ij[:, 1] >= 0) & (ij[:, 1] < H)
    if inside.sum() * 2 < len(pts):
        return None
    ij = ij[inside]
    return rgb[ij[:, 1], ij[:, 0]]


def describe_person(rgb: np.ndarray, keypoints_xy: np.ndarray, keypoint_scores: np.ndarray, skeleton: Skeleton,
                    *, min_score: float = 0.5) -> np.ndarray:
    """(DIM,) float32 descriptor of one person: torso then legs histogram (module docstring), NaN for a part
    that is not seen. keypoints_xy (K,2) px in ``rgb``'s (H,W,3) pixels; keypoint_scores (K,)."""
    out = np.full(DIM, np.nan, dtype=np.float32)
    idx = [skeleton.index.get(n, -1) for n in _JOINTS]
    if min(idx) < 0:
        return out
    xy = np.asarray(keypoints_xy, dtype=np.float64)[idx]  # (6,2) ls rs lh rh lk rk
    ok = np.asarray(keypoint_scores, dtype=np.float64)[idx] >= min_score
    ok &= np.isfinite(xy).all(1)
    if ok[:4].all():
        px = _sample(rgb, _torso_points(*xy[:4]))
        if px is not None:
            out[:PART_DIM] = colour_histogram(px)
    legs = [_thigh_points(xy[h], xy[k]) for h, k in ((2, 4), (3, 5)) if ok[h] and ok[k]]
    if legs:
        px = _sample(rgb, np.concatenate(legs))
        if px is not None:
            out[PART_DIM:] = colour_histogram(px)
    return out


def describe_people(rgb: np.ndarray, keypoints_xy: np.ndarray, keypoint_scores: np.ndarray, skeleton: Skeleton,
                    *, min_score: float = 0.5) -> np.ndarray:
    """(N,DIM) float32 descriptors of a frame's people: keypoints_xy (N,K,2) px in ``rgb``'s pixels, scores (N,K)."""
    return np.stack([describe_person(rgb, keypoints_xy[i], keypoint_scores[i], skeleton, min_score=min_score)
                     for i in range(len(keypoints_xy))]) if len(keypoints_xy) else np.zeros((0, DIM), np.float32)


def mean_descriptor(descriptors: np.ndarray) -> np.ndarray:
    """(DIM,) per-part mean over the rows of ``descriptors`` (M,DIM) that see that part; NaN for a part none sees."""
    d = np.asarray(descriptors, dtype=np.float64).reshape(-1, DIM)
    out = np.full(DIM, np.nan)
    for p in range(len(PARTS)):
        part = d[:, p * PART_DIM:(p + 1) * PART_DIM]
        seen = np.isfinite(part).all(1)
        if seen.any():
            out[p * PART_DIM:(p + 1) * PART_DIM] = part[seen].mean(0)
    return out


def appearance_distance(a: np.ndarray, b: np.ndarray, *, torso_weight: float = 0.6) -> float:
    """Distance in [0, 1] between descriptors ``a``, ``b`` (DIM,) (module docstring); NaN when no part is shared."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    total = weight = 0.0
    for p, w in enumerate((torso_weight, 1.0 - torso_weight)):
        pa, pb = a[p * PART_DIM:(p + 1) * PART_DIM], b[p * PART_DIM:(p + 1) * PART_DIM]
        if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
            continue
        bc = float(np.sqrt(np.clip(pa, 0, None) * np.clip(pb, 0, None)).sum())
        total += w * np.sqrt(max(1.0 - bc, 0.0))
        weight += w
    return total / weight if weight > 0 else float("nan")
