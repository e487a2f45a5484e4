"""Per-frame foot contact labels and the skate / penetration measures, in the world frame (Y up, floor y = 0).

A foot (its ankle joint; h36m17 has no toes) is planted in a frame when it is less than ``CONTACT_HEIGHT_M`` above
its standing height (ANKLE_HEIGHT) and its horizontal speed is under ``CONTACT_SPEED_MPS``. Speeds are central
differences of the positions, times the frame rate. The same rule labels Human3.6M's ground truth (mbcli eval
--task world), so predicted labels are scored against labels from the true motion.
Foot skate: the mean horizontal speed of planted feet, mm per frame; penetration: how far ankles dip below their
standing height (mean over all foot-frames, mm, and the share of foot-frames more than 1 cm under).
"""

from __future__ import annotations

import numpy as np

from mbcli.skeletons import H36M17
from mbcli.world.floor import ANKLE_HEIGHT

CONTACT_HEIGHT_M = 0.06
CONTACT_SPEED_MPS = 0.3
FEET = (H36M17.idx("left_ankle"), H36M17.idx("right_ankle"))  # label columns: left, right


def horizontal_speed(ankles: np.ndarray, fps: float) -> np.ndarray:
    """(T,2) horizontal speed of the left and right ankle (T,2,3), m/s."""
    a = ankles[..., [0, 2]]  # (T,2,2) x, z
    if len(a) < 2:
        return np.zeros(a.shape[:2])
    return np.linalg.norm(np.gradient(a, axis=0), axis=-1) * fps


def foot_contacts(joints_world: np.ndarray, fps: float) -> np.ndarray:
    """(T,2) bool: left and right foot planted (module docstring); joints_world (T,17,3) m, Y up, floor y = 0."""
    return ankle_contacts(joints_world[:, list(FEET)], fps)


def ankle_contacts(ankles: np.ndarray, fps: float) -> np.ndarray:
    """``foot_contacts`` from the left and right ankle (T,2,3) alone."""
    height = ankles[..., 1] - ANKLE_HEIGHT
    return (height < CONTACT_HEIGHT_M) & (horizontal_speed(ankles, fps) < CONTACT_SPEED_MPS)


def foot_skate_mm_per_frame(joints_world: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal displacement per frame (mm) of the feet labelled planted (0 when none is)."""
    a = joints_world[:, list(FEET)][..., [0, 2]]
    if len(a) < 2 or not contacts.any():
        return 0.0
    step = np.linalg.norm(np.gradient(a, axis=0), axis=-1)  # m per frame
    return float(step[contacts].mean() * 1000.0)


def penetration_mm(joints_world: np.ndarray) -> tuple[float, float]:
    """(mean depth of the ankles under their standing height over all foot-frames in mm, share deeper than 1 cm)."""
    under = np.clip(ANKLE_HEIGHT - joints_world[:, list(FEET), 1], 0.0, None)
    if not under.size:
        return 0.0, 0.0
    return float(under.mean() * 1000.0), float((under > 0.01).mean())
