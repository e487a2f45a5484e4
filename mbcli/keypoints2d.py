"""Plausibility checks on one person's 2D keypoint sequence: outlier joints get score 0, their xy stays as it was.

A detector sometimes puts a joint on something else for a few frames (the head on a towel, a hidden leg on another
person). ``reject_outliers`` finds such joints so that the lifter, which treats score-0 joints as missing, fills
them. Lengths are in units of the person's size ``s``: the median over frames of the torso length (shoulder midpoint
to hip midpoint, joints found by name), or a third of the median keypoint-box height when the skeleton has no torso.

Rules. Defaults were chosen on samples/pose2sim_single_360.mp4, samples/sports2d_640.mp4, pose2sim_single_cam01
and pose2sim_multi_cam01 through the default detector, remapped to h36m17. Share of seen joints rejected (rules
1-3, then 4 over everyone tracked; rules 1-2 alone in brackets): sports2d_640 0.55 % and 0.22 % (0.51, 0.14),
pose2sim_single_360 1.1 %, 1.8 % (0.65, 1.2), pose2sim_single_cam01 0 %, 1.8 % (0, 0.47), pose2sim_multi 1.1 %,
4.7 %, 2.5 % (1.0, 1.3, 0.71); the multi man's own detection flickers in frames 31-59.
1. Temporal: each joint is taken relative to the hip midpoint (all joints' median when the hips are unseen or the
   skeleton has none). Its reference is the median of that relative position over a centred window of
   ``2 * max_run + 1`` frames (``max_run`` = ``max_run_s`` seconds, at least 3 frames), so a run of up to ``max_run``
   wrong frames cannot move the reference; its residual is the distance to that reference. A joint is rejected where
   its residual exceeds all three of: ``jump`` (in s), ``body_ratio`` times the median residual of the frame's joints
   (the rest of the body agrees with its own reference, so a fast move or a flip that moves every joint costs
   nothing), and ``joint_ratio`` times that joint's median residual over the sequence (a wrist that always swings is
   allowed to swing; a head that never moves is not allowed to leave).
2. Bones: a bone (the skeleton's parent links) longer than ``bone_ratio`` times its median length over the sequence,
   and longer than ``bone_min`` s, rejects the end of it that has the larger rule-1 residual (2D projection only
   shortens bones, so a long one means a misplaced end).
3. Flicker: a joint that alternates between two places on successive frames (A, B, A, B: the detector reading the
   same body two ways, which a temporal median cannot settle when the run is half of each). Frame t is a spike when
   the body-relative joint lies more than ``flicker`` s from the midpoint of frames t-1 and t+1, which agree with each
   other (their distance is under half that); it is rejected when frame t-2 or t+2 is a spike too (an alternation, not
   the single turning point of a kick) and it lies at least ``flicker_margin`` s farther than that midpoint from the
   joint's longer reference (the median over ``ref_s`` seconds either side): of the two places, the one the body
   does not keep elsewhere goes.
4. Occlusion (``reject_on_others``, given the other tracked people of the clip): a joint lying on another person's
   body (within ``reach`` of that person's size from one of their bones or torso diagonals) and off its own torso,
   that disagrees with its own body: a bone at it is longer than ``bone_ratio`` times the bone's typical length (the
   median over frames of that bone and its left/right partner). The other body is taken where the detector drew it
   (less its own stretched bones) and where the median of its neighbouring frames puts it. A hand resting on the
   other person keeps its bone lengths and stays; so does an arm that really moved (a temporal test here rejected
   pose2sim_multi's lowered arm).
5. Glitch frames (``reject_glitches``, run last, on what rules 1-4 left): the detector sometimes draws the whole body
   wrong for a frame or a few (hips at the thigh, the upper body squashed, the legs drawn at the torso); every joint
   moves with the others, so rules 1-4 do not see it. The shape distance of two frames is the median over the joints
   both show (at least ``min_joints``) of their distance, in s, once one pose is turned and moved onto the other
   (rotation about the centroid, no scaling: a flip or a fall that turns the body costs nothing). A run of at most
   ``max_run_s`` seconds of seen frames is a glitch when, with ``context`` seen frames either side of it:
   every frame of the run lies, by the median of its distances to those 2 * ``context`` frames, more than ``jump`` s
   away and more than ``ratio`` times farther than the frames before lie from the frames after (the body came back
   to where it was: a smooth move, however fast, leaves before and after far apart), and the frames next to the run
   lie at least ``abrupt`` times as far from each run frame as that median (the run was entered and left in one
   step: the turning point of a swing, approached and left smoothly, is close to its neighbours). All joints of
   those frames get score 0. Left/right swapped frames among unswapped ones are glitches too (rotation does not
   mirror). Frames rejected (share of seen frames): pose2sim_multi man 39, 55, 66-67, 75-76, 80 (7.5 %), woman 70
   (1 %), bystander none; sports2d_640 jumper 26, 53, 64-65, 91-92, 116, 127 (5.4 %: swapped or drawn-wrong frames),
   walker none; the same jumper in sports2d_demo (the original) 16, 21, 27, 37, 60-62 (4.4 %; 16 is a right frame
   among left/right swapped ones); pose2sim_single_360 and pose2sim_single_cam01 none. The back flip of sports2d
   (frames 133-190) is not detected (one frame of those in the original); the landing after it (187-198, fast and
   smooth) keeps all.
Joints already at score 0 take no part in the medians and are never reported as rejected. A camera cut or a tracker
hop moves every joint together and is not rejected (the body-relative positions do not change).

Memory: every per-frame quantity (window medians, distances to the other bodies, shape distances) is computed
``_BLOCK`` frames at a time, each block reading the frames its windows need beyond its edges, so the temporaries do
not grow with the track's length (an hour of video costs what a minute does, beyond the (T,J) results); the values
are bit for bit those of the whole track at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from mbcli.skeletons import Skeleton
from mbcli.types import Keypoints2D

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
_BLOCK = 1024  # frames computed at once: the per-frame temporaries (window medians, distances to bodies) of a
# long track are made a block at a time, so their memory does not grow with the track's length


def _blocks(n: int, halo: int = 0) -> Iterator[tuple[int, int, int, int]]:
    """Blocks of ``n`` frames: (lo, hi, a, b) for frames lo:hi whose values read frames a:b (``halo`` either side,
    clipped to the track). One block of everything when n <= _BLOCK, or when n <= 2 * halo + 1 (a window longer
    than the track reflects more than once at its ends; only the whole track gives that)."""
    if n <= _BLOCK or n <= 2 * halo + 1:
        yield 0, n, 0, n
        return
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        yield lo, hi, max(0, lo - halo), min(n, hi + halo)


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """np.nanmedian that returns nan for all-nan slices without a warning."""
    ok = np.isfinite(x).any(axis=axis)
    out = np.full(ok.shape, np.nan)
    if ok.any():
        out[ok] = np.nanmedian(np.moveaxis(x, axis, -1)[ok], axis=-1)
    return out


def _torso_index(kp: Keypoints2D) -> list[int] | None:
    names = kp.skeleton.index
    return [names[n] for n in _TORSO] if all(n in names for n in _TORSO) else None


def person_size(kp: Keypoints2D) -> float:
    """The person's size s (px, module docstring); 1.0 when nothing is seen."""
    lengths = np.concatenate([_frame_sizes(kp, lo, hi) for lo, hi, _, _ in _blocks(kp.num_frames)])  # (T,)
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    return float(np.median(lengths)) if len(lengths) else 1.0


def _frame_sizes(kp: Keypoints2D, lo: int, hi: int) -> np.ndarray:
    """(hi-lo,) the size of the person (px) in frames lo:hi: torso length, else a third of the box height; nan
    where unknown."""
    seen = kp.scores[lo:hi] > 0
    xy = np.where(seen[..., None], kp.xy[lo:hi], np.nan)  # (n,J,2)
    torso = _torso_index(kp)
    if torso is not None:
        sh = xy[:, torso[:2]].mean(1)
        hp = xy[:, torso[2:]].mean(1)
        return np.linalg.norm(sh - hp, axis=-1)
    with np.errstate(invalid="ignore"):
        return (np.nanmax(xy[..., 1], axis=1) - np.nanmin(xy[..., 1], axis=1)) / 3.0


def _relative(kp: Keypoints2D, a: int = 0, b: int | None = None) -> np.ndarray:
    """(b-a,J,2) positions of frames a:b (default: all) relative to the body centre; nan where unseen or the centre
    is unknown."""
    seen = kp.scores[a:b] > 0
    xy = np.where(seen[..., None], kp.xy[a:b].astype(np.float64), np.nan)
    torso = _torso_index(kp)
    if torso is not None:
        centre = xy[:, torso[2:]].mean(1)  # (T,2) hip midpoint, nan unless both hips are seen
        fallback = _nanmedian(xy, axis=1)
        centre = np.where(np.isfinite(centre), centre, fallback)
    else:
        centre = _nanmedian(xy, axis=1)
    return xy - centre[:, None, :]


def temporal_residual(kp: Keypoints2D, max_run: int) -> np.ndarray:
    """(T,J) distance (px) of each joint's body-relative position from its median over 2*max_run+1 frames.

    Beyond the ends the track is continued by point reflection about its first and last frames, so that steady
    motion near an end keeps its reference on itself. Computed a block of frames at a time (``_blocks``).
    """
    out = np.empty(kp.scores.shape)  # (T,J)
    for lo, hi, a, b in _blocks(kp.num_frames, max_run):
        rel = _relative(kp, a, b)  # (b-a,J,2)
        out[lo:hi] = np.linalg.norm(rel[lo - a:hi - a] - _median_of(rel, a, lo, hi, max_run), axis=-1)
    return out


def _median_of(rel: np.ndarray, a: int, lo: int, hi: int, half: int) -> np.ndarray:
    """(hi-lo,J,2) window medians of frames lo:hi: the median of each joint over a centred window of 2*half+1
    frames, the track's ends continued by point reflection; from ``rel`` (n,J,2): the track's frames
    a:a+n, which hold half frames either side of lo:hi or reach the track's end there (from ``_blocks``)."""
    p, q = max(a, lo - half), min(a + len(rel), hi + half)  # the frames the windows read
    pad = np.pad(rel[p - a:q - a], ((half - (lo - p), half - (q - hi)), (0, 0), (0, 0)), mode="reflect",
                 reflect_type="odd")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1, axis=0)[:hi - lo]  # (hi-lo,J,2,W)
    return _nanmedian(win, axis=-1)


def reject_outliers(
    kp: Keypoints2D,
    *,
    max_run_s: float = 0.25,
    jump: float = 0.3,
    body_ratio: float = 3.0,
    joint_ratio: float = 6.0,
    bone_ratio: float = 1.8,
    bone_min: float = 0.4,
    flicker: float = 0.15,
    flicker_margin: float = 0.1,
    ref_s: float = 0.5,
) -> tuple[Keypoints2D, np.ndarray]:
    """The sequence with implausible joints at score 0 (xy untouched), and the (T,J) bool mask of those rejected.

    Rules 1-3 and thresholds: module docstring. ``jump``, ``bone_min``, ``flicker`` and ``flicker_margin`` are in
    units of the person's size.
    """
    s = person_size(kp)
    res = _scaled_residual(kp, max_run_s, s)
    with np.errstate(invalid="ignore"):
        body = np.concatenate([_nanmedian(res[lo:hi], axis=1) for lo, hi, _, _ in _blocks(len(res))])[:, None]  # (T,1)
        usual = np.array([_nanmedian(res[:, j], axis=0) for j in range(res.shape[1])])[None, :]  # (1,J)
        bad = (res > jump) & (res > body_ratio * body) & (res > joint_ratio * usual)
        bad |= _long_bones(kp, res, s, bone_ratio, bone_min)
    bad |= flickers(kp, s, flicker, flicker_margin, max(3, round(ref_s * kp.fps)))
    return _drop(kp, bad)


def flickers(kp: Keypoints2D, s: float, spike: float, margin: float, ref_half: int) -> np.ndarray:
    """(T,J) joints at the wrong place of an A, B, A, B alternation (rule 3); ``spike`` and ``margin`` in units of s,
    ``ref_half`` frames either side for the longer reference."""
    out = np.zeros(kp.scores.shape, dtype=bool)
    for lo, hi, a, b in _blocks(kp.num_frames, max(ref_half, 3)):  # a frame's test reads 3 frames either side
        out[lo:hi] = _flickers_of(_relative(kp, a, b) / s, a, lo, hi, spike, margin, ref_half)
    return out & (kp.scores > 0)


def _flickers_of(rel: np.ndarray, a: int, lo: int, hi: int, spike: float, margin: float,
                 ref_half: int) -> np.ndarray:
    """(hi-lo,J) ``flickers`` of frames lo:hi from ``rel`` (n,J,2; in units of s, nan where unseen), the track's
    frames a:a+n (``_blocks``)."""
    nan = np.full_like(rel[:1], np.nan)
    prev = np.concatenate([nan, rel[:-1]])
    nxt = np.concatenate([rel[1:], nan])
    mid = (prev + nxt) / 2  # (n,J,2) where the neighbours put the joint
    off = np.linalg.norm(rel - mid, axis=-1)  # (n,J)
    with np.errstate(invalid="ignore"):
        spikes = (off > spike) & (np.linalg.norm(prev - nxt, axis=-1) < off / 2)
        ref = _median_of(rel, a, lo, hi, ref_half)  # (hi-lo,J,2)
        own = slice(lo - a, hi - a)
        worse = np.linalg.norm(rel[own] - ref, axis=-1) > np.linalg.norm(mid[own] - ref, axis=-1) + margin
    again = np.zeros_like(spikes)
    again[2:] |= spikes[:-2]
    again[:-2] |= spikes[2:]
    return (spikes & again)[own] & worse


def reject_on_others(
    kp: Keypoints2D,
    others: Sequence[Keypoints2D],
    *,
    reach: float = 0.2,
    bone_ratio: float = 1.25,
    max_run_s: float = 0.25,
) -> tuple[Keypoints2D, np.ndarray]:
    """Occlusion rule (rule 4): joints of ``kp`` drawn on another person that disagree with ``kp``'s own body.

    ``others``: the other people of the same clip (frames matched by frame index; their xy is used where their
    score is 0 too, as track_to_keypoints interpolates it). ``reach`` is in units of the other person's size;
    ``max_run_s`` is the half window of the median that steadies the other body. Rule: module docstring. Returns what ``reject_outliers`` returns.
    """
    on_other = np.zeros(kp.scores.shape, dtype=bool)  # (T,J)
    row = {int(f): t for t, f in enumerate(kp.frame_indices)}
    for other in others:
        rows = np.array([row.get(int(f), -1) for f in other.frame_indices])  # other's frame -> kp's row
        mine = rows >= 0
        if not mine.any():
            continue
        # the other body where the detector drew it, and where its neighbouring frames put it (a glitch in one frame
        # of theirs does not hide them); their stretched bones are no evidence of where they are
        half = max(3, round(max_run_s * other.fps))
        ok = ~_stretched(other, bone_ratio)
        reach_px = reach * person_size(other)
        for lo, hi, a, b in _blocks(other.num_frames, half):
            m = mine[lo:hi]
            if not m.any():
                continue
            steady = _median_of(other.xy[a:b].astype(np.float64), a, lo, hi, half)  # (hi-lo,J,2)
            r = rows[lo:hi][m]
            near = np.minimum(_distance_to_body(kp.xy[r], other.xy[lo:hi][m], other.skeleton, ok[lo:hi][m]),
                              _distance_to_body(kp.xy[r], steady[m], other.skeleton))  # (n,J) px
            on_other[r] |= near < reach_px
    own_torso = np.concatenate([_distance_to_body(kp.xy[lo:hi], kp.xy[lo:hi], kp.skeleton, torso_only=True)
                                for lo, hi, _, _ in _blocks(kp.num_frames)]) < reach * person_size(kp)
    return _drop(kp, on_other & ~own_torso & _stretched(kp, bone_ratio))


def reject_glitches(
    kp: Keypoints2D,
    *,
    max_run_s: float = 0.13,
    context: int = 3,
    jump: float = 0.18,
    ratio: float = 1.6,
    abrupt: float = 0.7,
    min_joints: int = 8,
) -> tuple[Keypoints2D, np.ndarray]:
    """Whole-frame glitch rule (rule 5): every joint of a short run of frames whose body shape leaves the shape of the
    frames around it and comes back gets score 0. ``max_run_s`` seconds (at least 1 frame) is the longest run;
    ``context`` seen frames either side are its reference; ``jump`` is in units of the person's size. Rule: module
    docstring. Returns what ``reject_outliers`` returns."""
    s = person_size(kp)
    seen = kp.scores > 0
    least = min(min_joints, kp.skeleton.num_joints)
    idx = np.flatnonzero(seen.sum(1) >= least)  # (n,) rows that can be compared
    pose = np.empty((len(idx), kp.skeleton.num_joints, 2))  # (n,J,2) in units of s, nan where unseen
    for lo, hi, _, _ in _blocks(len(idx)):
        r = idx[lo:hi]
        pose[lo:hi] = np.where(seen[r][..., None], kp.xy[r].astype(np.float64), np.nan) / s
    longest = max(1, round(max_run_s * kp.fps))
    dist = _near_distances(pose, longest + 2 * context - 1, least)
    bad = np.zeros(seen.shape, dtype=bool)
    for length in range(1, longest + 1):
        for a in _glitch_runs(dist, idx, length, context, longest, jump, ratio, abrupt):
            bad[idx[a:a + length]] = True
    return _drop(kp, bad)


def _shape_distance(a: np.ndarray, b: np.ndarray, min_joints: int) -> np.ndarray:
    """(N,) median joint distance between poses a and b (N,J,2; nan where unseen) once b is turned and moved onto a
    (about the centroid of the joints both show, no scaling); nan where they share fewer than ``min_joints``."""
    both = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)  # (N,J)
    count = both.sum(1)

    def centred(x: np.ndarray) -> np.ndarray:  # (N,J,2) about the centroid of the shared joints, 0 elsewhere
        x = np.where(both[..., None], x, 0.0)
        return np.where(both[..., None], x - (x.sum(1) / np.maximum(count, 1)[:, None])[:, None], 0.0)

    pa, pb = centred(a), centred(b)
    # the angle that turns b onto a best: atan2 of the summed cross and dot products
    angle = np.arctan2((pb[..., 0] * pa[..., 1] - pb[..., 1] * pa[..., 0]).sum(1), (pa * pb).sum((1, 2)))
    c, sn = np.cos(angle)[:, None], np.sin(angle)[:, None]
    turned = np.stack([c * pb[..., 0] - sn * pb[..., 1], sn * pb[..., 0] + c * pb[..., 1]], axis=-1)
    gap = np.where(both, np.linalg.norm(turned - pa, axis=-1), np.nan)
    return np.where(count >= min_joints, _nanmedian(gap, axis=1), np.nan)


def _near_distances(pose: np.ndarray, width: int, min_joints: int) -> np.ndarray:
    """(n, width+1) shape distance between pose i and pose i+k (pose (n,J,2)) in column k; nan beyond the end."""
    n = len(pose)
    out = np.full((n, width + 1), np.nan)
    for k in range(1, min(width, n - 1) + 1):
        for lo, hi, _, _ in _blocks(n - k):
            out[lo:hi, k] = _shape_distance(pose[lo:hi], pose[lo + k:hi + k], min_joints)
    return out


def _glitch_runs(dist: np.ndarray, idx: np.ndarray, length: int, context: int, longest: int, jump: float,
                 ratio: float, abrupt: float) -> np.ndarray:
    """First positions a (into idx) of the glitch runs a..a+length-1 (rule 5); ``dist`` from ``_near_distances``."""
    starts = np.arange(context, len(idx) - context - length + 1)
    return np.concatenate([_glitch_starts(dist, idx, starts[lo:hi], length, context, longest, jump, ratio, abrupt)
                           for lo, hi, _, _ in _blocks(len(starts))])


def _glitch_starts(dist: np.ndarray, idx: np.ndarray, a: np.ndarray, length: int, context: int, longest: int,
                   jump: float, ratio: float, abrupt: float) -> np.ndarray:
    """Those of the candidate first positions ``a`` (N,) that start a glitch run (``_glitch_runs``)."""
    if not len(a):
        return a

    def d(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return dist[np.minimum(i, j), np.abs(i - j)]

    run = a[:, None] + np.arange(length)  # (N,L)
    before = a[:, None] - np.arange(1, context + 1)  # (N,C)
    after = a[:, None] + length + np.arange(context)  # (N,C)
    around = np.concatenate([before, after], axis=1)  # (N,2C)
    with np.errstate(invalid="ignore"):
        away = _nanmedian(d(run[..., None], around[:, None, :]), axis=-1).min(1)  # (N,) nan if any is unknown
        settled = _nanmedian(d(before[..., None], after[:, None, :]).reshape(len(a), -1), axis=1)  # (N,)
        step = np.minimum(d(run, (a - 1)[:, None]), d(run, (a + length)[:, None])).min(1)  # (N,)
        short = (idx[a + length - 1] - idx[a] < longest) & (idx[a + length + context - 1] - idx[a - context]
                                                             <= 2 * (longest + context))
        hit = short & (away > jump) & (away > ratio * settled) & (step > abrupt * away)
    return a[hit]


def _segments(skeleton: Skeleton, torso_only: bool = False) -> list[tuple[int, int]]:
    """The joint pairs that outline a body: its bones (unless ``torso_only``) and the torso's sides and diagonals."""
    pairs = [] if torso_only else list(skeleton.bones)
    names = skeleton.index
    if all(n in names for n in _TORSO):
        ls, rs, lh, rh = (names[n] for n in _TORSO)
        pairs += [(ls, rs), (lh, rh), (ls, lh), (rs, rh), (ls, rh), (rs, lh)]
    return pairs


def _distance_to_body(points: np.ndarray, body: np.ndarray, skeleton: Skeleton, usable: np.ndarray | None = None,
                      torso_only: bool = False) -> np.ndarray:
    """(T,P) distance (px) of points (T,P,2) to the nearest segment of ``body`` (T,J,2) (``_segments``); a segment
    with an end that is not ``usable`` (T,J) in a frame does not count there (inf when none counts)."""
    pairs = _segments(skeleton, torso_only)
    if not pairs:
        return np.full(points.shape[:2], np.inf)
    i, k = [p for p, _ in pairs], [c for _, c in pairs]
    a, b = body[:, i][:, None], body[:, k][:, None]  # (T,1,S,2)
    p = points[:, :, None]  # (T,P,1,2)
    ab = b - a
    u = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab**2).sum(-1), 1e-9), 0.0, 1.0)  # (T,P,S)
    dist = np.linalg.norm(p - (a + u[..., None] * ab), axis=-1)
    if usable is not None:
        dist = np.where((usable[:, i] & usable[:, k])[:, None], dist, np.inf)
    return dist.min(-1)


def typical_bones(kp: Keypoints2D) -> np.ndarray:
    """(J,) typical length (px) of the bone from each joint's parent: the median over frames where both ends are
    seen, pooled with the left/right partner bone; nan for the root and for bones never seen."""
    seen = kp.scores > 0
    flip = kp.skeleton.flip_permutation
    out = np.full(kp.skeleton.num_joints, np.nan)
    for p, j in kp.skeleton.bones:
        lengths = [np.linalg.norm(kp.xy[:, a] - kp.xy[:, b], axis=-1)[seen[:, a] & seen[:, b]]
                   for a, b in {(p, j), (int(flip[p]), int(flip[j]))}]
        pooled = np.concatenate(lengths)
        if len(pooled):
            out[j] = float(np.median(pooled))
    return out


def _stretched(kp: Keypoints2D, ratio: float) -> np.ndarray:
    """(T,J) joints at either end of a bone longer than ``ratio`` times its typical length (``typical_bones``)."""
    typical = typical_bones(kp)
    out = np.zeros(kp.scores.shape, dtype=bool)
    for p, j in kp.skeleton.bones:
        if np.isfinite(typical[j]):
            long = np.linalg.norm(kp.xy[:, p] - kp.xy[:, j], axis=-1) > ratio * typical[j]
            out[:, p] |= long
            out[:, j] |= long
    return out


def _scaled_residual(kp: Keypoints2D, max_run_s: float, s: float) -> np.ndarray:
    """(T,J) rule-1 residual in units of s; nan where unseen."""
    return temporal_residual(kp, max(3, round(max_run_s * kp.fps))) / s


def _drop(kp: Keypoints2D, bad: np.ndarray) -> tuple[Keypoints2D, np.ndarray]:
    """kp with the seen joints of ``bad`` (T,J) at score 0, and that mask."""
    bad = bad & (kp.scores > 0)
    return replace(kp, scores=np.where(bad, 0.0, kp.scores).astype(np.float32)), bad


def _long_bones(kp: Keypoints2D, res: np.ndarray, s: float, ratio: float, min_len: float) -> np.ndarray:
    """(T,J) joints at the misplaced end of a bone far longer than its median (rule 2)."""
    seen = kp.scores > 0
    bad = np.zeros(seen.shape, dtype=bool)
    res = np.nan_to_num(res, nan=0.0)
    for a, b in kp.skeleton.bones:
        both = seen[:, a] & seen[:, b]
        if both.sum() < 3:
            continue
        length = np.linalg.norm(kp.xy[:, a] - kp.xy[:, b], axis=-1)
        typical = float(np.median(length[both]))
        long = both & (length > ratio * typical) & (length > min_len * s)
        a_worse = res[:, a] >= res[:, b]
        bad[long & a_worse, a] = True
        bad[long & ~a_worse, b] = True
    return bad
