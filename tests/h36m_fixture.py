"""A tiny synthetic Human3.6M folder, laid out like ../shared/data/h36m, for the training and evaluation tests.

``build_h36m(folder)`` writes the four files of the real release with the same keys, dtypes and conventions:
- ``h36m_3d.npz``: ``joints_world_mm`` int16 (N, 17, 3) world mm (z up), sequence table ``subject``/``action``/
  ``start``/``length``, ``joint_names`` (h36m17), ``fps`` 50;
- ``h36m_cameras.json``: ``convention`` and ``cameras`` {subject: 4 cameras}; the S1, S9 and S11 cameras are the
  real ones (rounded), S5 reuses S1's intrinsics with its centres moved by 50 mm so that subjects differ;
- ``h36m_2d_sh_{train,test}.npz``: ``keypoints_px`` int16 (M, 16, 2) in SH16 order (the projection of the 3D plus
  a few px of noise), table ``subject``/``action``/``camera``/``start``/``length``, ``joint_names``, ``fps``.
As in the real data, S11 "Directions" has no detections from camera 54138969, and action names carry the real
"Directions 1" / "Photo" / "WalkDog" spellings. The motion is a synthetic walker: a rest pose that turns, drifts and
swings its limbs, placed where the real cameras see it. A few hundred frames in all, built in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mbcli.geometry import project, world_to_camera
from mbcli.skeletons import H36M17, SH16

# (subject, action, frames) of the 3D table
TRAIN_SEQS = (("S1", "Directions", 48), ("S1", "Photo 1", 40), ("S5", "WalkDog", 44), ("S5", "Eating", 36))
TEST_SEQS = (("S9", "Directions", 60), ("S9", "Photo", 52), ("S9", "WalkDog 1", 40),
             ("S11", "Directions", 56), ("S11", "Directions 1", 48), ("S11", "WalkDog", 44))
MISSING_SH = (("S11", "Directions", "54138969"),)  # like the real S11 case
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

# intrinsics per camera id (real values, rounded): f, c, k, p, image_size
_INTRINSICS = {
    "54138969": ([1145.049405, 1143.781096], [512.541505, 515.451487], [-0.207099, 0.247775, -0.003075],
                 [-0.001424, -0.000976], [1000, 1002]),
    "55011271": ([1149.6757, 1147.591617], [508.848622, 508.064917], [-0.194214, 0.240409, 0.00682],
                 [-0.002741, -0.001619], [1000, 1000]),
    "58860488": ([1149.140717, 1148.798969], [519.815837, 501.402659], [-0.208338, 0.255488, -0.00246],
                 [-0.00076, 0.001484], [1000, 1000]),
    "60457274": ([1145.511338, 1144.773928], [514.968197, 501.882019], [-0.198384, 0.218324, -0.008948],
                 [-0.001813, -0.000587], [1000, 1002]),
}
# extrinsics per subject, in CAMERA_IDS order (real values, rounded): R_world_to_cam, center_world_mm
_EXTRINSICS = {
    "S1": [
        ([[-0.915362, 0.401808, 0.025748], [0.051548, 0.180374, -0.982246], [-0.399319, -0.897784, -0.18582]],
         [1841.107, 4955.2846, 1563.4454]),
        ([[0.928168, 0.372154, 0.002248], [0.081664, -0.197772, -0.97684], [-0.36309, 0.906856, -0.213958]],
         [1761.2785, -5078.0066, 1606.265]),
        ([[-0.914155, -0.402778, -0.045723], [-0.045623, 0.214308, -0.9757], [0.402789, -0.889855, -0.214287]],
         [-1846.7777, 5215.0465, 1491.9725]),
        ([[0.914156, -0.400607, 0.061906], [-0.05641, -0.276953, -0.959226], [0.401418, 0.87339, -0.275777]],
         [-1794.7897, -3722.6989, 1574.8927]),
    ],
    "S9": [
        ([[-0.903349, 0.426912, 0.041321], [0.041531, 0.182951, -0.982244], [-0.426892, -0.885593, -0.182999]],
         [2044.4585, 4935.1173, 1481.2275]),
        ([[0.931572, 0.363483, -0.007329], [0.068101, -0.194267, -0.978582], [-0.357122, 0.911120, -0.205728]],
         [1990.9597, -5123.8106, 1568.8048]),
        ([[-0.926934, -0.37323, -0.038622], [-0.04726, 0.21824, -0.97475], [0.372235, -0.901704, -0.219933]],
         [-1670.9922, 5211.9857, 1528.388]),
        ([[0.915461, -0.397346, 0.063622], [-0.049406, -0.267892, -0.962181], [0.399363, 0.877696, -0.264876]],
         [-1696.0435, -3827.0999, 1591.4127]),
    ],
    "S11": [
        ([[-0.905901, 0.421714, 0.038727], [0.044493, 0.18572, -0.981595], [-0.421145, -0.887505, -0.187007]],
         [2098.4402, 4926.5547, 1500.2786]),
        ([[0.921665, 0.387985, -0.001417], [0.077211, -0.186992, -0.979322], [-0.380227, 0.902497, -0.202301]],
         [2083.1824, -4912.1728, 1561.0786]),
        ([[-0.906354, -0.420531, -0.040939], [-0.060321, 0.224687, -0.972562], [0.418191, -0.879016, -0.229013]],
         [-1609.8153, 5177.336, 1537.8967]),
        ([[0.917541, -0.392263, 0.06518], [-0.045319, -0.266005, -0.962906], [0.395051, 0.880551, -0.261848]],
         [-1590.738, -3854.169, 1578.0176]),
    ],
}
_EXTRINSICS["S5"] = [(R, [c[0] + 50.0, c[1] - 50.0, c[2]]) for R, c in _EXTRINSICS["S1"]]

# rest pose in world mm (z up, facing -y, the person's left at +x), h36m17 order
_REST = np.array([
    [0, 0, 930], [-130, 0, 920], [-135, 10, 500], [-140, 20, 70], [130, 0, 920], [135, 10, 500], [140, 20, 70],
    [0, 10, 1160], [0, 0, 1420], [0, -60, 1520], [0, -10, 1660], [170, 0, 1390], [200, 10, 1110], [210, -40, 860],
    [-170, 0, 1390], [-200, 10, 1110], [-210, -40, 860]], dtype=np.float64)


def cameras() -> dict[str, list[dict]]:
    """The fixture's camera table, as stored under ``cameras`` in h36m_cameras.json."""
    out: dict[str, list[dict]] = {}
    for subj, ext in _EXTRINSICS.items():
        out[subj] = []
        for cid, (R, center) in zip(CAMERA_IDS, ext):
            f, c, k, p, size = _INTRINSICS[cid]
            out[subj].append({"id": cid, "R_world_to_cam": R, "center_world_mm": center, "f": f, "c": c, "k": k,
                              "p": p, "image_size": size})
    return out


def _motion(T: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 17, 3) world mm: the rest pose turning, drifting and swinging its arms and legs."""
    t = np.arange(T) / 50.0
    phase = rng.uniform(0, 2 * np.pi)
    pose = np.repeat(_REST[None], T, axis=0)
    swing = 120.0 * np.sin(2 * np.pi * 1.2 * t + phase)[:, None]
    for name, sign in (("left_wrist", 1), ("left_elbow", 0.5), ("right_wrist", -1), ("right_elbow", -0.5),
                       ("left_ankle", -1), ("left_knee", -0.5), ("right_ankle", 1), ("right_knee", 0.5)):
        pose[:, H36M17.idx(name), 1] += sign * swing[:, 0]
    yaw = rng.uniform(-0.5, 0.5) + 0.6 * t
    c, s = np.cos(yaw), np.sin(yaw)
    Rz = np.zeros((T, 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -s, s, c, 1.0
    root = np.stack([300 * np.sin(0.8 * t + phase), 300 * np.cos(0.8 * t) - 300, 10 * np.sin(6 * t)], axis=-1)
    root += rng.uniform(-200, 200, 3) * [1, 1, 0]
    centred = pose - _REST[0] * [1, 1, 0]
    return np.einsum("tij,tkj->tki", Rz, centred) + root[:, None]


def build_h36m(folder: str | Path, seed: int = 0, sh_noise_px: float = 3.0) -> Path:
    """Write the synthetic release into ``folder`` (created) and return it."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cams = cameras()
    seqs = TRAIN_SEQS + TEST_SEQS
    world = [_motion(T, rng) for _, _, T in seqs]
    lengths = np.array([T for _, _, T in seqs], dtype=np.int64)
    np.savez(d / "h36m_3d.npz",
             joints_world_mm=np.round(np.concatenate(world)).astype(np.int16),
             subject=np.array([s for s, _, _ in seqs], dtype="<U3"),
             action=np.array([a for _, a, _ in seqs], dtype="<U14"),
             start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64), length=lengths,
             joint_names=np.array(H36M17.joints, dtype="<U14"), fps=np.int64(50))
    (d / "h36m_cameras.json").write_text(json.dumps({
        "convention": "X_cam_mm = R_world_to_cam @ (X_world_mm - center_world_mm); u,v = f * distort(X_cam[:2] / "
                      "X_cam[2]) + c; distort: radial k1..k3 and tangential p1,p2 as in the Human3.6M toolkit; "
                      "image size is [width, height] px",
        "cameras": cams}, indent=1))
    sh_order = [H36M17.idx(n) for n in SH16.joints]
    for split, table, width in (("train", TRAIN_SEQS, "<U2"), ("test", TEST_SEQS, "<U3")):
        kps, rows = [], []
        for (subj, act, T), xyz in zip(seqs, world):
            if (subj, act, T) not in table:
                continue
            for cam in cams[subj]:
                if (subj, act, cam["id"]) in MISSING_SH:
                    continue
                xyz_c = world_to_camera(np.round(xyz), np.asarray(cam["R_world_to_cam"]),
                                        np.asarray(cam["center_world_mm"]))
                xy = project(xyz_c, cam["f"], cam["c"], cam["k"], cam["p"])[:, sh_order]
                kps.append(np.round(xy + rng.normal(0, sh_noise_px, xy.shape)).astype(np.int16))
                rows.append((subj, act, cam["id"], T))
        n = np.array([r[3] for r in rows], dtype=np.int64)
        np.savez(d / f"h36m_2d_sh_{split}.npz", keypoints_px=np.concatenate(kps),
                 subject=np.array([r[0] for r in rows], dtype=width), action=np.array([r[1] for r in rows], "<U14"),
                 camera=np.array([r[2] for r in rows], dtype="<U8"),
                 start=np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64), length=n,
                 joint_names=np.array(SH16.joints, dtype="<U14"), fps=np.int64(50))
    return d
