"""Human3.6M training and test data for the lifter: camera-frame 3D and its 2D projections.

Source: ../shared/data/h36m (README there): ``h36m_3d.npz`` (world mm, 50 fps, 17 joints in h36m17 order),
``h36m_cameras.json`` (4 cameras per subject with distortion), ``h36m_2d_sh_{train,test}.npz`` (Stacked Hourglass
detections, 16 joints, no confidence).

For every (subject, action, camera) the 3D is moved into the camera frame (metres) and projected to pixels with the
camera's full distortion model (geometry.project). Sequences are kept whole; clips are cut at sampling time, never
across a sequence boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbcli.errors import ConfigError
from mbcli.geometry import project, world_to_camera
from mbcli.labels import ACTION_SENTENCES
from mbcli.skeletons import SH16, remap

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "h36m"


@dataclass
class Sequence:
    """One (subject, action, camera): xyz_camera (T,17,3) m, xy_gt (T,17,2) px, xy_sh (T,17,2) px or None;
    label: a sentence saying what the person does (H36M: labels.ACTION_SENTENCES of the base action; CMU: the trial's
    description) or None; focal_px (fx, fy) and principal_px (cx, cy) of the camera; up_camera (3,) the world's up
    (against gravity) in the camera frame and camera_height_m the camera's height above the floor (Human3.6M's world
    has z up and the floor at z = 0), None where unknown (CMU's virtual cameras)."""

    subject: str
    action: str
    camera: str
    xyz_camera: np.ndarray
    xy_gt: np.ndarray
    image_size: tuple[int, int]
    xy_sh: np.ndarray | None = None
    label: str | None = None
    focal_px: tuple[float, float] | None = None
    principal_px: tuple[float, float] | None = None
    up_camera: np.ndarray | None = None
    camera_height_m: float | None = None

    @property
    def num_frames(self) -> int:
        return int(self.xyz_camera.shape[0])

    def xy_2d(self, input: str) -> np.ndarray:
        """(T,17,2) px: the SH detections for input "sh" (load_h36m(with_sh=True) gives every sequence it keeps
        them), the projected ground truth for any other input."""
        if input != "sh":
            return self.xy_gt
        if self.xy_sh is None:
            raise ValueError(f"{self.subject} {self.action} camera {self.camera} has no SH detections")
        return self.xy_sh


def base_action(action: str) -> str:
    """'Directions 1' -> 'Directions'; H36M's 'TakingPhoto'/'WalkingDog' aliases are normalised."""
    name = action.split(" ")[0]
    return {"Photo": "TakingPhoto", "WalkDog": "WalkingDog"}.get(name, name)


def h36m_dir(data_dir: str | Path | None = None) -> Path:
    """The Human3.6M folder (``data_dir``, else the default); ConfigError when its 3D or camera file is missing."""
    d = Path(data_dir) if data_dir else default_data_dir()
    if not (d / "h36m_3d.npz").is_file() or not (d / "h36m_cameras.json").is_file():
        raise ConfigError(f"Human3.6M data not found in {d} (expected h36m_3d.npz and h36m_cameras.json)")
    return d


def load_h36m(data_dir: str | Path | None = None, subjects: tuple[str, ...] = TRAIN_SUBJECTS,
              with_sh: bool = False, cameras: tuple[int, ...] = (0, 1, 2, 3)) -> list[Sequence]:
    d = h36m_dir(data_dir)
    f3d = d / "h36m_3d.npz"
    fcam = d / "h36m_cameras.json"
    data = np.load(f3d)
    cams = json.loads(fcam.read_text())["cameras"]
    sh = {}
    if with_sh:
        split = "test" if set(subjects) <= set(TEST_SUBJECTS) else "train"
        fsh = d / f"h36m_2d_sh_{split}.npz"
        if not fsh.is_file():
            raise ConfigError(f"Stacked Hourglass detections not found: {fsh}")
        s = np.load(fsh)
        kp = s["keypoints_px"]
        names = tuple(str(n) for n in s["joint_names"])
        if names != SH16.joints:
            raise ConfigError(f"unexpected SH joint order in {fsh}")
        for subj, act, cam, st, n in zip(s["subject"], s["action"], s["camera"], s["start"], s["length"]):
            sh[(str(subj), str(act), str(cam))] = kp[st:st + n]
    out = []
    for subj, act, st, n in zip(data["subject"], data["action"], data["start"], data["length"]):
        subj, act = str(subj), str(act)
        if subj not in subjects:
            continue
        xyz_world = data["joints_world_mm"][st:st + n].astype(np.float64)
        for ci in cameras:
            cam = cams[subj][ci]
            R = np.asarray(cam["R_world_to_cam"])
            xyz_cam_mm = world_to_camera(xyz_world, R, np.asarray(cam["center_world_mm"]))
            xy = project(xyz_cam_mm, cam["f"], cam["c"], cam["k"], cam["p"]).astype(np.float32)
            xy_sh = None
            if with_sh:
                raw = sh.get((subj, act, cam["id"]))
                if raw is None:
                    continue  # e.g. S11 Directions camera 54138969 has no detections
                m = min(len(raw), n)
                xy_sh, _ = remap(raw[:m].astype(np.float32), None, SH16, "h36m17")
                if m < n:
                    xy_sh = np.concatenate([xy_sh, np.repeat(xy_sh[-1:], n - m, axis=0)])
            out.append(Sequence(subj, act, cam["id"], (xyz_cam_mm / 1000.0).astype(np.float32), xy,
                                (int(cam["image_size"][0]), int(cam["image_size"][1])), xy_sh,
                                ACTION_SENTENCES.get(base_action(act)),
                                (float(cam["f"][0]), float(cam["f"][1])), (float(cam["c"][0]), float(cam["c"][1])),
                                R @ np.array([0.0, 0.0, 1.0]), float(cam["center_world_mm"][2]) / 1000.0))
    if not out:
        raise ConfigError(f"no Human3.6M sequences for subjects {', '.join(subjects)} in {d}")
    return out
