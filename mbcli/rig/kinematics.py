"""Forward kinematics over a joint tree, the solved motion of a rig (RigMotion), Euler curves and gaps in time.

Joint tree. J joints listed parents first; ``parents[j]`` is j's parent, -1 for the root. Each joint has a
translation t_j from its parent in the parent's frame (the rest OFFSET; a BVH position channel may replace it per
frame) and a local rotation R_j (child-to-parent, acting on column vectors). For T frames:

    G_root = R_root, p_root = t_root;   G_j = G_parent @ R_j,   p_j = p_parent + G_parent @ t_j

so G_j is joint j's global rotation and p_j its world position. ``chain_positions`` is the one implementation; the
rig's solved motion (``forward_kinematics``/``RigMotion.fk``) and parsed BVH files (bvh_io.bvh_positions) both use it.

Euler curves. ``RigMotion.euler_degrees`` writes each local rotation as intrinsic Euler angles in the joint's order
(mbcli.geometry.matrix_to_euler) and makes them continuous over time: of the two equivalent triples (a, b, c) and
(a + pi, pi - b, c + pi), each unwrapped by 2 pi, the one nearest the previous frame's, so curves do not jump at
+-180 degrees.

Gaps (``fill_gaps``): samples at strictly increasing frame indices become one row per frame from the first to the
last index, linear in between.

The video's timeline (``hold_timeline``): a person's motion covers the video frames from their first to their last
one; a BVH has no way to say "absent", so to put every person of a clip on the video's frames [0, total) their first
frame is held (repeated, standing still) before they appear and their last frame after they leave.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mbcli.errors import ExportError
from mbcli.geometry import matrix_to_euler

CHUNK = 1024  # frames solved or baked at a time: bounds the temporaries of long clips (about 7 MB a chunk)


@dataclass(frozen=True)
class _Rig:
    """The fields RigMotion and BakedMotion share (RigMotion's docstring)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    euler_orders: tuple[str, ...]
    offsets: np.ndarray
    end_sites: dict[int, np.ndarray]
    root_position: np.ndarray


@dataclass(frozen=True)
class RigMotion(_Rig):
    """A solved rig: the rest skeleton and its per-frame motion, in metres in the BVH frame (Y up, faces +Z).

    J joints, T frames. names (J,) joint names; parents (J,), -1 for the root; euler_orders (J,) each joint's
    rotation channel order (e.g. "YZX"); offsets (J,3) rest offset of each joint from its parent (root: 0);
    end_sites: leaf joint index -> End Site offset (3,); root_position (T,3); rotations (T,J,3,3) local rotations
    (child-to-parent); targets (T,J,3) the input joints mapped to this frame, which forward kinematics should
    reproduce; fps.
    """

    rotations: np.ndarray
    targets: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.root_position.shape[0])

    def fk(self) -> np.ndarray:
        """World joint positions (T,J,3) of this motion."""
        return forward_kinematics(self.offsets, self.parents, self.root_position, self.rotations)

    def ik_errors(self) -> np.ndarray:
        """(T,J) distance in metres between the FK joints and the input joints."""
        return np.linalg.norm(self.fk() - self.targets, axis=-1)

    def euler_degrees(self, prev: np.ndarray | None = None) -> np.ndarray:
        """(T,J,3) local rotations as continuous intrinsic Euler angles, degrees, each joint in its
        ``euler_orders`` order (the order of its channels); ``prev`` (J,3) radians: the frame before (see
        continuous_euler)."""
        return np.degrees(self.euler_radians(prev))

    def euler_radians(self, prev: np.ndarray | None = None) -> np.ndarray:
        """euler_degrees in radians."""
        angles = np.stack([matrix_to_euler(self.rotations[:, j], order) for j, order in enumerate(self.euler_orders)],
                          axis=1)
        return continuous_euler(angles, prev)

    def bake(self, chunk: int = CHUNK) -> BakedMotion:
        """What a BVH file holds of this motion (BakedMotion), ``chunk`` frames at a time."""
        T = self.num_frames
        euler = np.empty((T, len(self.names), 3))
        prev = None
        for lo in range(0, T, chunk):
            part = replace(self, rotations=self.rotations[lo:lo + chunk]).euler_radians(prev)
            euler[lo:lo + chunk], prev = np.degrees(part), part[-1]
        return BakedMotion(self.names, self.parents, self.euler_orders, self.offsets, self.end_sites,
                           self.root_position, euler, self.fps)


@dataclass(frozen=True)
class BakedMotion(_Rig):
    """A RigMotion reduced to what a BVH file holds, for long clips (no rotation matrices: 432 bytes a frame).

    The skeleton fields are RigMotion's; root_position (T,3) metres; euler_deg (T,J,3) continuous Euler angles in
    degrees, each joint in its order (RigMotion.euler_degrees). ``start`` and ``total`` put the T frames on a video
    timeline of ``total`` frames (hold_timeline: the first frame held before ``start``, the last after); ``rows``
    gives the channel rows of output frames [lo, hi).
    """

    euler_deg: np.ndarray
    fps: float
    start: int = 0
    total: int | None = None

    @property
    def num_frames(self) -> int:
        return int(self.root_position.shape[0]) if self.total is None else self.total

    def rows(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(root position (n,3), Euler degrees (n,J,3)) of output frames [lo, hi)."""
        r = np.clip(np.arange(lo, hi) - self.start, 0, self.root_position.shape[0] - 1)
        return self.root_position[r], self.euler_deg[r]

    def held(self, start: int, total: int) -> BakedMotion:
        """hold_timeline for a baked motion (its T frames are video frames [start, start + T) of ``total``),
        without copying a frame."""
        _check_timeline(self.root_position.shape[0], start, total)
        return replace(self, start=start, total=total)


def chain_positions(
    parents: tuple[int, ...], translations: np.ndarray, rotations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """FK over a tree (parents before children): translations (T,J,3) (the root's: its position), local rotations
    (T,J,3,3) -> world positions (T,J,3) and global rotations (T,J,3,3); see the module docstring."""
    T, J = rotations.shape[:2]
    G = np.empty((T, J, 3, 3))
    X = np.empty((T, J, 3))
    for j, p in enumerate(parents):
        if p < 0:
            G[:, j], X[:, j] = rotations[:, j], translations[:, j]
        else:
            G[:, j] = G[:, p] @ rotations[:, j]
            X[:, j] = X[:, p] + (G[:, p] @ translations[:, j, :, None])[..., 0]
    return X, G


def forward_kinematics(
    offsets: np.ndarray, parents: tuple[int, ...], root_position: np.ndarray, rotations: np.ndarray
) -> np.ndarray:
    """Rest offsets (J,3), root_position (T,3), local rotations (T,J,3,3) -> world joints (T,J,3)."""
    T, J = rotations.shape[:2]
    translations = np.broadcast_to(np.asarray(offsets, dtype=np.float64), (T, J, 3)).copy()
    translations[:, parents.index(-1)] = root_position
    return chain_positions(parents, translations, rotations)[0]


def continuous_euler(e: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    """(T,J,3) Euler triples (radians) -> per joint, the equivalent triple (a, b, c) or (a+pi, pi-b, c+pi),
    unwrapped by 2 pi, nearest the previous frame's: ``prev`` (J,3), the frame before e[0] (a long curve is made a
    chunk at a time with the last output frame of the chunk before), else e[0] is kept as it is."""
    alt = np.stack([e[..., 0] + np.pi, np.pi - e[..., 1], e[..., 2] + np.pi], axis=-1)
    out = np.empty_like(e)
    first = 0 if prev is not None else 1
    if prev is None:
        out[0] = e[0]
    for t in range(first, len(e)):
        last = out[t - 1] if t > 0 else prev
        c1 = last + _wrap(e[t] - last)
        c2 = last + _wrap(alt[t] - last)
        pick = np.abs(c1 - last).sum(-1) <= np.abs(c2 - last).sum(-1)
        out[t] = np.where(pick[:, None], c1, c2)
    return out


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + np.pi) % (2 * np.pi) - np.pi


def fill_gaps(xyz: np.ndarray, frame_indices: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
    """(T,J,3) at sorted frame_indices -> one row per frame from the first to the last index (linear in between);
    ``frames`` (sorted, within the indices' range): only those rows (a long clip a span at a time: each row depends
    only on the samples either side of it, so the rows equal the whole clip's)."""
    fi = np.asarray(frame_indices)
    if np.any(np.diff(fi) <= 0):
        raise ExportError("3D pose frame_indices must be strictly increasing")
    full = np.arange(fi[0], fi[-1] + 1) if frames is None else np.asarray(frames)
    if len(full) == len(fi) and np.array_equal(full, fi):
        return xyz
    T, J, C = xyz.shape
    flat = xyz.reshape(T, J * C)
    out = np.empty((len(full), J * C))  # filled a column at a time: no list of columns beside it
    for k in range(J * C):
        out[:, k] = np.interp(full, fi, flat[:, k])
    return out.reshape(len(full), J, C)


def hold_timeline(motion: RigMotion, start: int, total: int) -> RigMotion:
    """``motion`` whose T frames are the video frames [start, start + T) -> the same motion over the video frames
    [0, total): its first frame held for the frames before ``start``, its last held after ``start + T - 1`` (module
    docstring). The rest skeleton and fps are unchanged; total == T with start 0 returns an equal motion."""
    T = motion.num_frames
    _check_timeline(T, start, total)
    rows = np.clip(np.arange(total) - start, 0, T - 1)  # (total,) the motion's frame shown at each video frame
    return replace(motion, root_position=motion.root_position[rows], rotations=motion.rotations[rows],
                   targets=motion.targets[rows])


def _check_timeline(T: int, start: int, total: int) -> None:
    if T == 0 or start < 0 or start + T > total:
        raise ExportError(f"cannot place a {T}-frame motion starting at frame {start} on a {total}-frame timeline")
