"""Geometry: every forward/inverse pair round-trips; projection against known values; Procrustes; boxes."""

from __future__ import annotations

import numpy as np
import pytest

from mbcli import geometry as g

RNG = np.random.default_rng(0)


def _rotations(n: int = 500) -> np.ndarray:
    return g.axis_angle_to_matrix(RNG.normal(size=(n, 3)))


def test_axis_angle_round_trip_and_orthonormality():
    aa = RNG.normal(size=(500, 3))
    aa = aa / np.linalg.norm(aa, axis=-1, keepdims=True) * RNG.uniform(0, np.pi - 1e-3, (500, 1))
    R = g.axis_angle_to_matrix(aa)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1)
    assert np.allclose(g.matrix_to_axis_angle(R), aa, atol=1e-9)
    assert np.allclose(g.axis_angle_to_matrix(np.zeros(3)), np.eye(3))


def test_known_rotation():
    R = g.axis_angle_to_matrix(np.array([0, 0, np.pi / 2]))
    assert np.allclose(R @ [1, 0, 0], [0, 1, 0])


@pytest.mark.parametrize("fwd,inv", [(g.matrix_to_quaternion, g.quaternion_to_matrix),
                                     (g.matrix_to_rot6d, g.rot6d_to_matrix)])
def test_matrix_round_trips(fwd, inv):
    R = _rotations()
    assert np.allclose(inv(fwd(R)), R, atol=1e-12)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_all_orders(order):
    R = _rotations()
    e = g.matrix_to_euler(R, order)
    assert np.allclose(g.euler_to_matrix(e, order), R, atol=1e-10)
    assert np.all(np.abs(e[:, 1]) <= np.pi / 2 + 1e-12)


def test_euler_gimbal_lock_and_bad_order():
    R = g.euler_to_matrix(np.array([0.3, np.pi / 2, -0.4]), "ZXY")
    assert np.allclose(g.euler_to_matrix(g.matrix_to_euler(R, "ZXY"), "ZXY"), R, atol=1e-9)
    with pytest.raises(ValueError):
        g.euler_to_matrix(np.zeros(3), "XXY")


def test_euler_intrinsic_convention():
    # "ZXY" means R = Rz(a) @ Rx(b) @ Ry(c)
    a, b, c = 0.3, -0.2, 0.5
    Rz = g.axis_angle_to_matrix(np.array([0, 0, a]))
    Rx = g.axis_angle_to_matrix(np.array([b, 0, 0]))
    Ry = g.axis_angle_to_matrix(np.array([0, c, 0]))
    assert np.allclose(g.euler_to_matrix(np.array([a, b, c]), "ZXY"), Rz @ Rx @ Ry)


def test_rotation_between_including_opposite():
    u, v = RNG.normal(size=(100, 3)), RNG.normal(size=(100, 3))
    R = g.rotation_between(u, v)
    un = u / np.linalg.norm(u, axis=-1, keepdims=True)
    vn = v / np.linalg.norm(v, axis=-1, keepdims=True)
    assert np.allclose((R @ un[..., None])[..., 0], vn, atol=1e-9)
    R = g.rotation_between(np.array([0, 1.0, 0]), np.array([0, -1.0, 0]))
    assert np.allclose(R @ [0, 1, 0], [0, -1, 0])


def test_camera_round_trip_and_projection():
    R = _rotations(1)[0]
    c = np.array([100.0, -50.0, 1500.0])
    X = RNG.normal(size=(20, 3)) * 300
    Xc = g.world_to_camera(X, R, c)
    assert np.allclose(g.camera_to_world(Xc, R, c), X)
    pts = np.array([[0.0, 0.0, 2.0], [1.0, -0.5, 2.0]])
    uv = g.project(pts, f=[1000, 1000], c=[500, 400])
    assert np.allclose(uv, [[500, 400], [1000, 150]])
    assert np.allclose(g.unproject(uv, pts[:, 2], [1000, 1000], [500, 400]), pts)


def test_projection_distortion_moves_off_centre_points_only():
    pts = np.array([[0.0, 0.0, 3.0], [0.5, 0.4, 3.0]])
    k, p = [-0.2, 0.24, -0.003], [-0.0014, -0.001]
    plain = g.project(pts, [1145, 1144], [512, 515])
    dist = g.project(pts, [1145, 1144], [512, 515], k, p)
    assert np.allclose(plain[0], dist[0]) and not np.allclose(plain[1], dist[1])


def test_procrustes_recovers_similarity_transform():
    X = RNG.normal(size=(4, 17, 3))
    R = g.axis_angle_to_matrix(RNG.normal(size=(4, 3)))
    Y = 1.7 * (X @ np.swapaxes(R, -1, -2)) + RNG.normal(size=(4, 1, 3))
    assert np.allclose(g.procrustes_align(X, Y), Y, atol=1e-9)


def test_boxes_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [2, 2, 4, 4]])
    assert np.allclose(g.box_iou(a, b), [[1.0, 50 / 150, 0.0, 4 / 100]])
    assert np.allclose(g.box_ioa(b[3:], a), [[1.0]])
