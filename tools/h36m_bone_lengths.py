"""Print the mean h36m17 bone lengths (m) of the Human3.6M training subjects (for inference/predictors.py)."""

import sys

import numpy as np

from mbcli.skeletons import H36M17

path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/h36m/h36m_3d.npz"
d = np.load(path)
keep = np.zeros(len(d["joints_world_mm"]), bool)
for s, st, n in zip(d["subject"], d["start"], d["length"]):
    if s in ("S1", "S5", "S6", "S7", "S8"):
        keep[st:st + n] = True
xyz = d["joints_world_mm"][keep].astype(np.float64) / 1000.0
out = {}
for p, j in H36M17.bones:
    out[H36M17.joints[j]] = float(np.linalg.norm(xyz[:, j] - xyz[:, p], axis=-1).mean())
# left/right averaged so the reference skeleton is symmetric
for n in list(out):
    if n.startswith("left_"):
        m = (out[n] + out["right_" + n[5:]]) / 2
        out[n] = out["right_" + n[5:]] = m
print("{" + ", ".join(f'"{k}": {v:.4f}' for k, v in out.items()) + "}")
