"""Hypothesis strategies for the fuzz tier: keypoint documents of every format mbcli reads (COCO results and ground
truth, AlphaPose, OpenPose frames and folders, MMPose demo / inferencer / bare output, mbcli.motion v1 and v2), odd
but valid values in them (NaN, inf, negative or huge numbers, scores outside [0, 1], repeated frame ids, unicode),
then random damage (a node replaced by junk, a key or item removed, an item repeated, deeply nested junk, the text
cut short or made undecodable). ``examples(n)`` scales every fuzz test's example count by $MBCLI_FUZZ_SCALE (a deep
local hunt: MBCLI_FUZZ_SCALE=50 HYPOTHESIS_PROFILE=hunt)."""

from __future__ import annotations

import copy
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from mbcli.export.json_motion import motion_to_dict
from mbcli.skeletons import SKELETONS
from mbcli.types import Floor, Intrinsics, Keypoints2D, MotionResult, Pose3D, Scene, VideoInfo, WorldPose


def examples(n: int) -> int:
    """``n`` examples times $MBCLI_FUZZ_SCALE (default 1)."""
    return max(1, round(n * float(os.environ.get("MBCLI_FUZZ_SCALE", "1"))))


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (TimeoutError) when the block runs longer than ``seconds``: a reader must never hang."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------------------------------ values

ODD_FLOATS = st.sampled_from([0.0, -0.0, -1.0, 1e-300, -1e6, 1e6, 3.5e38, -3.5e38, 1e300, float("nan"),
                              float("inf"), float("-inf")])
HUGE_INTS = st.sampled_from([-1, 2**31, 2**63, 10**30, -(10**30), 10**400])


def _mostly(usual: st.SearchStrategy, *odd: st.SearchStrategy, weight: int = 6) -> st.SearchStrategy:
    """``usual`` ``weight`` times as often as each of ``odd`` (one_of picks its branches alike)."""
    return st.one_of(*([usual] * weight), *odd)


COORD = _mostly(st.floats(-50.0, 2000.0), ODD_FLOATS, st.integers(-100, 3000), weight=12)
SCORE = _mostly(st.floats(0.0, 1.0), st.sampled_from([0, 1, 2, -0.5, 1.5, 1e9]), ODD_FLOATS, weight=12)
FRAME_ID = _mostly(st.integers(0, 6), st.integers(-3, 200), HUGE_INTS,
                   st.integers(0, 9).map(lambda i: f"frame_{i:06d}.png"), st.integers(0, 9).map(str), st.sampled_from([1.0, 2.5, "x", "é.jpg", None, True, [1]]), weight=10)
TRACK_ID = _mostly(st.integers(0, 4), st.sampled_from([-1, [2], [-1], 1.5, "a", None]), HUGE_INTS)
K_COCO = st.sampled_from([17] * 6 + [26] * 3 + [133, 136, 0, 1, 16, 18])
LEAF_JUNK = st.one_of(st.none(), st.booleans(), HUGE_INTS, ODD_FLOATS, st.text(max_size=6),
                      st.sampled_from(["", "é", "\u202e", "\U0001f600", "\x00"]))
JUNK = st.one_of(
    LEAF_JUNK,
    st.just([]), st.just({}),
    st.recursive(LEAF_JUNK, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                 max_leaves=6),
    st.integers(50, 30000).map(lambda n: f"\x00DEEP{n}"),  # replaced by n nested lists after serialisation
)




@dataclass(frozen=True)
class Values:
    """The values one document is made of: plain ones, or odd ones (a document draws one kind for all its values,
    so that about half the documents are valid and reach the readers' deeper code)."""

    coord: st.SearchStrategy
    score: st.SearchStrategy
    frame_id: st.SearchStrategy
    track_id: st.SearchStrategy
    k: st.SearchStrategy  # keypoints per person, COCO-like formats


PLAIN = Values(st.floats(0.0, 1000.0), st.floats(0.05, 1.0), st.integers(0, 6), st.integers(0, 4),
               st.sampled_from([17, 17, 26, 133, 136]))
ODD = Values(COORD, SCORE, FRAME_ID, TRACK_ID, K_COCO)
VALUES = st.sampled_from([PLAIN, ODD])


def _flat_kp(draw, v: Values, K: int) -> list:
    return [draw(v.coord) if i % 3 < 2 else draw(v.score) for i in range(3 * K)]


def _box(draw, v: Values) -> list:
    return [draw(v.coord) for _ in range(4)]


# --------------------------------------------------------------------------------------------- base documents


@st.composite
def coco_results(draw, alphapose: bool = False) -> list:
    v = draw(VALUES)
    K = draw(v.k)
    dets = []
    for _ in range(draw(st.integers(0, 8))):
        d: dict[str, Any] = {"image_id": draw(v.frame_id), "category_id": 1, "keypoints": _flat_kp(draw, v, K),
                             "score": draw(v.score)}
        if draw(st.booleans()):
            d["bbox"] = _box(draw, v)
        if alphapose:
            d["box"] = _box(draw, v)
            d["idx"] = draw(v.track_id)
        dets.append(d)
    return dets


@st.composite
def coco_ground_truth(draw) -> dict:
    v = draw(VALUES)
    K = draw(v.k)
    width = st.just(640) if v is PLAIN else st.one_of(st.just(640), HUGE_INTS, ODD_FLOATS)
    images = [{"id": i, "width": draw(width), "height": 480}
              for i in range(draw(st.integers(0, 3)))]
    anns = []
    for _ in range(draw(st.integers(0, 5))):
        kp = [draw(v.coord) if i % 3 < 2 else draw(st.sampled_from([0, 1, 2, 2, -1, 0.5])) for i in range(3 * K)]
        a: dict[str, Any] = {"image_id": draw(v.frame_id), "keypoints": kp, "bbox": _box(draw, v),
                             "iscrowd": draw(st.sampled_from([0, 0, 1]))}
        if draw(st.booleans()):
            a["track_id"] = draw(v.track_id)
        anns.append(a)
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


@st.composite
def openpose_frame(draw) -> dict:
    v = draw(VALUES)
    n = draw(st.sampled_from([75, 75, 54] if v is PLAIN else [75, 54, 0, 72]))
    people = [{"person_id": draw(v.track_id), "pose_keypoints_2d": _flat_kp(draw, v, n // 3) + [0.0] * (n % 3)}
              for _ in range(draw(st.integers(0, 4)))]
    return {"version": 1.3, "people": people}


@st.composite
def mmpose_instance(draw, v: Values, K: int) -> dict:
    inst: dict[str, Any] = {"keypoints": [[draw(v.coord), draw(v.coord)] for _ in range(K)],
                            "keypoint_scores": [draw(v.score) for _ in range(K)],
                            "bbox": [_box(draw, v)], "bbox_score": draw(v.score)}
    if draw(st.booleans()):
        inst["track_id"] = draw(v.track_id)
    return inst


@st.composite
def mmpose(draw) -> Any:
    v = draw(VALUES)
    K = draw(v.k)
    frames = [{"frame_id": draw(v.frame_id),
               "instances": [draw(mmpose_instance(v, K)) for _ in range(draw(st.integers(0, 3)))]}
              for _ in range(draw(st.integers(0, 4)))]
    kind = draw(st.sampled_from(["demo", "inferencer", "bare"]))
    if kind == "demo":
        return {"meta_info": {"dataset_name": "coco"}, "instance_info": frames}
    if kind == "inferencer":
        return frames
    return [i for f in frames for i in f["instances"]]


def motion_doc(seed: int, people: int, T: int, sk2d: str = "h36m17", world: bool = False,
               with_3d: bool = True) -> dict:
    """A valid mbcli.motion v2 document made by the writer: ``people`` people of T frames each, their 3D (always
    with ``world``), and the world blocks when asked."""
    rng = np.random.default_rng(seed)
    results = []
    for tid in range(people):
        J = SKELETONS[sk2d].num_joints
        frames = np.sort(rng.choice(50, T, replace=False))
        k2d = Keypoints2D(rng.uniform(0, 600, (T, J, 2)), rng.uniform(0.1, 1, (T, J)), frames, sk2d, (640, 480), 25.0)
        pose = Pose3D(rng.normal(0, 0.3, (T, 17, 3)), "h36m17", frames, 25.0) if world or with_3d else None
        placed = None
        if world:
            placed = WorldPose(rng.normal(0, 1, (T, 17, 3)), rng.normal(0, 1, (T, 3)) + [0, 0, 4],
                               rng.integers(0, 8, T), rng.random((T, 2)) > 0.5, 1.05)
        results.append(MotionResult(None, tid, k2d, pose, placed))
    scene = Scene(Intrinsics(600.0, 600.0, 320.0, 240.0, "prior"), Floor(np.array([0.0, -0.96, 0.28]), 1.5, "feet",
                                                                        samples=10, inliers=8)) if world else None
    video = None if results else VideoInfo("clip.mp4", 640, 480, 25.0, 50)  # a file with no people states its video
    return motion_to_dict(results, video, scene=scene)


@st.composite
def motion(draw) -> dict:
    """A valid mbcli.motion document (v2, with or without world blocks; or v1), then made odd."""
    world = draw(st.booleans())
    doc = motion_doc(draw(st.integers(0, 2**16)), draw(st.integers(0, 3)), draw(st.integers(1, 6)),
                     draw(st.sampled_from(["h36m17", "coco17", "halpe26"])), world, draw(st.booleans()))
    if not world and draw(st.booleans()):
        doc["version"] = 1
    for key, value in draw(st.lists(st.tuples(st.sampled_from(["fps", "num_frames", "image_size"]),
                                              st.one_of(ODD_FLOATS, HUGE_INTS, st.just([10**30, 5]))), max_size=1)):
        doc[key] = value
    return doc


def any_document() -> st.SearchStrategy[tuple[str, Any]]:
    """(the format's name, a document) for every single-file format."""
    return st.one_of(coco_results().map(lambda d: ("coco", d)),
                     coco_results(alphapose=True).map(lambda d: ("alphapose", d)),
                     coco_ground_truth().map(lambda d: ("coco-gt", d)),
                     openpose_frame().map(lambda d: ("openpose", d)),
                     mmpose().map(lambda d: ("mmpose", d)),
                     motion().map(lambda d: ("mbcli.motion", d)))


# ---------------------------------------------------------------------------------------------------- damage


def _paths(node: Any, here: tuple = ()) -> Iterator[tuple]:
    yield here
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*here, i))


def _parent(doc: Any, path: tuple) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def damaged(draw, doc: Any) -> Any:
    """``doc`` with 0-3 random edits: a node replaced by junk, removed, repeated, or junk inserted. (Values are
    copied: a strategy's value, e.g. st.just([]), is one object, which an edit must not change for the next example.)"""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.sampled_from([0] * 4 + [1, 1, 2, 3]))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "remove", "repeat", "insert"]))
        if not path:
            doc = copy.deepcopy(draw(JUNK)) if op == "replace" else doc
            continue
        parent, key = _parent(doc, path), path[-1]
        if op == "replace":
            parent[key] = copy.deepcopy(draw(JUNK))
        elif op == "remove":
            del parent[key]
        elif op == "repeat" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif op == "insert" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(draw(JUNK)))
        elif op == "insert":
            parent[draw(st.text(max_size=5))] = copy.deepcopy(draw(JUNK))
    return doc


def serialise(doc: Any) -> str:
    """JSON text as Python writes it (NaN and Infinity as those tokens), deep-nesting markers expanded."""
    text = json.dumps(doc, ensure_ascii=False)
    while "\\u0000DEEP" in text:
        start = text.index('"\\u0000DEEP')
        end = text.index('"', start + 1)
        n = int(text[start + len('"\\u0000DEEP'):end])
        text = text[:start] + "[" * n + "]" * n + text[end + 1:]
    return text


@st.composite
def file_bytes(draw, text: str) -> bytes:
    """The document's bytes, now and then cut short, with a byte flipped, or in another encoding."""
    data = text.encode("utf-8")
    how = draw(st.sampled_from(["whole"] * 16 + ["cut", "flip", "utf16", "bom"]))
    if how == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    elif how == "utf16":
        data = text.encode("utf-16")
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    return data


@dataclass(frozen=True)
class Written:
    """One fuzzed input on disk: its path and the format its document started as."""

    path: Path
    format: str


@st.composite
def keypoint_input(draw, folder: Path) -> Written:
    """A fuzzed input written under ``folder`` (a fresh, empty one): a single file, or an OpenPose folder."""
    if draw(st.integers(0, 5)) == 0:  # an OpenPose folder of per-frame files
        d = folder / "openpose"
        d.mkdir()
        for i in range(draw(st.integers(0, 4))):
            name = draw(st.sampled_from([f"clip_{i:012d}_keypoints.json"] * 6 + [f"clip_{i % 2:012d}_keypoints.json",
                                         f"img{chr(97 + i)}_keypoints.json", "notes.txt"]))
            text = serialise(draw(damaged(draw(openpose_frame()))))
            (d / name).write_bytes(draw(file_bytes(text)))
        return Written(d, "openpose")
    fmt, doc = draw(any_document())
    path = folder / draw(st.sampled_from(["kp.json", "kp.JSON", "ké y.json"]))
    path.write_bytes(draw(file_bytes(serialise(draw(damaged(doc))))))
    return Written(path, fmt)
