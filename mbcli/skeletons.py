"""Joint-name tables for every skeleton mbcli reads or writes, and remapping between them by name.

A Skeleton is a name table: joint names in storage order, each joint's parent (-1 for the root), and left/right
partners derived from the names (``left_*`` <-> ``right_*``). Remapping never uses hand-written index lists:
each target joint is either a joint of the same name in the source, or a documented recipe of named source joints
(a weighted sum). The score of a derived joint is the minimum of its sources' scores, so a joint built from a
missing joint is missing too.

Tables:
- h36m17: the Human3.6M 17-joint order used by MotionBERT (REFERENCE.md section 2) and by ../shared/data/h36m.
- coco17: COCO keypoints. halpe26: COCO-17 + head top, neck, mid hip and six foot points (AlphaPose Halpe-26).
- blazepose33: MediaPipe BlazePose landmarks. sh16: the Stacked Hourglass detections of ../shared/data/h36m
  (h36m17 without neck_nose). ntu25: the Kinect v2 joints of NTU RGB+D (snake_case of the SDK's JointType names).

Derived-joint recipes into h36m17 (documented choices):
- pelvis = mid hips; thorax = mid shoulders; spine = mean(pelvis, thorax) (MotionBERT's COCO converter does the same).
- neck_nose = nose (the H36M joint sits at the nose/chin, under the head).
- head_top = mid ears + 0.5 (mid ears - thorax): the ears sit near the skull's centre, about half the
  shoulder-to-ear distance below the crown. Used for coco17 and blazepose33, which have no head-top point.
- sh16 -> h36m17: neck_nose = midpoint of thorax and head_top, flagged with the lower of their scores (the shared SH
  files carry no confidence; 1 is used). spine = midpoint of pelvis and thorax: the detector's own "spine" point sits
  a median 45 px from Human3.6M's spine joint in the training data, the midpoint 7 px.
- ntu25 (Kinect v2 body joints of NTU RGB+D) -> h36m17: pelvis = mid hips (Human3.6M's pelvis is the midpoint of its
  hips; Kinect's spine_base is its own pelvis estimate, not on the hip line); spine = spine_mid; thorax =
  spine_shoulder; neck_nose = midpoint of neck and head (about nose/mouth height, where the coco17 route puts it);
  head_top = head + 0.5 (head - neck). Kinect's head joint is the centre of the head, roughly 10 cm above its neck
  joint, which sits some 6-7 cm above spine_shoulder (typical adult values, not measured here), so these two keep
  about Human3.6M's thorax-neck_nose and neck_nose-head_top bone lengths (0.116 and 0.115 m).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A joint table. ``joints`` are snake_case names; ``parents[j]`` is the index of j's parent or -1."""

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(f"{self.name}: {len(self.joints)} joints but {len(self.parents)} parents")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"{self.name}: duplicate joint names")
        for j in range(len(self.parents)):
            seen, k = set(), j
            while k != -1:
                if k in seen or not -1 <= self.parents[k] < len(self.joints):
                    raise ValueError(f"{self.name}: joint {self.joints[j]} has an invalid parent chain")
                seen.add(k)
                k = self.parents[k]
        object.__setattr__(self, "index", {n: i for i, n in enumerate(self.joints)})

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def idx(self, name: str) -> int:
        try:
            return self.index[name]
        except KeyError:
            raise KeyError(f"skeleton {self.name} has no joint {name!r}") from None

    @property
    def flip_permutation(self) -> np.ndarray:
        """perm[j] = index of j's left/right partner (j itself for centre joints)."""
        perm = np.arange(self.num_joints)
        for j, n in enumerate(self.joints):
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if n.startswith(a) and (b + n[len(a):]) in self.index:
                    perm[j] = self.index[b + n[len(a):]]
        return perm

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs, in child order."""
        return [(p, j) for j, p in enumerate(self.parents) if p >= 0]


def _tree(name: str, pairs: list[tuple[str, str | None]]) -> Skeleton:
    names = [n for n, _ in pairs]
    pos = {n: i for i, n in enumerate(names)}  # parents may be named before or after their children
    parents = [-1 if p is None else pos[p] for _, p in pairs]
    return Skeleton(name, tuple(names), tuple(parents))


H36M17 = _tree(
    "h36m17",
    [
        ("pelvis", None),
        ("right_hip", "pelvis"),
        ("right_knee", "right_hip"),
        ("right_ankle", "right_knee"),
        ("left_hip", "pelvis"),
        ("left_knee", "left_hip"),
        ("left_ankle", "left_knee"),
        ("spine", "pelvis"),
        ("thorax", "spine"),
        ("neck_nose", "thorax"),
        ("head_top", "neck_nose"),
        ("left_shoulder", "thorax"),
        ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_shoulder", "thorax"),
        ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"),
    ],
)

# Mean bone lengths (m) of the Human3.6M training subjects S1 S5 S6 S7 S8, left/right averaged, keyed by each bone's
# child joint (tools/h36m_bone_lengths.py measures them): the metric scale for unit-less lifters and CMU retargeting.
H36M_BONE_LENGTHS_M = {
    "right_hip": 0.1345, "right_knee": 0.4499, "right_ankle": 0.4459, "left_hip": 0.1345, "left_knee": 0.4499,
    "left_ankle": 0.4459, "spine": 0.2393, "thorax": 0.2554, "neck_nose": 0.1163, "head_top": 0.1150,
    "left_shoulder": 0.1493, "left_elbow": 0.2804, "left_wrist": 0.2496, "right_shoulder": 0.1493,
    "right_elbow": 0.2804, "right_wrist": 0.2496,
}

# COCO has no kinematic root; parents below are a drawing tree rooted at the nose (used for overlays only).
COCO17 = _tree(
    "coco17",
    [
        ("nose", None),
        ("left_eye", "nose"),
        ("right_eye", "nose"),
        ("left_ear", "left_eye"),
        ("right_ear", "right_eye"),
        ("left_shoulder", "nose"),
        ("right_shoulder", "nose"),
        ("left_elbow", "left_shoulder"),
        ("right_elbow", "right_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_wrist", "right_elbow"),
        ("left_hip", "left_shoulder"),
        ("right_hip", "right_shoulder"),
        ("left_knee", "left_hip"),
        ("right_knee", "right_hip"),
        ("left_ankle", "left_knee"),
        ("right_ankle", "right_knee"),
    ],
)

HALPE26 = _tree(
    "halpe26",
    [(n, None if p == -1 else COCO17.joints[p]) for n, p in zip(COCO17.joints, COCO17.parents)]
    + [
        ("head_top", "nose"),
        ("neck", "nose"),
        ("mid_hip", "neck"),
        ("left_big_toe", "left_ankle"),
        ("right_big_toe", "right_ankle"),
        ("left_small_toe", "left_ankle"),
        ("right_small_toe", "right_ankle"),
        ("left_heel", "left_ankle"),
        ("right_heel", "right_ankle"),
    ],
)

BLAZEPOSE33 = _tree(
    "blazepose33",
    [
        ("nose", None),
        ("left_eye_inner", "nose"),
        ("left_eye", "left_eye_inner"),
        ("left_eye_outer", "left_eye"),
        ("right_eye_inner", "nose"),
        ("right_eye", "right_eye_inner"),
        ("right_eye_outer", "right_eye"),
        ("left_ear", "left_eye_outer"),
        ("right_ear", "right_eye_outer"),
        ("mouth_left", "nose"),
        ("mouth_right", "nose"),
        ("left_shoulder", "nose"),
        ("right_shoulder", "nose"),
        ("left_elbow", "left_shoulder"),
        ("right_elbow", "right_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_wrist", "right_elbow"),
        ("left_pinky", "left_wrist"),
        ("right_pinky", "right_wrist"),
        ("left_index", "left_wrist"),
        ("right_index", "right_wrist"),
        ("left_thumb", "left_wrist"),
        ("right_thumb", "right_wrist"),
        ("left_hip", "left_shoulder"),
        ("right_hip", "right_shoulder"),
        ("left_knee", "left_hip"),
        ("right_knee", "right_hip"),
        ("left_ankle", "left_knee"),
        ("right_ankle", "right_knee"),
        ("left_heel", "left_ankle"),
        ("right_heel", "right_ankle"),
        ("left_foot_index", "left_ankle"),
        ("right_foot_index", "right_ankle"),
    ],
)

# Storage order of ../shared/data/h36m/h36m_2d_sh_*.npz (the MPII-style Stacked Hourglass order).
SH16 = _tree(
    "sh16",
    [
        ("right_ankle", "right_knee"),
        ("right_knee", "right_hip"),
        ("right_hip", "pelvis"),
        ("left_hip", "pelvis"),
        ("left_knee", "left_hip"),
        ("left_ankle", "left_knee"),
        ("pelvis", None),
        ("spine", "pelvis"),
        ("thorax", "spine"),
        ("head_top", "thorax"),
        ("right_wrist", "right_elbow"),
        ("right_elbow", "right_shoulder"),
        ("right_shoulder", "thorax"),
        ("left_shoulder", "thorax"),
        ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"),
    ],
)

# The SMPL body model's 24 joints in its storage order (Loper et al. 2015; the hand-end joints 22, 23 are SMPL's
# own, dropped in the AMASS/SMPL-H pose layout).
SMPL24 = _tree(
    "smpl24",
    [
        ("pelvis", None), ("left_hip", "pelvis"), ("right_hip", "pelvis"), ("spine1", "pelvis"),
        ("left_knee", "left_hip"), ("right_knee", "right_hip"), ("spine2", "spine1"), ("left_ankle", "left_knee"),
        ("right_ankle", "right_knee"), ("spine3", "spine2"), ("left_foot", "left_ankle"),
        ("right_foot", "right_ankle"), ("neck", "spine3"), ("left_collar", "spine3"), ("right_collar", "spine3"),
        ("head", "neck"), ("left_shoulder", "left_collar"), ("right_shoulder", "right_collar"),
        ("left_elbow", "left_shoulder"), ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"),
        ("right_wrist", "right_elbow"), ("left_hand", "left_wrist"), ("right_hand", "right_wrist"),
    ],
)

# Kinect v2 body joints in the SDK's JointType order, as NTU RGB+D's .skeleton files store them (train/ntu.py).
NTU25 = _tree(
    "ntu25",
    [
        ("spine_base", None), ("spine_mid", "spine_base"), ("neck", "spine_shoulder"), ("head", "neck"),
        ("left_shoulder", "spine_shoulder"), ("left_elbow", "left_shoulder"), ("left_wrist", "left_elbow"),
        ("left_hand", "left_wrist"), ("right_shoulder", "spine_shoulder"), ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"), ("right_hand", "right_wrist"), ("left_hip", "spine_base"),
        ("left_knee", "left_hip"), ("left_ankle", "left_knee"), ("left_foot", "left_ankle"),
        ("right_hip", "spine_base"), ("right_knee", "right_hip"), ("right_ankle", "right_knee"),
        ("right_foot", "right_ankle"), ("spine_shoulder", "spine_mid"), ("left_hand_tip", "left_hand"),
        ("left_thumb", "left_hand"), ("right_hand_tip", "right_hand"), ("right_thumb", "right_hand"),
    ],
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (H36M17, COCO17, HALPE26, BLAZEPOSE33, SH16, SMPL24, NTU25)}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None


Recipe = tuple[tuple[str, float], ...]

_HEAD_TOP_FROM_EARS: Recipe = (
    ("left_ear", 0.75),
    ("right_ear", 0.75),
    ("left_shoulder", -0.25),
    ("right_shoulder", -0.25),
)
_TO_H36M_FROM_COCO_LIKE: dict[str, Recipe] = {
    "pelvis": (("left_hip", 0.5), ("right_hip", 0.5)),
    "thorax": (("left_shoulder", 0.5), ("right_shoulder", 0.5)),
    "spine": (("left_hip", 0.25), ("right_hip", 0.25), ("left_shoulder", 0.25), ("right_shoulder", 0.25)),
    "neck_nose": (("nose", 1.0),),
    "head_top": _HEAD_TOP_FROM_EARS,
}

# Recipes for target joints that the source lacks by name, keyed (source, target).
RECIPES: dict[tuple[str, str], dict[str, Recipe]] = {
    ("coco17", "h36m17"): _TO_H36M_FROM_COCO_LIKE,
    ("blazepose33", "h36m17"): _TO_H36M_FROM_COCO_LIKE,
    ("halpe26", "h36m17"): {
        "pelvis": (("mid_hip", 1.0),),
        "thorax": (("neck", 1.0),),
        "spine": (("neck", 0.5), ("mid_hip", 0.5)),
        "neck_nose": (("nose", 1.0),),
    },
    ("sh16", "h36m17"): {
        "neck_nose": (("thorax", 0.5), ("head_top", 0.5)),
        "spine": (("pelvis", 0.5), ("thorax", 0.5)),
    },
    ("ntu25", "h36m17"): {
        "pelvis": (("left_hip", 0.5), ("right_hip", 0.5)),
        "spine": (("spine_mid", 1.0),),
        "thorax": (("spine_shoulder", 1.0),),
        "neck_nose": (("neck", 0.5), ("head", 0.5)),
        "head_top": (("head", 1.5), ("neck", -0.5)),
    },
    ("blazepose33", "coco17"): {},
    ("halpe26", "coco17"): {},
    ("h36m17", "coco17"): {},
}


def remap(
    xy: np.ndarray, scores: np.ndarray | None, source: Skeleton | str, target: Skeleton | str
) -> tuple[np.ndarray, np.ndarray]:
    """Remap keypoints (..., Js, C) and scores (..., Js) from ``source`` to ``target`` by joint name.

    Joints present in both by name are copied; the others follow RECIPES[(source, target)]. A target joint with
    neither is an error (the caller asked for a mapping that loses joints). Returns (..., Jt, C), (..., Jt).
    """
    src = get_skeleton(source) if isinstance(source, str) else source
    tgt = get_skeleton(target) if isinstance(target, str) else target
    xy = np.asarray(xy)
    if xy.shape[-2] != src.num_joints:
        raise ValueError(f"expected {src.num_joints} {src.name} joints, got shape {xy.shape}")
    if scores is None:
        scores = np.ones(xy.shape[:-1], dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    recipes = RECIPES.get((src.name, tgt.name), {})
    out = np.zeros(xy.shape[:-2] + (tgt.num_joints, xy.shape[-1]), dtype=np.float32)
    out_s = np.zeros(scores.shape[:-1] + (tgt.num_joints,), dtype=np.float32)
    for j, name in enumerate(tgt.joints):
        if name in recipes:
            recipe = recipes[name]
        elif name in src.index:
            recipe = ((name, 1.0),)
        else:
            raise KeyError(f"no way to build {tgt.name} joint {name!r} from {src.name}")
        idx = [src.idx(n) for n, _ in recipe]
        w = np.array([w for _, w in recipe], dtype=np.float32)
        out[..., j, :] = np.tensordot(xy[..., idx, :].swapaxes(-1, -2), w, axes=([-1], [0]))
        out_s[..., j] = scores[..., idx].min(axis=-1)
    return out, out_s


def flip_joints(x: np.ndarray, skeleton: Skeleton | str, axis_value: float = 0.0) -> np.ndarray:
    """Mirror (..., J, C) data about x = axis_value and swap left/right joints by name."""
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    out = np.array(x, copy=True)[..., sk.flip_permutation, :]
    out[..., 0] = 2 * axis_value - out[..., 0]
    return out
