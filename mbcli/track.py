"""Follow people across frames, choose which ones to lift, and turn a track into a gap-free 2D keypoint sequence.

Association (``Tracker``) is an online tracking-by-detection scheme in the spirit of SORT (Bewley et al. 2016, "Simple
Online and Realtime Tracking"): each track predicts its box in the new frame with a constant-velocity model of the box
centre and size, and detections are assigned to tracks with the Hungarian algorithm
(scipy.optimize.linear_sum_assignment) on the cost

    cost = iou_weight * (1 - IoU(predicted box, box)) + (1 - iou_weight) * (1 - OKS)

where OKS is an object-keypoint-similarity (COCO's, with one kappa for every joint) between the detection and the
track's last keypoints shifted by the predicted box motion, over the joints both score above ``kp_score_min``
(the IoU term alone when fewer than 3 joints are shared). A pair needs IoU >= ``min_iou`` to match at all.

Matching runs as a cascade by age, as DeepSORT's does: tracks seen in the previous frame first, so a lost track
cannot take the detection of a person who is plainly visible, then lost tracks from the most recently seen to the
longest unseen, so a track that re-spawned on a body whose old track is still coasting keeps that body. Lost tracks
match the remaining detections by the better IoU of their predicted and last-seen box (the person may have stopped
behind the occluder).
A track survives ``max_age`` frames unseen (default: one second, ``round(fps)``); a detection left unmatched starts a
new track when its box score is at least ``birth_score``. Track ids are 0, 1, 2, ... in order of first appearance;
people appearing in the same frame are numbered left to right by box centre.

Selection (``choose_people``, for tracks through ``select_tracks``): "largest" is the track with the largest mean box area (px^2, over observed frames)
times the number of observed frames, i.e. the person who fills the most of the video. Before choosing, "all" and
"largest" drop tracks observed in fewer than ``max(10, ceil(0.25 s * fps))`` frames and, when the image size is known,
tracks whose median box height is under ``min_height_frac`` (10 %) of the image height, unless that drops every track.
An explicit id is never filtered. The people of an mbcli.motion file are chosen by the same rule, with the extent of
their keypoints as the box (``keypoint_stats``) and nothing filtered.

Stitching (``stitch_tracks``, run by ``track_people`` after the tracker): one person seen as two tracks (lost
for longer than ``max_age`` behind an occluder or out of view, or lost in a fast flip) is joined back into one.
Track b continues track a when b starts after a starts and ends after a ends, they overlap by at most
``max_overlap`` frames, b's first observed frame comes at most ``max_gap_s`` seconds (default 2) after a's last,
their median box heights agree within ``size_ratio`` (1.5),
and b's first box centre lies within ``(reach + reach_per_s * gap seconds) * mean height`` (0.5 + 1.0 per second)
of the path a would have taken: the segment from a's last box centre to that point moved on for the gap at a's
recent velocity (least-squares over its last 0.5 s; the person may have kept going or stopped). Among the
admissible pairs the Hungarian algorithm picks the assignment of least total cost, cost = distance / tolerance +
log(height ratio) / log(size_ratio), so each track continues at most one and is continued by at most one (chains
of pieces join). A joined track keeps the earlier id, the unseen frames between pieces become gap rows (-1),
filled below, and ids are renumbered 0, 1, 2, ... in order of first appearance. Position and size are all it
compares: two people who swap places out of view, or a cut in the video, are not told apart by appearance here
(re-identification, below, does that).

Re-identification (``reidentify``, which ``track_people`` runs in place of stitching when the frames carry
appearance, i.e. for videos): one person seen as several tracks at any distance in time and place (who left and
came back, or jumped across a cut) becomes one track by appearance. A track's look is the per-part mean of its
per-frame colour descriptors (mbcli.appearance), over the frames where no other box covers more than ``max_cover``
(30 %) of its box (an occluder would colour it). Two tracks are comparable when each has at least ``min_seen`` (5)
such frames with the torso seen and their median box heights agree within ``size_ratio`` (1.5); their appearance
distance is Hellinger-Bhattacharyya (0 same colours, 1 disjoint); gap and position are not compared. Groups are
made by average linkage: the two groups whose mean distance over their comparable pairs is least join while it is
at most ``max_distance`` (0.12), and two groups never join when a track of one and a track of the other share more
than ``max_overlap`` (2) frames of their spans. The mean, unlike the closest pair, does not drift from one person to
another through a chain of near looks, and, unlike the farthest pair, it keeps one look whose pieces vary (sports2d
looped: the jumper's grass pieces are 0.05-0.2 apart, 0.10 on average). Then the motion links of stitching (``stitch_costs``, above) join groups too, but only where no track of one
group overlaps a track of the other in time: the appearance groups come first because they are the stronger
evidence (a motion link that makes a person continue as someone who plainly looks like a person seen at the same
time elsewhere is refused), while motion still joins one person across a change of light that changes the colours
(sports2d: the jumper, backlit on the roof and sunlit on the grass, is 0.6 apart from himself). The links are
taken greedily in increasing order of motion cost plus appearance distance of the two tracks (``unknown_distance``,
0.5, when either has too few frames with the torso seen), so of two rival links the one that also agrees in look
goes first, and a link refused for a time overlap does not use up either track's one continuation (each track
continues at most one and is continued by at most one). Joins are transitive: a motion link into one track of a
look group joins the whole group (sports2d looped: one roof piece continues as one grass piece, and every roof and
grass piece follows). The distance bound is
calibrated on real clips: the two people of sports2d (both in grey-green) are 0.18-0.20 apart, the people of the
pose2sim clips 0.64-0.69; one person's pieces in a constant light 0.02-0.10. Joined tracks keep the unseen frames
between pieces as gap rows (-1), and ids are renumbered in order of first appearance. Keypoint files carry no
appearance, so they are stitched by motion alone.

Gap filling (``track_to_keypoints``): the output covers the track's span contiguously. Frames where the track was not
observed get score 0 for every joint (the lifter treats score-0 joints as missing) and xy linearly interpolated, per
joint, between the nearest frames where that joint was seen (held constant before the first / after the last such
frame). Joints observed with score 0 are filled the same way, so no missing joint sits at a meaningless (0, 0). Gaps
longer than ``max_gap`` frames (default one second) are filled identically, still with score 0, and reported with a
logged warning: interpolated positions over such gaps are placeholders, not estimates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from mbcli.appearance import DIM, PART_DIM, appearance_distance, mean_descriptor
from mbcli.errors import ConfigError, NoPersonFound
from mbcli.geometry import box_iou
from mbcli.types import FramePoses, Keypoints2D, PackedFrames, Track

log = logging.getLogger(__name__)

_BIG = 1e6  # cost of a forbidden pair


# --------------------------------------------------------------------------------------------------- box geometry


def _xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    assert b.shape[-1] == 4
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, b[..., 2] - b[..., 0],
                     b[..., 3] - b[..., 1]], axis=-1)  # fmt: skip


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    assert b.shape[-1] == 4
    return np.stack([b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2, b[..., 0] + b[..., 2] / 2,
                     b[..., 1] + b[..., 3] / 2], axis=-1)  # fmt: skip


# -------------------------------------------------------------------------------------------------------- tracker


@dataclass
class _State:
    track_id: int
    box: np.ndarray  # last observed box, cx cy w h
    keypoints_xy: np.ndarray  # (K,2) last observed
    keypoint_scores: np.ndarray  # (K,)
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # d(cx cy w h)/frame
    hits: int = 1
    frames: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def predict(self, frame: int) -> np.ndarray:
        """Predicted box (cx cy w h) at ``frame``: constant velocity; size kept within [0.5, 2] x the last size."""
        dt = frame - self.last_frame
        pred = self.box + self.velocity * dt
        pred[2:] = np.clip(pred[2:], 0.5 * self.box[2:], 2.0 * self.box[2:])
        return pred


class Tracker:
    """Online multi-person tracker: call ``update`` with each frame's FramePoses in increasing frame order, then
    ``finish`` for the tracks. See the module docstring for the method and the meaning of every parameter."""

    def __init__(
        self,
        fps: float,
        *,
        max_age: int | None = None,
        min_iou: float = 0.1,
        iou_weight: float = 0.5,
        birth_score: float = 0.3,
        kp_score_min: float = 0.2,
        oks_kappa: float = 0.1,
        velocity_smoothing: float = 0.5,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.max_age = max(1, round(fps)) if max_age is None else int(max_age)
        if self.max_age < 1:
            raise ValueError(f"max_age must be >= 1 frame, got {max_age}")
        if not 0.0 <= iou_weight <= 1.0:
            raise ValueError(f"iou_weight must be in [0, 1], got {iou_weight}")
        self.min_iou = float(min_iou)
        self.iou_weight = float(iou_weight)
        self.birth_score = float(birth_score)
        self.kp_score_min = float(kp_score_min)
        self.oks_kappa = float(oks_kappa)
        self.alpha = float(velocity_smoothing)
        self._active: list[_State] = []
        self._done: list[_State] = []
        self._next_id = 0
        self._last_frame: int | None = None
        self._finished = False

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks still alive (seen within the last ``max_age`` frames)."""
        return [t.track_id for t in self._active]

    def update(self, poses: FramePoses) -> np.ndarray:
        """Associate one frame's detections; returns (N,) int64 track id per detection row (-1: not tracked)."""
        if self._finished:
            raise RuntimeError("Tracker.update called after finish()")
        f = int(poses.frame_index)
        if self._last_frame is not None and f <= self._last_frame:
            raise ValueError(f"frames must arrive in increasing order: got frame {f} after {self._last_frame}")
        self._last_frame = f
        # retire tracks unseen for more than max_age frames
        alive: list[_State] = []
        for t in self._active:
            (alive if f - t.last_frame <= self.max_age else self._done).append(t)
        self._active = alive

        N = poses.num_people
        out = np.full(N, -1, dtype=np.int64)
        free = list(range(N))
        if N and self._active:
            ages = sorted({t.last_frame for t in self._active}, reverse=True)  # most recently seen first
            levels = [([t for t in self._active if t.last_frame == seen], seen < f - 1) for seen in ages]
            for group, use_last in levels:
                if not group or not free:
                    continue
                cost = self._cost(group, poses, free, f, use_last)
                r, c = linear_sum_assignment(cost)
                taken = set()
                for i, j in zip(r, c):
                    if cost[i, j] >= _BIG:
                        continue
                    row = free[j]
                    self._observe(group[i], poses, row, f)
                    out[row] = group[i].track_id
                    taken.add(row)
                free = [row for row in free if row not in taken]
        # births, left to right
        born = [row for row in free if poses.box_scores[row] >= self.birth_score]
        born.sort(key=lambda row: (poses.boxes_xyxy[row, 0] + poses.boxes_xyxy[row, 2], row))
        for row in born:
            t = _State(
                track_id=self._next_id,
                box=_xyxy_to_cxcywh(poses.boxes_xyxy[row]),
                keypoints_xy=poses.keypoints_xy[row].astype(np.float64),
                keypoint_scores=poses.keypoint_scores[row].astype(np.float64),
                last_frame=f,
                frames=[f],
                rows=[row],
            )
            self._next_id += 1
            self._active.append(t)
            out[row] = t.track_id
        return out

    def _cost(self, tracks: list[_State], poses: FramePoses, rows: list[int], f: int, use_last: bool) -> np.ndarray:
        pred = np.stack([t.predict(f) for t in tracks])  # (M,4) cx cy w h
        pred_xyxy = _cxcywh_to_xyxy(pred)
        det_xyxy = poses.boxes_xyxy[rows].astype(np.float64)  # (N,4)
        iou = box_iou(pred_xyxy, det_xyxy)  # (M,N)
        if use_last:
            last_xyxy = _cxcywh_to_xyxy(np.stack([t.box for t in tracks]))
            iou = np.maximum(iou, box_iou(last_xyxy, det_xyxy))
        cost = 1.0 - iou
        K = poses.keypoints_xy.shape[1]
        if self.iou_weight < 1.0 and all(t.keypoints_xy.shape[0] == K for t in tracks):
            shift = pred[:, None, :2] - np.stack([t.box[:2] for t in tracks])[:, None, :]  # (M,1,2)
            kp_pred = np.stack([t.keypoints_xy for t in tracks]) + shift  # (M,K,2)
            vis_t = np.stack([t.keypoint_scores for t in tracks]) > self.kp_score_min  # (M,K)
            kp_det = poses.keypoints_xy[rows].astype(np.float64)  # (N,K,2)
            vis_d = poses.keypoint_scores[rows] > self.kp_score_min  # (N,K)
            both = vis_t[:, None, :] & vis_d[None, :, :]  # (M,N,K)
            d2 = ((kp_pred[:, None] - kp_det[None]) ** 2).sum(-1)  # (M,N,K)
            s2 = np.maximum(pred[:, 2] * pred[:, 3], 1.0)[:, None, None]  # box area as COCO's object scale
            sim = np.exp(-d2 / (2.0 * s2 * self.oks_kappa**2))
            n = both.sum(-1)
            oks = (sim * both).sum(-1) / np.maximum(n, 1)
            mixed = self.iou_weight * (1.0 - iou) + (1.0 - self.iou_weight) * (1.0 - oks)
            cost = np.where(n >= 3, mixed, cost)
        return np.where(iou >= self.min_iou, cost, _BIG)

    def _observe(self, t: _State, poses: FramePoses, row: int, f: int) -> None:
        box = _xyxy_to_cxcywh(poses.boxes_xyxy[row])
        v = (box - t.box) / (f - t.last_frame)
        t.velocity = v if t.hits == 1 else self.alpha * v + (1.0 - self.alpha) * t.velocity
        t.box = box
        t.keypoints_xy = poses.keypoints_xy[row].astype(np.float64)
        t.keypoint_scores = poses.keypoint_scores[row].astype(np.float64)
        t.last_frame = f
        t.hits += 1
        t.frames.append(f)
        t.rows.append(row)

    def finish(self) -> list[Track]:
        """All tracks seen so far, sorted by id; each spans its first to last observed frame (rows -1 in gaps)."""
        self._finished = True
        states = sorted(self._done + self._active, key=lambda t: t.track_id)
        return [_make_track(t.track_id, t.frames, t.rows) for t in states]


def _make_track(track_id: int, frames: Sequence[int], rows: Sequence[int]) -> Track:
    first, last = frames[0], frames[-1]
    idx = np.arange(first, last + 1, dtype=np.int64)
    out_rows = np.full(idx.shape, -1, dtype=np.int64)
    out_rows[np.asarray(frames) - first] = rows
    return Track(track_id=int(track_id), frame_indices=idx, rows=out_rows)


def track_people(
    frames: Iterable[FramePoses],
    fps: float,
    *,
    given_ids: Sequence[np.ndarray] | None = None,
    stitch_gap_s: float = 2.0,
    reid_distance: float = 0.12,
    **tracker_options,
) -> list[Track]:
    """Associate the people of ``frames`` (increasing frame order) into tracks, sorted by id, then join the
    pieces of one person with ``stitch_tracks`` (gaps up to ``stitch_gap_s`` seconds; 0 turns stitching off) and,
    when the frames carry appearance, with ``reidentify`` (appearance distance up to ``reid_distance``; 0 turns
    it off).

    given_ids: per frame, (N,) track ids the input file already carries (e.g. AlphaPose ``idx``), aligned with
    ``frames``; when given they are used as is (ids kept, negative ids ignored, a repeated id in one frame keeps the
    highest box score) and no association is run. tracker_options go to Tracker (max_age, min_iou, ...).
    """
    if given_ids is not None:
        return _tracks_from_ids(frames, given_ids)
    tracker = Tracker(fps, **tracker_options)
    held: dict[int, FramePoses] = {}  # a one-pass iterable's frames, kept for stitching (a Sequence holds its own)
    for poses in frames:
        tracker.update(poses)
        if not isinstance(frames, Sequence):
            held[int(poses.frame_index)] = poses
    seen = _by_index(frames) if isinstance(frames, Sequence) else held
    if reid_distance > 0:
        return reidentify(tracker.finish(), seen, fps, max_distance=reid_distance, max_gap_s=stitch_gap_s)
    return stitch_tracks(tracker.finish(), seen, fps, max_gap_s=stitch_gap_s)


@dataclass(frozen=True)
class _Ends:
    """What stitching compares of a track: first / last observed frame; head, tail: centre (px) of the first / last
    observed box; velocity (2,) px/frame of the box centre over the track's last observed ``window`` frames;
    height: median box height (px)."""

    first: int
    last: int
    head: np.ndarray
    tail: np.ndarray
    velocity: np.ndarray
    height: float


def _ends(track: Track, frames: Mapping[int, FramePoses], window: int) -> _Ends:
    obs = track.rows >= 0
    f = track.frame_indices[obs]
    boxes = np.stack([frames[int(i)].boxes_xyxy[int(r)] for i, r in zip(f, track.rows[obs])]).astype(np.float64)
    c = _xyxy_to_cxcywh(boxes)  # (n,4)
    recent = f >= f[-1] - window
    v = np.zeros(2)
    if recent.sum() >= 2 and np.ptp(f[recent]) > 0:
        v = np.polyfit(f[recent].astype(np.float64), c[recent, :2], 1)[0]  # slope per coordinate
    return _Ends(int(f[0]), int(f[-1]), c[0, :2], c[-1, :2], v, float(np.median(c[:, 3])))


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point p to the segment a-b (all (2,))."""
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def _stitch_cost(a: _Ends, b: _Ends, fps: float, max_gap: int, max_overlap: int, size_ratio: float,
                 reach: float, reach_per_s: float) -> float:
    """Cost of ``b`` continuing ``a`` (module docstring, Stitching); _BIG when it cannot."""
    gap = b.first - a.last  # 1: consecutive frames; <= 0: overlap of 1 - gap frames
    if b.first <= a.first or b.last <= a.last or gap > max_gap or 1 - gap > max_overlap:
        return _BIG
    ratio = max(a.height, b.height) / max(min(a.height, b.height), 1.0)
    if ratio > size_ratio:
        return _BIG
    dt = max(gap, 0)
    dist = _segment_distance(b.head, a.tail, a.tail + a.velocity * dt)
    tol = 0.5 * (a.height + b.height) * (reach + reach_per_s * dt / fps)
    if dist > tol:
        return _BIG
    return dist / tol + math.log(ratio) / math.log(size_ratio)


def stitch_tracks(
    tracks: Sequence[Track],
    frames: Mapping[int, FramePoses],
    fps: float,
    *,
    max_gap_s: float = 2.0,
    **options,
) -> list[Track]:
    """Join tracks that are one person seen twice (module docstring, Stitching); ids renumbered 0, 1, 2, ... in
    order of first appearance. ``frames`` maps a frame index to its FramePoses (the tracks' rows index them);
    options go to ``stitch_links`` (max_overlap, size_ratio, reach, reach_per_s, velocity_window_s)."""
    tracks = sorted(tracks, key=lambda t: t.track_id)
    nxt = dict(stitch_links(tracks, frames, fps, max_gap_s=max_gap_s, **options))
    if not nxt:
        return list(tracks)
    chains = []
    for i in sorted(set(range(len(tracks))) - set(nxt.values())):
        chain = [i]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains.append([tracks[k] for k in chain])
    return _join_groups(chains)


def stitch_links(
    tracks: Sequence[Track],
    frames: Mapping[int, FramePoses],
    fps: float,
    **options,
) -> list[tuple[int, int]]:
    """The motion links of stitching (module docstring): pairs (i, j) of positions in ``tracks``, track j
    continuing track i, each track in at most one pair on each side; in increasing order of cost. options go to
    ``stitch_costs``."""
    cost = stitch_costs(tracks, frames, fps, **options)
    links = []
    for i, j in zip(*linear_sum_assignment(cost)):
        if cost[i, j] < _BIG:
            links.append((int(i), int(j)))
            log.info("track %d continues as track %d after %d frames unseen", tracks[i].track_id,
                     tracks[j].track_id, max(int(tracks[j].frame_indices[0] - tracks[i].frame_indices[-1]) - 1, 0))
    return sorted(links, key=lambda ij: cost[ij])


def stitch_costs(
    tracks: Sequence[Track],
    frames: Mapping[int, FramePoses],
    fps: float,
    *,
    max_gap_s: float = 2.0,
    max_overlap: int = 2,
    size_ratio: float = 1.5,
    reach: float = 0.5,
    reach_per_s: float = 1.0,
    velocity_window_s: float = 0.5,
) -> np.ndarray:
    """(M,M) cost of track j continuing track i (row i: the track that ends, column j: the one that starts; module
    docstring, Stitching); _BIG where it cannot."""
    M = len(tracks)
    max_gap = round(max_gap_s * fps)
    if max_gap < 1 or M < 2:
        return np.full((M, M), _BIG)
    ends = [_ends(t, frames, max(1, round(velocity_window_s * fps))) for t in tracks]
    return np.array([[_stitch_cost(a, b, fps, max_gap, max_overlap, size_ratio, reach, reach_per_s) for b in ends]
                     for a in ends]).reshape(M, M)


def _join_groups(groups: Sequence[Sequence[Track]]) -> list[Track]:
    """One track per group of pieces (``_join``), numbered 0, 1, 2, ... in order of first observed frame (ties: the
    lower old id)."""
    key = [min((int(t.frame_indices[t.rows >= 0][0]), t.track_id) for t in g) for g in groups]
    order = sorted(range(len(groups)), key=lambda g: key[g])
    return [_join(new_id, sorted(groups[g], key=lambda t: int(t.frame_indices[0]))) for new_id, g in enumerate(order)]


def _join(track_id: int, pieces: Sequence[Track]) -> Track:
    """One track from ``pieces`` in time order; a frame two pieces both observe keeps the earlier piece's row."""
    rows: dict[int, int] = {}
    for t in pieces:
        for f, r in zip(t.frame_indices.tolist(), t.rows.tolist()):
            if r >= 0:
                rows.setdefault(f, r)
    fr = sorted(rows)
    return _make_track(track_id, fr, [rows[f] for f in fr])


# ------------------------------------------------------------------------------------------- re-identification


@dataclass(frozen=True)
class _Look:
    """What re-identification compares of a track: first / last frame of its span; descriptor (D,) its mean
    appearance (mbcli.appearance.mean_descriptor); seen: frames that descriptor averages; height: median box
    height (px)."""

    first: int
    last: int
    descriptor: np.ndarray
    seen: int
    height: float


def _look(track: Track, frames: Mapping[int, FramePoses], max_cover: float) -> _Look:
    rows, heights = [], []
    for f, r in zip(track.frame_indices.tolist(), track.rows.tolist()):
        if r < 0:
            continue
        fp = frames[f]
        heights.append(float(fp.boxes_xyxy[r, 3] - fp.boxes_xyxy[r, 1]))
        if fp.appearance is not None and _covered(fp.boxes_xyxy, r) <= max_cover:
            rows.append(fp.appearance[r])
    desc = mean_descriptor(np.array(rows)) if rows else np.full(DIM, np.nan)
    seen = sum(bool(np.isfinite(d[:PART_DIM]).all()) for d in rows)  # frames whose torso was seen
    return _Look(int(track.frame_indices[0]), int(track.frame_indices[-1]), desc, seen, float(np.median(heights)))


def _covered(boxes_xyxy: np.ndarray, row: int) -> float:
    """The largest fraction of box ``row``'s area that one other box of the frame covers (0 when alone)."""
    b = boxes_xyxy.astype(np.float64)
    others = np.delete(b, row, axis=0)  # (N-1,4)
    if not len(others):
        return 0.0
    w = np.clip(np.minimum(others[:, 2], b[row, 2]) - np.maximum(others[:, 0], b[row, 0]), 0, None)
    h = np.clip(np.minimum(others[:, 3], b[row, 3]) - np.maximum(others[:, 1], b[row, 1]), 0, None)
    area = max(float((b[row, 2] - b[row, 0]) * (b[row, 3] - b[row, 1])), 1e-9)
    return float((w * h).max() / area)


def _may_be_one(a: _Look, b: _Look, max_overlap: int, size_ratio: float) -> bool:
    """Whether tracks ``a`` and ``b`` can be one person by time and size: their spans share at most ``max_overlap``
    frames and their median heights agree within ``size_ratio``."""
    overlap = min(a.last, b.last) - max(a.first, b.first) + 1
    ratio = max(a.height, b.height) / max(min(a.height, b.height), 1.0)
    return overlap <= max_overlap and ratio <= size_ratio


def reidentify(
    tracks: Sequence[Track],
    frames: Mapping[int, FramePoses],
    fps: float,
    *,
    max_distance: float = 0.12,
    size_ratio: float = 1.5,
    max_overlap: int = 2,
    min_seen: int = 5,
    max_cover: float = 0.3,
    max_gap_s: float = 2.0,
    unknown_distance: float = 0.5,
) -> list[Track]:
    """One track per person from the tracker's ``tracks`` (module docstring, Re-identification): group them by
    appearance, then join groups along the motion links of stitching (gaps up to ``max_gap_s``; 0: none) where no
    two tracks of the union overlap in time; ids renumbered 0, 1, 2, ... in order of first appearance. Without
    appearance in any frame this is ``stitch_tracks``."""
    if all(fp.appearance is None for fp in frames.values()):
        return stitch_tracks(tracks, frames, fps, max_gap_s=max_gap_s, max_overlap=max_overlap,
                             size_ratio=size_ratio)
    tracks = sorted(tracks, key=lambda t: t.track_id)
    looks = [_look(t, frames, max_cover) for t in tracks]
    M = len(tracks)
    apart = np.array([[i != j and not _may_be_one(a, b, max_overlap, np.inf) for j, b in enumerate(looks)]
                      for i, a in enumerate(looks)]).reshape(M, M)  # (M,M) spans overlap: never one person
    dist = np.full((M, M), np.inf)
    for i in range(M):
        for j in range(i + 1, M):
            a, b = looks[i], looks[j]
            if min(a.seen, b.seen) >= min_seen and _may_be_one(a, b, max_overlap, size_ratio):
                d = appearance_distance(a.descriptor, b.descriptor)
                dist[i, j] = dist[j, i] = d if np.isfinite(d) else np.inf
    group = list(range(M))  # group[i]: the group track i is in
    members: dict[int, list[int]] = {i: [i] for i in range(M)}

    def merge(i: int, j: int) -> bool:
        gi, gj = group[i], group[j]
        if gi == gj or apart[np.ix_(members[gi], members[gj])].any():
            return False
        for k in members.pop(gj):
            group[k] = gi
            members[gi].append(k)
        return True

    for i, j, d in _average_linkage(dist, apart, max_distance):
        merge(i, j)
        log.info("track %d is track %d again (mean appearance distance %.3f)", tracks[i].track_id, tracks[j].track_id,
                 d)
    cost = stitch_costs(tracks, frames, fps, max_gap_s=max_gap_s, max_overlap=max_overlap, size_ratio=size_ratio)
    ended, started = set(), set()  # tracks already continued / already continuing one
    looked = np.array([lk.seen >= min_seen for lk in looks])
    order = [(float(cost[i, j]) + _link_distance(looks[i], looks[j], looked[i] and looked[j], unknown_distance),
              int(i), int(j)) for i, j in zip(*np.nonzero(cost < _BIG))]
    for _, i, j in sorted(order):
        if i in ended or j in started:
            continue
        if group[i] != group[j] and not merge(i, j):
            log.info("track %d does not continue as track %d: their people overlap in time", tracks[i].track_id,
                     tracks[j].track_id)
            continue
        ended.add(i)
        started.add(j)
        log.info("track %d continues as track %d after %d frames unseen", tracks[i].track_id, tracks[j].track_id,
                 max(int(tracks[j].frame_indices[0] - tracks[i].frame_indices[-1]) - 1, 0))
    return _join_groups([[tracks[k] for k in m] for m in members.values()])


def _link_distance(a: _Look, b: _Look, known: bool, unknown: float) -> float:
    """Appearance distance of two tracks for ordering motion links; ``unknown`` when either look is not known."""
    d = appearance_distance(a.descriptor, b.descriptor) if known else np.nan
    return float(d) if np.isfinite(d) else unknown


def _average_linkage(dist: np.ndarray, apart: np.ndarray, max_distance: float) -> list[tuple[int, int, float]]:
    """Agglomerate by average linkage: repeatedly join the two groups whose mean distance over their comparable
    pairs (finite ``dist``) is least, while it is at most ``max_distance``; groups with a pair ``apart`` never join.
    Returns the joins as (a track of one group, a track of the other, mean distance), in order."""
    M = len(dist)
    fin = np.isfinite(dist)
    S = np.where(fin, dist, 0.0)  # (M,M) sum of distances between groups
    N = fin.astype(np.float64)  # (M,M) number of comparable pairs
    V = apart.copy()  # (M,M) groups that may never join
    alive = np.ones(M, dtype=bool)
    joins: list[tuple[int, int, float]] = []
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where((N > 0) & ~V & alive[:, None] & alive[None, :], S / N, np.inf)
        np.fill_diagonal(mean, np.inf)
        g, h = np.unravel_index(int(np.argmin(mean)), mean.shape)
        if not mean[g, h] <= max_distance:
            return joins
        joins.append((int(g), int(h), float(mean[g, h])))
        for A in (S, N):
            A[g] += A[h]
            A[:, g] += A[:, h]
        V[g] |= V[h]
        V[:, g] |= V[:, h]
        alive[h] = False


def _tracks_from_ids(frames: Iterable[FramePoses], given_ids: Sequence[np.ndarray]) -> list[Track]:
    seen: dict[int, dict[int, tuple[int, float]]] = {}  # id -> frame -> (row, score)
    for poses, ids in zip(frames, given_ids, strict=True):
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.shape[0] != poses.num_people:
            raise ValueError(f"frame {poses.frame_index}: {poses.num_people} people but {ids.shape[0]} given ids")
        f = int(poses.frame_index)
        for row, tid in enumerate(ids.tolist()):
            if tid < 0:
                continue
            score = float(poses.box_scores[row])
            per = seen.setdefault(tid, {})
            if f not in per or score > per[f][1]:
                per[f] = (row, score)
    tracks = []
    for tid in sorted(seen):
        fr = sorted(seen[tid])
        tracks.append(_make_track(tid, fr, [seen[tid][k][0] for k in fr]))
    return tracks


# ------------------------------------------------------------------------------------------------------ selection


def _by_index(frames: Sequence[FramePoses] | Mapping[int, FramePoses]) -> Mapping[int, FramePoses]:
    if isinstance(frames, Mapping):
        return frames
    if isinstance(frames, PackedFrames):
        return frames.by_index()
    return {int(fp.frame_index): fp for fp in frames}


@dataclass(frozen=True)
class PersonStats:
    """What choosing people looks at: track_id; observed frames; mean_area (px^2) of the person's box over those
    frames; median_height (px) of that box."""

    track_id: int
    observed: int
    mean_area: float
    median_height: float


def _box_stats(track: Track, frames: Mapping[int, FramePoses]) -> PersonStats:
    boxes = np.array(
        [frames[int(f)].boxes_xyxy[r] for f, r in zip(track.frame_indices, track.rows) if r >= 0], dtype=np.float64
    ).reshape(-1, 4)
    if not len(boxes):
        return PersonStats(track.track_id, 0, 0.0, 0.0)
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return PersonStats(track.track_id, len(boxes), float((w * h).mean()), float(np.median(h)))


def keypoint_stats(track_id: int, kp: Keypoints2D) -> PersonStats:
    """PersonStats of a keypoint sequence without boxes (an mbcli.motion file): the box of a frame is the extent
    of its keypoints with score > 0, counted in frames with at least 2 such keypoints."""
    valid = kp.scores > 0
    sizes = np.array([np.ptp(kp.xy[t][valid[t]], axis=0) for t in range(kp.num_frames) if valid[t].sum() >= 2],
                     dtype=np.float64).reshape(-1, 2)
    if not len(sizes):
        return PersonStats(track_id, 0, 0.0, 0.0)
    return PersonStats(track_id, len(sizes), float(sizes.prod(axis=1).mean()), float(np.median(sizes[:, 1])))


def check_person(person: str | int) -> str:
    """``person`` normalised ("all", "largest" or a track id as digits); ConfigError for anything else."""
    key = str(person).strip().lower()
    if key not in ("all", "largest") and not key.lstrip("+-").isdigit():
        raise ConfigError(f"person must be 'all', 'largest' or a track id, got {person!r}")
    return key


def choose_people(stats: Sequence[PersonStats], person: str | int, *, min_frames: int = 0,
                  min_height: float = 0.0) -> list[int]:
    """The track ids to use, ascending: ``person`` "all", "largest" or a track id (module docstring, Selection).

    "all" and "largest" first drop people observed in fewer than ``min_frames`` frames or with a median box height
    under ``min_height`` px (all are kept when that would drop everyone); "largest" is then the one with the
    largest mean area times observed frames (ties: the lower id). NoPersonFound for no people or an unknown id
    (the message lists the ids), ConfigError for any other ``person`` value.
    """
    key = check_person(person)
    if not stats:
        raise NoPersonFound("no person was detected in any frame")
    if key not in ("all", "largest"):
        want = int(key)
        if any(s.track_id == want for s in stats):
            return [want]
        ids = ", ".join(str(s.track_id) for s in sorted(stats, key=lambda s: s.track_id))
        raise NoPersonFound(f"no person with track id {want}; track ids found: {ids}")
    kept = [s for s in stats if s.observed >= min_frames and s.median_height >= min_height]
    if not kept:
        log.info("every track is short or small; keeping all %d tracks", len(stats))
        kept = list(stats)
    kept.sort(key=lambda s: s.track_id)
    if key == "all":
        return [s.track_id for s in kept]
    return [max(kept, key=lambda s: (s.mean_area * s.observed, -s.track_id)).track_id]


def select_tracks(
    tracks: Sequence[Track],
    frames: Sequence[FramePoses] | Mapping[int, FramePoses],
    person: str | int = "largest",
    *,
    fps: float | None = None,
    image_size: tuple[int, int] | None = None,
    min_frames: int | None = None,
    min_height_frac: float = 0.1,
) -> list[Track]:
    """Choose the tracks to lift with ``choose_people`` over their boxes: tracks seen in fewer than
    ``max(10, ceil(0.25 s * fps))`` frames (``min_frames``) or, when the image size is known, with a median height
    under ``min_height_frac`` of it are dropped first."""
    by_idx = _by_index(frames)
    if min_frames is None:
        min_frames = max(10, math.ceil(0.25 * fps)) if fps else 10
    min_height = min_height_frac * image_size[1] if image_size is not None else 0.0
    ids = choose_people([_box_stats(t, by_idx) for t in tracks], person, min_frames=min_frames,
                        min_height=min_height)
    by_id = {t.track_id: t for t in tracks}
    return [by_id[i] for i in ids]


# ---------------------------------------------------------------------------------------------------- gap filling


def track_to_keypoints(
    track: Track,
    frames: Sequence[FramePoses] | Mapping[int, FramePoses],
    image_size: tuple[int, int],
    fps: float,
    *,
    max_gap: int | None = None,
) -> Keypoints2D:
    """Gather a track's keypoints over its whole span (T = len(track.frame_indices)) into a Keypoints2D.

    Unobserved frames and score-0 joints get score 0 and xy interpolated per joint (module docstring); gaps longer
    than ``max_gap`` frames (default round(fps)) are logged as a warning.
    """
    if image_size is None:
        raise ValueError("image_size (width, height) is required; see mbcli.detect.files.infer_image_size")
    by_idx = _by_index(frames)
    seen = np.flatnonzero(track.rows >= 0)
    if not len(seen):
        raise NoPersonFound(f"track {track.track_id} has no observed frame")
    skeleton = by_idx[int(track.frame_indices[seen[0]])].skeleton
    K = skeleton.num_joints
    T = len(track.frame_indices)
    # float32, what Keypoints2D holds: the detections are float32 and np.interp's float64 results are rounded once
    # on assignment, as a float64 array cast at the end would be (without its two extra whole-track copies)
    xy = np.zeros((T, K, 2), dtype=np.float32)
    sc = np.zeros((T, K), dtype=np.float32)
    centre = np.full((T, 2), np.nan)
    for t, (f, r) in enumerate(zip(track.frame_indices.tolist(), track.rows.tolist())):
        if r < 0:
            continue
        fp = by_idx[f]
        xy[t] = fp.keypoints_xy[r]
        sc[t] = fp.keypoint_scores[r]
        b = fp.boxes_xyxy[r]
        centre[t] = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    sc[~np.isfinite(sc) | ~np.isfinite(xy).all(-1)] = 0.0
    sc[~(sc > 0)] = 0.0

    # report long gaps
    max_gap = max(1, round(fps)) if max_gap is None else int(max_gap)
    miss = track.rows < 0
    if miss.any():
        edges = np.flatnonzero(np.diff(np.concatenate([[0], miss.astype(np.int8), [0]])))
        long = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a > max_gap]
        if long:  # one line per track: "frames 133-190", or the first stretch and how many more
            a, b = long[0]
            where = f"frames {track.frame_indices[a]}-{track.frame_indices[b - 1]}" + (
                f" and {len(long) - 1} more stretches" if len(long) > 1 else "")
            log.warning("track %d: %d frames unseen (%s), each longer than max_gap=%d; filled with score 0",
                        track.track_id, sum(int(b - a) for a, b in long), where, max_gap)

    # interpolate every missing joint in time
    tt = np.arange(T, dtype=np.float64)
    have_c = np.isfinite(centre[:, 0])
    centre = np.stack([np.interp(tt, tt[have_c], centre[have_c, i]) for i in range(2)], axis=-1)
    for j in range(K):
        vis = sc[:, j] > 0
        if vis.all():
            continue
        if vis.any():
            for i in range(2):
                xy[~vis, j, i] = np.interp(tt[~vis], tt[vis], xy[vis, j, i])
        else:
            xy[:, j] = centre
    return Keypoints2D(
        xy=xy, scores=sc, frame_indices=track.frame_indices, skeleton=skeleton, image_size=image_size, fps=fps
    )
