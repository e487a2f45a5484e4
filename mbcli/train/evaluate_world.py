"""How well mbcli places people in the world, on Human3.6M S9 and S11, whose cameras give the true focal length,
gravity and floor (``mbcli eval --task world``).

Each camera sequence is lifted like a video (the lifter's windows and flip, then the rig's fixed skeleton, as
``mbcli lift`` does) from SH detections or projected ground truth, then placed with mbcli/world:
- root position error: mean distance (mm) between the solved root (pelvis) and the true one in the camera frame,
  with the true focal length and with the prior (world/camera.py: 60 degree diagonal field of view);
- absolute MPJPE: mean joint error (mm) of the camera-frame joints, root included (true focal length);
- floor: the angle (degrees) between the estimated and the true up direction, and the error of the camera's height
  above the floor (mm), from one floor per sequence (one person, as in a one-person clip);
- foot contact labels (world/contact.py) against the same rule applied to the true motion in the true world frame:
  precision and recall over all foot-frames;
- foot skate (mm per frame, feet labelled planted) and penetration (mm, share of foot-frames deeper than 1 cm) of the
  predicted world motion, and of the true motion for reference;
- the same after foot locking (world/footlock.py, with the labels of the unlocked motion, as ``place_people`` does),
  what the lock moved (the mean displacement, mm, of the knees and ankles, the only joints it changes, over all
  frames) and the absolute MPJPE after it.
Figures are means over frames (all sequences pooled). ``quick`` is the subset of mbcli eval --quick: camera
55011271, first 300 frames of each sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from mbcli.inference.predictors import Lifter
from mbcli.rig.h36m_rig import retarget
from mbcli.skeletons import H36M17
from mbcli.train.evaluate import evaluation_sequences
from mbcli.types import Floor, Intrinsics, Keypoints2D
from mbcli.world.camera import intrinsics
from mbcli.world.contact import foot_contacts, foot_skate_mm_per_frame, penetration_mm
from mbcli.world.floor import estimate_floor
from mbcli.world.footlock import LEGS, lock_feet
from mbcli.world.scene import place_person

FPS = 50.0


@dataclass
class WorldEvalResult:
    input: str
    quick: bool
    sequences: int
    frames: int
    root_error_mm: float
    root_error_prior_mm: float
    abs_mpjpe_mm: float
    floor_angle_deg: float
    camera_height_error_mm: float
    floor_fallbacks: int
    contact_precision: float
    contact_recall: float
    skate_mm_per_frame: float
    skate_gt_mm_per_frame: float
    penetration_mm: float
    penetration_share: float
    skate_after_mm_per_frame: float
    penetration_after_mm: float
    penetration_after_share: float
    lock_change_mm: float
    abs_mpjpe_after_mm: float

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class _Sums:
    frames: int = 0
    root: float = 0.0
    root_prior: float = 0.0
    mpjpe: float = 0.0
    angle: float = 0.0
    height: float = 0.0
    fallbacks: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    skate: float = 0.0
    skate_n: int = 0
    skate_gt: float = 0.0
    skate_gt_n: int = 0
    pen: float = 0.0
    pen_share: float = 0.0
    skate_after: float = 0.0
    pen_after: float = 0.0
    pen_after_share: float = 0.0
    change: float = 0.0
    mpjpe_after: float = 0.0


def _add_locked(acc: _Sums, world: np.ndarray, contacts: np.ndarray, floor: Floor, gt: np.ndarray) -> None:
    """Add one sequence's figures after foot locking: world (T,17,3) its world joints, contacts (T,2) their labels,
    floor the estimated floor and gt (T,17,3) the true camera-frame joints."""
    n = len(world)
    locked = lock_feet(world, contacts, FPS)
    acc.skate_after += foot_skate_mm_per_frame(locked, contacts) * int(contacts.sum())
    depth, share = penetration_mm(locked)
    acc.pen_after += depth * n
    acc.pen_after_share += share * n
    legs = [j for leg in LEGS for j in leg[1:]]  # knees and ankles
    acc.change += float(np.linalg.norm(locked[:, legs] - world[:, legs], axis=-1).mean(axis=1).sum())
    acc.mpjpe_after += float(np.linalg.norm(floor.to_camera(locked) - gt, axis=-1).mean(axis=1).sum())


def evaluate_world(lifter: Lifter, input: str = "sh", quick: bool = False, data_dir: str | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> WorldEvalResult:
    seqs = evaluation_sequences(input, quick, data_dir)
    acc = _Sums()
    for i, (s, n) in enumerate(seqs):
        xy = s.xy_2d(input)[:n].astype(np.float64)
        kp = Keypoints2D(xy, np.ones((n, 17), np.float32), np.arange(n), H36M17, s.image_size, FPS)
        pose = retarget(lifter.lift(kp)).pose  # root-relative, the rig's skeleton, as mbcli lift makes it
        gt = s.xyz_camera[:n].astype(np.float64)
        assert s.focal_px is not None and s.principal_px is not None and s.up_camera is not None
        assert s.camera_height_m is not None
        K = Intrinsics(*s.focal_px, *s.principal_px, source="dataset")
        est = place_person(pose, kp, K, s.image_size, FPS)[0]  # the world solver of mbcli lift
        est_prior = place_person(pose, kp, intrinsics(*s.image_size), s.image_size, FPS)[0]
        acc.root += float(np.linalg.norm(est[:, 0] - gt[:, 0], axis=-1).sum())
        acc.root_prior += float(np.linalg.norm(est_prior[:, 0] - gt[:, 0], axis=-1).sum())
        acc.mpjpe += float(np.linalg.norm(est - gt, axis=-1).mean(axis=1).sum())
        floor = estimate_floor([est], [np.ones((n, 17), bool)], FPS)
        true_floor = Floor(np.asarray(s.up_camera, dtype=np.float64), s.camera_height_m, "dataset")
        acc.angle += float(np.degrees(np.arccos(np.clip(floor.up @ true_floor.up, -1.0, 1.0)))) * n
        acc.height += abs(floor.height_m - true_floor.height_m) * n
        acc.fallbacks += floor.method != "feet"
        world, world_gt = floor.to_world(est), true_floor.to_world(gt)
        c, c_gt = foot_contacts(world, FPS), foot_contacts(world_gt, FPS)
        acc.tp += int((c & c_gt).sum())
        acc.fp += int((c & ~c_gt).sum())
        acc.fn += int((~c & c_gt).sum())
        acc.skate += foot_skate_mm_per_frame(world, c) * int(c.sum())
        acc.skate_n += int(c.sum())
        acc.skate_gt += foot_skate_mm_per_frame(world_gt, c_gt) * int(c_gt.sum())
        acc.skate_gt_n += int(c_gt.sum())
        depth, share = penetration_mm(world)
        acc.pen += depth * n
        acc.pen_share += share * n
        _add_locked(acc, world, c, floor, gt)
        acc.frames += n
        if on_progress:
            on_progress(i + 1, len(seqs))
    F = max(acc.frames, 1)
    return WorldEvalResult(
        input, quick, len(seqs), acc.frames, acc.root / F * 1000.0, acc.root_prior / F * 1000.0,
        acc.mpjpe / F * 1000.0, acc.angle / F, acc.height / F * 1000.0, acc.fallbacks,
        acc.tp / max(acc.tp + acc.fp, 1), acc.tp / max(acc.tp + acc.fn, 1), acc.skate / max(acc.skate_n, 1),
        acc.skate_gt / max(acc.skate_gt_n, 1), acc.pen / F, acc.pen_share / F, acc.skate_after / max(acc.skate_n, 1),
        acc.pen_after / F, acc.pen_after_share / F, acc.change / F * 1000.0, acc.mpjpe_after / F * 1000.0)
