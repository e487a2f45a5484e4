"""Fitting a body model (SMPL, anny: body/base.py) to a person's lifted 3D joints and, from a video, 2D keypoints.

Unknowns: one shape vector per person, one local rotation per free joint and frame (6D parametrisation, Zhou et
al. CVPR 2019: two columns, Gram-Schmidt), one root translation per frame in the camera frame (metres; x right,
y down, z forward).

1. Analytic initialisation (``initial_rotations``), per frame and vectorised over frames, walking the model's tree
   from the root: a joint whose subtree reaches several h36m-paired joints (the pelvis, the upper spine) gets the
   rotation that best aligns (Kabsch) its rest-pose difference vectors between those paired joints with the
   target's; a joint on a chain gets the smallest rotation (swing, no twist relative to its parent) that points its
   rest bone to the next paired joint along the target's direction; joints with no paired joint below keep their
   parent's orientation. The root translation comes from the 2D keypoints by linear least squares (per frame, the
   pinhole equations u (Z + t_z) = f (X + t_x) + c (Z + t_z) are linear in t), else 0.
2. Batched optimisation over all frames at once (Adam), minimising
     E = w_3d  mean_tj c_tj |(P_tj - P_t0) - (Q_tj - Q_t0)|^2          lifted 3D joints Q, root-relative, metres
       + w_2d  mean_tj s_tj rho(|pi(P_tj) - x_tj| z_t / f)             2D keypoints x through the camera pi, scaled
                                                                       to metres at the person's depth, robust rho
       + w_acc mean_tj |P_t+1,j - 2 P_tj + P_t-1,j|^2                   temporal smoothness (acceleration)
       + w_pose mean |R_local - I|^2 (joints without an h36m pair weighted x10)   a pose prior towards rest
       + w_shape shape_penalty(shape) / 100
   where P are the model's h36m17 joints (body/base.py's correspondence), posed from only the vertices that
   correspondence needs (a handful), so an iteration costs a joint chain, not a mesh. rho(e^2) = e^2 s^2/(e^2+s^2)
   (Geman-McClure, s = 0.1 m) keeps wrong detections from dragging the body.

``fit_body`` returns a BodyFit (parameters, fitted joints, per-frame error, timing); ``BodyFit.vertices`` poses the
whole mesh for a range of frames (for rendering and export, in chunks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from mbcli.body.base import BodyModel, TensorPlacement
from mbcli.errors import ConfigError
from mbcli.geometry import axis_angle_to_matrix, kabsch, rotation_between
from mbcli.skeletons import H36M17
from mbcli.types import Intrinsics
from mbcli.world.trajectory import fill_rows, solve_translation


@dataclass(frozen=True)
class FitConfig:
    """Weights and optimiser settings of ``fit_body`` (see the module docstring for the terms)."""

    iterations: int = 100
    optimizer: str = "lbfgs"  # "lbfgs" (strong-Wolfe line search) or "adam"
    lr: float = 0.02  # Adam only
    w_3d: float = 1.0
    w_2d: float = 1.0
    w_acc: float = 0.1
    w_pose: float = 1e-4
    w_shape: float = 1e-3
    robust_sigma_m: float = 0.1
    fit_shape: bool = True

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ConfigError(f"fit iterations must be >= 0, got {self.iterations}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"fit optimizer must be lbfgs or adam, got {self.optimizer!r}")


@dataclass
class BodyFit:
    """A fitted body, with the live model it was fitted with (mbcli/body/motion.py turns it into the plain-array
    BodyMotion that exports take). shape (S,), rotmats (T,J,3,3) local, transl (T,3) camera frame metres; joints
    (T,17,3) the fitted h36m17 joints (camera frame, with transl); error_mm (T,) mean root-relative distance to the
    lifted joints; seconds of optimisation; ``fit_speed`` = T / seconds, frames fitted per second (not a frame
    rate)."""

    model: BodyModel
    shape: np.ndarray
    rotmats: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    error_mm: np.ndarray
    seconds: float
    iterations: int
    losses: list[float] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.rotmats.shape[0])

    @property
    def fit_speed(self) -> float:
        return self.num_frames / max(self.seconds, 1e-9)

    def vertices(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Posed mesh vertices (stop-start, V, 3) in the camera frame, metres."""
        stop = self.num_frames if stop is None else stop
        m = self.model
        with torch.no_grad():
            R = torch.as_tensor(self.rotmats[start:stop], dtype=m.dtype, device=m.device)
            t = torch.as_tensor(self.transl[start:stop], dtype=m.dtype, device=m.device)
            s = torch.as_tensor(self.shape, dtype=m.dtype, device=m.device)
            v, _ = m.forward(s, R, t)
        return v.cpu().numpy()


# ----------------------------------------------------------------------------------------------- initialisation


def _subtree_pairs(model: BodyModel) -> tuple[dict[int, int], list[list[int]]]:
    """h36m index of each paired model joint, and for every joint the nearest paired joint down each child branch."""
    pair = {model.joint_names.index(m): H36M17.idx(h) for m, h in model.h36m_pairs}
    parents = model.parents
    children: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            children[int(p)].append(j)

    def nearest(j: int) -> list[int]:
        if j in pair:
            return [j]
        out: list[int] = []
        for c in children[j]:
            out += nearest(c)
        return out

    below = [[d for c in children[j] for d in nearest(c)] for j in range(len(parents))]
    return pair, below


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def initial_rotations(model: BodyModel, targets: np.ndarray, rest: np.ndarray, rest_h36m: np.ndarray) -> np.ndarray:
    """Local rotations (T,J,3,3) that point the model's bones along the h36m17 targets (T,17,3) (module docstring).

    rest (J,3): the model's rest joints for the current shape; rest_h36m (17,3) its h36m17 joints at rest (the
    correspondence's points, which for hips, thorax and head are not the paired model joints themselves).
    """
    T = targets.shape[0]
    J = model.num_joints
    pair, below = _subtree_pairs(model)
    free = set(model.free_joints)
    G = np.empty((T, J, 3, 3))
    X = np.empty((T, J, 3))  # posed joint positions as the walk goes (the root on its target, or the origin)
    local = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    for j in range(J):
        p = int(model.parents[j])
        G_p = eye if p < 0 else G[:, p]
        if p >= 0:
            X[:, j] = X[:, p] + np.einsum("tab,b->ta", G_p, rest[j] - rest[p])
        ds = below[j]
        if j not in free or not ds:
            G[:, j] = G_p
        elif len(ds) > 1:
            # difference vectors between every two paired joints of this joint's subtree (and itself)
            anchors = ([j] if j in pair else []) + ds
            a, b = np.triu_indices(len(anchors), 1)
            src = np.array([rest_h36m[pair[anchors[i]]] - rest_h36m[pair[anchors[k]]] for i, k in zip(a, b)])
            dst = np.stack([targets[:, pair[anchors[i]]] - targets[:, pair[anchors[k]]] for i, k in zip(a, b)], 1)
            G[:, j] = kabsch(_unit(src), _unit(dst))
        else:
            d = ds[0]
            # aim from where the joint now is at the next paired joint's target
            want = targets[:, pair[d]] - X[:, j]  # (T,3)
            have = np.einsum("tab,b->ta", G_p, rest_h36m[pair[d]] - rest[j])
            ok = (np.linalg.norm(want, axis=-1) > 1e-6)[:, None, None]
            G[:, j] = np.where(ok, rotation_between(have, np.where(ok[..., 0], want, have)) @ G_p, G_p)
        if p < 0:  # the root sits where the targets' root puts it, through the correspondence
            h = pair.get(j, 0)
            X[:, j] = targets[:, h] + np.einsum("tab,b->ta", G[:, j], rest[j] - rest_h36m[h])
        local[:, j] = np.swapaxes(G_p, -1, -2) @ G[:, j]
    return local


def root_translation(rel: np.ndarray, xy: np.ndarray, w: np.ndarray, cam: Intrinsics) -> np.ndarray:
    """Per-frame translation t (T,3) placing root-relative joints rel (T,J,3) so they project onto xy (T,J,2):
    world/trajectory.solve_translation (weighted by w (T,J)); frames with fewer than 2 weighted joints or a solution
    closer than 0.1 m get their neighbours' value."""
    t = solve_translation(rel, xy, w, cam)
    bad = ~np.isfinite(t).all(axis=1) | (np.nan_to_num(t[:, 2]) <= 0.1)
    return fill_rows(np.nan_to_num(t), bad)


# ----------------------------------------------------------------------------------------------- optimisation


def rot6d_to_matrix_torch(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt on the two columns (the inverse of taking R's first two columns)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def _gmof(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    s2 = sigma * sigma
    return sq * s2 / (sq + s2)


def fit_body(
    model: BodyModel,
    targets: np.ndarray,
    *,
    confidence: np.ndarray | None = None,
    keypoints: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    camera: Intrinsics | None = None,
    config: FitConfig | None = None,
    init_shape: np.ndarray | None = None,
) -> BodyFit:
    """Fit ``model`` to h36m17 targets (T,17,3) metres, camera frame (root-relative or not; only root-relative
    positions are used). confidence (T,17) weights the 3D term (default 1). keypoints (T,17,2) px, scores (T,17)
    and camera enable the 2D term and the translation; without them the root stays at the origin.
    """
    cfg = config or FitConfig()
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim != 3 or targets.shape[1:] != (H36M17.num_joints, 3) or targets.shape[0] == 0:
        raise ConfigError(f"fitting needs h36m17 targets (T,17,3) with T >= 1, got {targets.shape}")
    if not np.isfinite(targets).all():
        raise ConfigError("fitting needs finite 3D targets")
    T = targets.shape[0]
    kw: TensorPlacement = {"dtype": model.dtype, "device": model.device}
    rel = targets - targets[:, :1]
    conf = np.ones((T, 17)) if confidence is None else np.asarray(confidence, dtype=np.float64)
    use_2d = keypoints is not None and camera is not None
    import torch._dynamo  # noqa: F401  torch.optim imports it on first use (1.5 s on 2 cores): not part of fitting
    t0 = time.perf_counter()

    shape0 = torch.as_tensor(init_shape, **kw) if init_shape is not None else model.default_shape()
    with torch.no_grad():
        rest = model.rest_joints(shape0.reshape(1, -1))[0].double().cpu().numpy()
        identity = torch.eye(3, **kw).expand(1, model.num_joints, 3, 3)
        rest_h36m = model.h36m_from_params(shape0, identity)[0].double().cpu().numpy()
    R0 = initial_rotations(model, rel, rest, rest_h36m)
    if use_2d:
        assert keypoints is not None and camera is not None
        sc = np.ones((T, 17)) if scores is None else np.asarray(scores, dtype=np.float64)
        transl0 = root_translation(rel, np.asarray(keypoints, np.float64), sc, camera)
    else:
        sc = None
        transl0 = np.zeros((T, 3))

    free = torch.as_tensor(list(model.free_joints), dtype=torch.long, device=model.device)
    R_all = torch.as_tensor(R0, **kw)  # (T,J,3,3), non-free joints stay as initialised (identity)
    d6 = torch.cat([R_all[:, free, :, 0], R_all[:, free, :, 1]], dim=-1).clone().requires_grad_(True)
    shape = shape0.clone().requires_grad_(cfg.fit_shape)
    # the root translation is parametrised relative to the model's own root so it starts where the targets' root is
    with torch.no_grad():
        P0 = model.h36m_from_params(shape0, R_all)  # (T,17,3) with transl 0
    transl = (torch.as_tensor(transl0, **kw) - P0[:, 0]).clone().requires_grad_(use_2d)

    tgt = torch.as_tensor(rel, **kw)
    c3 = torch.as_tensor(conf, **kw)
    paired = {model.joint_names.index(m) for m, _ in model.h36m_pairs}
    prior_w = torch.as_tensor([1.0 if int(j) in paired else 10.0 for j in model.free_joints], **kw)
    prior_w[0] = 0.0  # the global orientation is free
    eye = torch.eye(3, **kw)
    if use_2d:
        assert camera is not None and sc is not None
        kp = torch.as_tensor(np.nan_to_num(np.asarray(keypoints, np.float64)), **kw)
        s2 = torch.as_tensor(sc, **kw)
        f = torch.as_tensor([camera.fx, camera.fy], **kw)
        c = torch.as_tensor([camera.cx, camera.cy], **kw)

    params = [d6] + ([shape] if cfg.fit_shape else []) + ([transl] if use_2d else [])
    losses: list[float] = []

    def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
        R = R_all.index_copy(1, free, rot6d_to_matrix_torch(d6))
        P = model.h36m_from_params(shape, R, transl)  # (T,17,3)
        return R, P

    def objective() -> torch.Tensor:
        R, P = evaluate()
        prel = P - P[:, :1]
        loss = cfg.w_3d * (c3 * ((prel - tgt) ** 2).sum(-1)).mean()
        if use_2d:
            z = P[..., 2:].clamp(min=0.1)
            proj = P[..., :2] / z * f + c
            err_m = ((proj - kp) / f * P[:, :1, 2:].clamp(min=0.1)).pow(2).sum(-1)
            loss = loss + cfg.w_2d * (s2 * _gmof(err_m, cfg.robust_sigma_m)).mean()
        if T >= 3:
            acc = P[2:] - 2 * P[1:-1] + P[:-2]
            loss = loss + cfg.w_acc * (acc ** 2).sum(-1).mean()
        loss = loss + cfg.w_pose * (prior_w[:, None, None] * (R[:, free] - eye) ** 2).sum((-1, -2)).mean()
        if cfg.fit_shape:
            loss = loss + cfg.w_shape * model.shape_penalty(shape) / 100.0
        return loss

    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=cfg.lr)
        for _ in range(cfg.iterations):
            opt.zero_grad(set_to_none=True)
            loss = objective()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    elif cfg.iterations > 0:
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.iterations, history_size=50,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = objective()
            loss.backward()
            losses.append(float(loss.detach()))
            return loss

        opt.step(closure)

    with torch.no_grad():
        R, P = evaluate()
    seconds = time.perf_counter() - t0
    Pn = P.double().cpu().numpy()
    err = np.linalg.norm((Pn - Pn[:, :1]) - rel, axis=-1).mean(axis=1) * 1000.0
    return BodyFit(model, shape.detach().cpu().numpy().astype(np.float64), R.double().cpu().numpy(),
                   transl.detach().double().cpu().numpy(), Pn, err, seconds, cfg.iterations, losses)


def random_motion(model: BodyModel, T: int, amplitude: float = 0.2, seed: int = 0) -> torch.Tensor:
    """Smooth random local rotations (T,J,3,3) of the free joints (each a sine about a random axis), the body
    upright and facing the camera in the OpenCV camera frame: targets for benchmarks that know the answer."""
    g = np.random.default_rng(seed)
    J = model.num_joints
    phase = np.linspace(0.0, 2.0 * np.pi, T)[:, None, None] + g.uniform(0, 6, (1, J, 3))
    aa = g.normal(0, amplitude, (J, 3)) + g.normal(0, amplitude, (J, 3)) * np.sin(phase)
    mask = np.zeros(J, bool)
    mask[list(model.free_joints)] = True
    aa[:, ~mask] = 0.0
    # root: half a turn about x (canonical y-up -> camera y-down, facing the camera), turning a little about y
    upright = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    turn = aa[:, 0].copy()
    aa[:, 0] = 0.0
    R = axis_angle_to_matrix(aa)
    R[:, 0] = upright @ axis_angle_to_matrix(turn * [0.2, 1.0, 0.2])
    return torch.as_tensor(R, dtype=model.dtype, device=model.device)
