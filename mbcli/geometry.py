"""Pure geometry in numpy: camera projection, Procrustes alignment and rotation conversions.

Every conversion comes as a forward/inverse pair that asserts its trailing dimensions and is tested by round trip
(tests/test_geometry.py). Conventions:
- Rotation matrices act on column vectors: x' = R @ x. Axis-angle is a 3-vector whose norm is the angle (radians).
- 6D rotation = the first two columns of R, concatenated (Zhou et al., CVPR 2019, "On the Continuity of Rotation
  Representations"); decoding re-orthonormalises them by Gram-Schmidt.
- Euler angles are intrinsic rotations in the order of the string, matching BVH channel lists: order "ZXY" means
  R = Rz(a0) @ Rx(a1) @ Ry(a2), the angles given in that same order.
- Camera: X_cam = R_world_to_cam @ (X_world - center_world); pixels u,v = f * distort(X_cam[:2] / X_cam[2]) + c with
  radial k1..k3 and tangential p1, p2 (the Human3.6M toolkit model, as ../shared/data/h36m/h36m_cameras.json states).
"""

from __future__ import annotations

import numpy as np


def _last(x: np.ndarray, *dims: int) -> None:
    if tuple(x.shape[-len(dims):]) != dims:
        raise ValueError(f"expected trailing shape {dims}, got {x.shape}")


# ----------------------------------------------------------------------------------------------- camera


def world_to_camera(xyz_world: np.ndarray, R_world_to_cam: np.ndarray, center_world: np.ndarray) -> np.ndarray:
    _last(xyz_world, 3)
    return (np.asarray(xyz_world) - center_world) @ np.asarray(R_world_to_cam).T


def camera_to_world(xyz_camera: np.ndarray, R_world_to_cam: np.ndarray, center_world: np.ndarray) -> np.ndarray:
    _last(xyz_camera, 3)
    return np.asarray(xyz_camera) @ np.asarray(R_world_to_cam) + center_world


def project(
    xyz_camera: np.ndarray,
    f: np.ndarray,
    c: np.ndarray,
    k: np.ndarray | None = None,
    p: np.ndarray | None = None,
) -> np.ndarray:
    """Camera-frame points (..., 3) -> pixels (..., 2), with optional radial (k1,k2,k3) and tangential distortion."""
    _last(xyz_camera, 3)
    xyz = np.asarray(xyz_camera, dtype=np.float64)
    uv = xyz[..., :2] / xyz[..., 2:3]
    if k is not None or p is not None:
        k = np.zeros(3) if k is None else np.asarray(k, dtype=np.float64)
        p = np.zeros(2) if p is None else np.asarray(p, dtype=np.float64)
        r2 = np.sum(uv**2, axis=-1, keepdims=True)
        radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
        tan = np.sum(p * uv, axis=-1, keepdims=True)
        uv = uv * (radial + 2 * tan) + np.flip(p) * r2
    return uv * np.asarray(f, dtype=np.float64) + np.asarray(c, dtype=np.float64)


def unproject(uv: np.ndarray, depth: np.ndarray, f: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Inverse of the undistorted ``project``: pixels (..., 2) and depth (...,) -> camera-frame points (..., 3)."""
    _last(uv, 2)
    xy = (np.asarray(uv, dtype=np.float64) - c) / f
    d = np.asarray(depth, dtype=np.float64)[..., None]
    return np.concatenate([xy * d, d], axis=-1)


# ----------------------------------------------------------------------------------------------- boxes


def _box_overlap(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas (M,N) of boxes (M,4), (N,4) in xyxy, and the areas of each set."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    return inter, area_a, area_b


def box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of boxes (M,4) and (N,4), xyxy -> (M,N); 0 where the union is empty."""
    inter, area_a, area_b = _box_overlap(a_xyxy, b_xyxy)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def box_ioa(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the area of each box of a (M,4), against b (N,4) -> (M,N)."""
    inter, area_a, _ = _box_overlap(a_xyxy, b_xyxy)
    return inter / np.maximum(area_a[:, None], 1e-12)


# ----------------------------------------------------------------------------------------------- alignment


def procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Align pred (..., J, 3) to target by the similarity transform (scale, rotation, translation) that minimises
    the squared error, solved per leading index with an SVD (Umeyama 1991; reflections excluded)."""
    _last(pred, pred.shape[-2], 3)
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_t = target.mean(axis=-2, keepdims=True)
    p0, t0 = pred - mu_p, target - mu_t
    H = np.swapaxes(p0, -1, -2) @ t0  # (..., 3, 3)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    D = np.zeros_like(H)
    D[..., 0, 0] = 1
    D[..., 1, 1] = 1
    D[..., 2, 2] = d
    R = np.swapaxes(Vt, -1, -2) @ D @ np.swapaxes(U, -1, -2)  # maps p0 -> t0: t = R p
    scale = np.sum(S * np.stack([np.ones_like(d), np.ones_like(d), d], axis=-1), axis=-1) / np.sum(
        p0**2, axis=(-1, -2)
    )
    aligned = scale[..., None, None] * (p0 @ np.swapaxes(R, -1, -2)) + mu_t
    return aligned


# ----------------------------------------------------------------------------------------------- rotations


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) by Rodrigues' formula."""
    _last(aa, 3)
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    safe = np.where(theta > 1e-12, theta, 1.0)
    axis = aa / safe
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), K.shape)
    R = eye + s * K + (1 - c) * (K @ K)
    return np.where((theta > 1e-12)[..., None], R, eye + _skew(aa))


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(v.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> unit quaternion (..., 4) as (w, x, y, z) with w >= 0 (Shepperd's method, branch-free)."""
    _last(R, 3, 3)
    R = np.asarray(R, dtype=np.float64)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    q_abs = np.sqrt(
        np.maximum(
            0.0,
            np.stack(
                [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], axis=-1
            ),
        )
    )
    r = R
    cand = np.stack(
        [
            np.stack([q_abs[..., 0] ** 2, r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1),
            np.stack([r[..., 2, 1] - r[..., 1, 2], q_abs[..., 1] ** 2, r[..., 1, 0] + r[..., 0, 1], r[..., 0, 2] + r[..., 2, 0]], -1),
            np.stack([r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] + r[..., 0, 1], q_abs[..., 2] ** 2, r[..., 2, 1] + r[..., 1, 2]], -1),
            np.stack([r[..., 1, 0] - r[..., 0, 1], r[..., 2, 0] + r[..., 0, 2], r[..., 2, 1] + r[..., 1, 2], q_abs[..., 3] ** 2], -1),
        ],
        axis=-2,
    )
    cand = cand / (2.0 * np.maximum(q_abs[..., None], 0.1))
    best = np.argmax(q_abs, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternion (w, x, y, z), any norm > 0 -> (..., 3, 3)."""
    _last(q, 4)
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) axis-angle with angle in [0, pi], through the quaternion (stable near 0 and pi)."""
    q = matrix_to_quaternion(R)
    vec = q[..., 1:]
    s = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., :1])
    factor = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return vec * factor


def matrix_to_rot6d(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): the first two columns, column-major [r00, r10, r20, r01, r11, r21]."""
    _last(R, 3, 3)
    R = np.asarray(R)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rot6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns."""
    _last(d6, 6)
    d6 = np.asarray(d6, dtype=np.float64)
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = b2 / np.linalg.norm(b2, axis=-1, keepdims=True)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def _axis_matrix(axis: str, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "X": [o, z, z, z, c, -s, z, s, c],
        "Y": [c, z, s, z, o, z, -s, z, c],
        "Z": [c, -s, z, s, c, z, z, z, o],
    }[axis]
    return np.stack(rows, axis=-1).reshape(angle.shape + (3, 3))


def euler_to_matrix(angles_rad: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) intrinsic Euler angles in ``order`` (e.g. "ZXY") -> (..., 3, 3) = R_a0 @ R_a1 @ R_a2."""
    _last(angles_rad, 3)
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    a = np.asarray(angles_rad, dtype=np.float64)
    return _axis_matrix(order[0], a[..., 0]) @ _axis_matrix(order[1], a[..., 1]) @ _axis_matrix(order[2], a[..., 2])


def matrix_to_euler(R: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) intrinsic Euler angles (radians) in ``order``, inverse of ``euler_to_matrix``.

    The middle angle lies in [-pi/2, pi/2]; at gimbal lock the last angle is set to 0.
    """
    _last(R, 3, 3)
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    R = np.asarray(R, dtype=np.float64)
    i, j, k = ("XYZ".index(order[0]), "XYZ".index(order[1]), "XYZ".index(order[2]))
    # parity: +1 for cyclic orders (XYZ, YZX, ZXY), -1 otherwise
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    sin_b = np.clip(sign * R[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    cos_b = np.sqrt(np.maximum(0.0, 1 - sin_b**2))
    locked = cos_b < 1e-7
    a = np.arctan2(-sign * R[..., j, k], R[..., k, k])
    c = np.arctan2(-sign * R[..., i, j], R[..., i, i])
    # gimbal lock: fold the whole rotation about the first axis into a, with c = 0
    a_locked = np.arctan2(sign * R[..., k, j], R[..., j, j])
    a = np.where(locked, a_locked, a)
    c = np.where(locked, 0.0, c)
    return np.stack([a, b, c], axis=-1)


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The smallest rotation (..., 3, 3) taking direction u (..., 3) onto direction v; 180 degrees about an
    axis perpendicular to u when they are opposite."""
    _last(u, 3)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    axis = np.cross(u, v)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(u * v, axis=-1, keepdims=True)
    # perpendicular fallback axis for the opposite case
    helper = np.where(np.abs(u[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    perp = np.cross(u, helper)
    perp = perp / np.linalg.norm(perp, axis=-1, keepdims=True)
    axis = np.where(s > 1e-9, axis / np.where(s > 1e-9, s, 1.0), perp)
    angle = np.arctan2(s, c)
    return axis_angle_to_matrix(axis * angle)


def kabsch(rest_dirs: np.ndarray, target_dirs: np.ndarray) -> np.ndarray:
    """The rotations (T,3,3) R maximising sum_c <R rest_c, target_c> for rest (C,3) or (T,C,3) and targets (T,C,3)
    (Kabsch's SVD solution, reflections excluded)."""
    H = np.einsum("...ci,...cj->...ij", rest_dirs, target_dirs)
    H = np.broadcast_to(H, np.broadcast_shapes(H.shape, np.shape(target_dirs)[:-2] + (3, 3)))
    U, _, Vt = np.linalg.svd(H)
    V = np.swapaxes(Vt, -1, -2)
    d = np.sign(np.linalg.det(V @ np.swapaxes(U, -1, -2)))
    D = np.zeros(H.shape)
    D[..., 0, 0] = D[..., 1, 1] = 1.0
    D[..., 2, 2] = np.where(d == 0, 1.0, d)
    return V @ D @ np.swapaxes(U, -1, -2)
