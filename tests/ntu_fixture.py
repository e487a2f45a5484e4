"""Synthetic NTU RGB+D files in the real layouts, for tests/test_ntu.py and tests/test_ntu_train.py: raw Kinect
``.skeleton`` text (body_values, write_skeleton, write_skeleton_folder) and pyskl annotation pickles (pyskl_2d,
pyskl_3d, write_pyskl_dataset)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mbcli.train.ntu import ntu_split


def body_values(seed: int, offset: float = 0.0, motion: float = 0.0, t: int = 0) -> np.ndarray:
    """(25, 12) values of one body in one frame: xyz m (Kinect camera space), depth px, colour px, quaternion, state."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-0.5, 0.5, (25, 3)) + [offset, 0.0, 3.0]
    xyz[:, 0] += motion * t  # walks along x by ``motion`` metres a frame
    v = np.zeros((25, 12))
    v[:, 0:3] = xyz
    v[:, 3] = 256 + 365 * xyz[:, 0] / xyz[:, 2]
    v[:, 4] = 212 - 365 * xyz[:, 1] / xyz[:, 2]
    v[:, 5] = 960 + 1081 * xyz[:, 0] / xyz[:, 2]
    v[:, 6] = 540 - 1081 * xyz[:, 1] / xyz[:, 2]
    v[:, 7:11] = [0.5, 0.5, 0.5, 0.5]
    v[:, 11] = 2
    v[3, 11] = 1  # the head inferred
    return v


def write_skeleton(path, frames, joint_count: int = 25) -> None:
    """frames: list of [(body_id, (25,12) values), ...] in the .skeleton text layout."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, vals in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.02764709 0.05745083 2")
            lines.append(str(joint_count))
            for row in vals[:joint_count]:
                lines.append(" ".join(f"{x:.7g}" for x in row[:11]) + f" {int(row[11])}")
    path.write_text("\r\n".join(lines) + "\r\n")


A, B, C = "72057594037931101", "72057594037931102", "72057594037931117"  # equal as float64: kept as text


def frames_abc():
    # frame 1 is empty; C (static noise) is listed first but has no motion; A moves most, B a little
    return [
        [(C, body_values(3, 2.0)), (A, body_values(1, motion=0.3, t=0)), (B, body_values(2, -1.0, 0.05, 0))],
        [],
        [(B, body_values(2, -1.0, 0.05, 2)), (C, body_values(3, 2.0)), (A, body_values(1, motion=0.3, t=2))],
        [(C, body_values(3, 2.0)), (A, body_values(1, motion=0.3, t=3))],
    ]


NAMES = ("S001C001P001R001A001", "S001C002P003R002A010", "S002C003P008R001A055")  # labels 0, 9, 54


def pyskl_2d(persons=(1, 1, 2), T=5):
    rng = np.random.default_rng(7)
    anns = []
    for name, m in zip(NAMES, persons):
        kp = rng.uniform(100, 1800, (m, T, 17, 2)).astype(np.float16)
        sc = rng.uniform(0.2, 1.0, (m, T, 17)).astype(np.float16)
        anns.append({"frame_dir": name, "label": int(name[-3:]) - 1, "img_shape": (1080, 1920),
                     "original_shape": (1080, 1920), "total_frames": T, "keypoint": kp, "keypoint_score": sc})
    split = {"xsub_train": [NAMES[0], NAMES[2]], "xsub_val": [NAMES[1]], "xview_train": [NAMES[1], NAMES[2]],
             "xview_val": [NAMES[0]]}
    return {"split": split, "annotations": anns}


def pyskl_3d(T=4):
    rng = np.random.default_rng(8)
    anns = []
    for name, m in zip(NAMES, (1, 2, 2)):
        kp = rng.uniform(-1, 3, (m, T, 25, 3)).astype(np.float32)
        if m == 2:
            kp[1, 2:] = 0  # second person gone from frame 2 on
        anns.append({"frame_dir": name, "label": int(name[-3:]) - 1, "total_frames": T, "keypoint": kp})
    return {"split": pyskl_2d()["split"], "annotations": anns}



def dataset_names(n: int) -> list[str]:
    """n distinct sample names alternating between a cross-subject training performer (P001) and a test one
    (P003), cameras 1-3 in turn, actions spread over A001-A060 (mutual actions, A050 on, listed with two people)."""
    names = []
    for k in range(n):
        action = 1 + (k * 7) % 60
        names.append(f"S{k + 1:03d}C{1 + k % 3:03d}P{1 if k % 2 == 0 else 3:03d}R001A{action:03d}")
    return names


def write_pyskl_dataset(path: Path, n: int = 12, lengths: tuple[int, ...] = (40, 20, 60), seed: int = 0) -> Path:
    """A pyskl-style 2D pickle (coco17, 1920x1080) of n samples named by dataset_names, with xsub and xview split
    lists; mutual actions (label >= 49) hold two people, the first left of the image centre, the second right."""
    rng = np.random.default_rng(seed)
    names = dataset_names(n)
    anns = []
    for k, name in enumerate(names):
        T = lengths[k % len(lengths)]
        label = int(name[-3:]) - 1
        m = 2 if label >= 49 else 1
        kp = np.zeros((m, T, 17, 2), np.float32)
        for p in range(m):
            base = rng.uniform(-80, 80, (17, 2)) + [600 + 700 * p, 540]
            wave = 40 * np.sin(np.linspace(0, 2 * np.pi, T) * (1 + label % 3))[:, None, None]
            kp[p] = base + wave * rng.uniform(0, 1, (1, 17, 2))
        sc = rng.uniform(0.5, 1.0, (m, T, 17)).astype(np.float32)
        anns.append({"frame_dir": name, "label": label, "img_shape": (1080, 1920), "original_shape": (1080, 1920),
                     "total_frames": T, "keypoint": kp.astype(np.float16), "keypoint_score": sc.astype(np.float16)})
    split = {}
    for protocol in ("xsub", "xview"):
        tr, te = ntu_split(names, protocol)
        split[f"{protocol}_train"], split[f"{protocol}_val"] = tr, te
    path.write_bytes(pickle.dumps({"split": split, "annotations": anns}, protocol=4))
    return path


def write_skeleton_folder(folder: Path, n: int = 9, T: int = 30) -> Path:
    """n .skeleton files named by dataset_names, T frames each; mutual actions hold two moving bodies."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(dataset_names(n)):
        label = int(name[-3:]) - 1
        frames = []
        for t in range(T):
            bodies = [(A, body_values(10 + k, -0.6, 0.01 * (1 + label % 3), t))]
            if label >= 49:
                bodies.append((B, body_values(50 + k, 0.6, -0.01, t)))
            frames.append(bodies)
        write_skeleton(folder / f"{name}.skeleton", frames)
    return folder
