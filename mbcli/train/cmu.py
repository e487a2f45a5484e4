"""CMU motion capture (BVH) seen through random virtual cameras: extra h36m17 3D data for lifter pretraining.

Source: ../shared/data/cmu: ``bvh/<trial>.bvh`` (49 trials of subjects 03-14: walk, run, jump, reach) and
``cmu_index.tsv`` (trial -> description; cmu_description). All 49 files share one hierarchy (the same retargeted
skeleton for every subject, root ``hip``), 120 fps, Y up; in the rest pose the figure faces +Z with its left on +X.
Units are centimetres, not inches: standing eye height is 155 units, walking 07_01 moves 136 units/s and running 09_01
341 units/s (in inches the person would be 3.9 m tall and walk 3.5 m/s).

BVH reading: mbcli.rig.bvh_io (read_bvh, bvh_positions: any channel order, end sites as ``<joint>_end``,
malformed files raise ConfigError naming the file).

CMU -> h36m17 (cmu_to_h36m17), then metres:
- hips = rThigh/lThigh (the thigh rotation centres); pelvis = their midpoint (Human3.6M's pelvis is the midpoint of
  its hips to 0.6 mm; the CMU root ``hip`` sits 2.6 cm below and 1 cm in front of it); knees = rShin/lShin;
  ankles = rFoot/lFoot; thorax = neck; shoulders = rShldr/lShldr; elbows = rForeArm/lForeArm; wrists = rHand/lHand.
- spine (rides on ``abdomen``), neck_nose and head_top (ride on ``head``) are points rigidly attached to those joints,
  placed in the rest pose where Human3.6M puts them on average (H36M_SPINE, H36M_NECK_NOSE, H36M_HEAD_TOP, scaled by
  the torso length ratio): spine 48.3% of the way from pelvis to thorax and 3.1 cm behind that line; neck_nose
  7.5 cm above and 7.4 cm in front of the thorax (chin/mouth level); head_top 16.1 cm above and 1.7 cm in front of
  the thorax. Human3.6M's "head top" is not the crown: it sits 22 cm above its shoulders, about eye level, so the
  CMU eyes (9 cm in front of the neck) and the crown are both worse matches.
- then every bone keeps its direction and gets the Human3.6M mean length (match_bone_lengths; H36M_BONE_LENGTHS_M),
  rebuilding the skeleton from the pelvis outwards. The CMU skeleton is one figure with odd proportions, before that
  step (m, CMU -> H36M): hip 0.088 -> 0.135, thigh 0.368 -> 0.450, shin 0.454 -> 0.446, pelvis-spine 0.255 -> 0.239,
  spine-thorax 0.268 -> 0.255, thorax-neck_nose 0.125 (+-0.014, varies with the head) -> 0.116, head 0.111 -> 0.115,
  thorax-shoulder 0.125 -> 0.149, upper arm 0.282 -> 0.280, forearm 0.237 -> 0.250.
Residual differences after the mapping (mean joint placements in body frames, m, all frames of the usable trials vs
the Human3.6M training subjects; "walk" compares CMU walks with H36M Walking/WalkTogether):
- thorax above pelvis: CMU 0.489 vs 0.482 (walk 0.490 vs 0.484). H36M's thorax sits 2.7 cm (walk 3.7 cm) to the
  subject's right of the pelvis; the CMU skeleton is symmetric (0.5 cm).
- spine, (up, forward) from the pelvis: (0.237, -0.030) vs (0.234, -0.031); walk (0.237, -0.027) vs (0.237, -0.025).
- neck_nose from the thorax: walk (0.083, 0.079) vs (0.082, 0.070); all (0.094, 0.062) vs (0.075, 0.074).
- head_top from the thorax: walk (0.175, 0.014) vs (0.177, 0.020); all (0.154, -0.024) vs (0.161, 0.017). The
  all-frame gap is the action mix (the long reach trials look up), not the mapping: walks agree within 1 cm.
- shoulder from the thorax, (out, up, forward): (0.137, -0.059, -0.009) vs (0.137, -0.055, -0.001).

Cleaning (usable_range): frame 0 of every file is the converter's reference T-pose (all rotations 0) and the next
~3 frames blend out of it at 14-97 m/s; leading frames up to the last step within SETTLE_S faster than
MAX_JOINT_SPEED_MPS (12 m/s; clean walks, runs and jumps stay under 9.9 m/s) are dropped. A trial where more than
MAX_FAST_FRACTION of the remaining steps are that fast is broken and left out: 07_12 (22%: the left foot moves at
12-13 m/s for tens of frames of a brisk walk) and 09_10 (49%: the right leg takes impossible poses, shin channel near
-170 degrees), leaving 47 trials.

Time: linear interpolation from the file's rate (120 fps) to ``fps`` (default 50, as Human3.6M).

Virtual cameras (random_cameras), deterministic from (seed, trial id): K per trial, azimuths spread evenly around
the circle from a random start (each jittered by up to a quarter of the spacing), elevation U(-5, 25) degrees, focal
1145 px * U(0.92, 1.08), principal point at the centre of a 1000x1000 image, no distortion, roll 0 (camera x
horizontal, y down, z forward: the Human3.6M and mbcli camera convention). Each camera looks at the trial's mean
pelvis position from distance U(3.5, 6.5) m, pushed back when needed so that every joint of every frame stays 20 px
inside the image and more than 0.5 m in front of the camera (place_camera; closed form). The camera stays put while
the subject walks by (up to 4.5 m): for the 47 trials with 4 cameras (seed 0) the distance has median 5.5 m, is
above 6.5 m for 2% of cameras and at most 7.0 m; pelvis depths span 3.2-7.4 m (1st-99th percentile; Human3.6M
S1: 3.2-6.8 m) and the person is 236-476 px tall (5th-95th; H36M S1: 171-437 px).

Loading all 49 files (load_cmu: parse, FK, mapping, cameras, projection) takes about 1.3 s on the 2-core dev box.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mbcli.errors import ConfigError
from mbcli.geometry import project, world_to_camera
from mbcli.labels import read_cmu_index
from mbcli.rig.bvh_io import BvhMotion, bvh_positions, read_bvh
from mbcli.skeletons import H36M17, H36M_BONE_LENGTHS_M
from mbcli.train.data import Sequence
from mbcli.units import TO_METRES

# ----------------------------------------------------------------------------------------------- CMU -> h36m17

CMU_UNITS = "cm"  # the shared files are in centimetres (see the module docstring), not inches

# Mean Human3.6M joint placements (m, training subjects, all frames), measured in body frames: the pelvis frame
# (left = right_hip->left_hip, up = pelvis->thorax made orthogonal to left, forward = left x up) and the upper-body
# frame (left = right->left shoulder, up = spine->thorax made orthogonal, forward = left x up).
H36M_PELVIS_THORAX_M = 0.485  # |thorax - pelvis|
H36M_SPINE = (0.483, 0.031)  # fraction of the way from pelvis to thorax, distance behind that line
H36M_NECK_NOSE = (0.075, 0.074)  # above and in front of the thorax, upper-body frame
H36M_HEAD_TOP = (0.161, 0.017)  # above and in front of the thorax, upper-body frame

# h36m17 joints taken directly from a CMU joint (hips, knees, ankles, thorax, shoulders, elbows, wrists)
CMU_JOINTS = {
    "right_hip": "rThigh", "right_knee": "rShin", "right_ankle": "rFoot",
    "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot",
    "thorax": "neck",
    "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand",
    "right_shoulder": "rShldr", "right_elbow": "rForeArm", "right_wrist": "rHand",
}  # fmt: skip
# h36m17 joints placed as points rigidly attached to a CMU joint (offsets from the rest pose, _virtual_points)
CMU_ATTACHED = {"spine": "abdomen", "neck_nose": "head", "head_top": "head"}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _body_frame(left: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal (left, up, forward) axes from a left-pointing and an up-pointing vector (..., 3)."""
    a = _unit(left)
    u = _unit(up - np.sum(up * a, axis=-1, keepdims=True) * a)
    return a, u, np.cross(a, u)


def _virtual_points(motion: BvhMotion) -> dict[str, tuple[str, np.ndarray]]:
    """Local offsets (file units) of spine, neck_nose and head_top in the frames of the CMU joints they ride on,
    chosen so that in the rest pose they sit where Human3.6M's joints sit relative to pelvis, thorax and shoulders
    (H36M_* above, scaled by the torso length ratio)."""
    names = ["rThigh", "lThigh", "neck", "rShldr", "lShldr", *sorted(set(CMU_ATTACHED.values()))]
    rest = replace(motion, frames=np.zeros((1, motion.frames.shape[1])))
    p = dict(zip(names, bvh_positions(rest, names)[0]))  # rest pose: every global rotation is identity
    pelvis, thorax = (p["rThigh"] + p["lThigh"]) / 2, p["neck"]
    scale = np.linalg.norm(thorax - pelvis) / H36M_PELVIS_THORAX_M  # file units per H36M metre
    _, _, fwd = _body_frame(p["lThigh"] - p["rThigh"], thorax - pelvis)
    spine = pelvis + H36M_SPINE[0] * (thorax - pelvis) - H36M_SPINE[1] * scale * fwd
    _, up2, fwd2 = _body_frame(p["lShldr"] - p["rShldr"], thorax - spine)
    world = {
        "spine": spine,
        "neck_nose": thorax + scale * (H36M_NECK_NOSE[0] * up2 + H36M_NECK_NOSE[1] * fwd2),
        "head_top": thorax + scale * (H36M_HEAD_TOP[0] * up2 + H36M_HEAD_TOP[1] * fwd2),
    }
    return {f"h36m_{n}": (j, world[n] - p[j]) for n, j in CMU_ATTACHED.items()}


def match_bone_lengths(xyz: np.ndarray, lengths: dict[str, float] = H36M_BONE_LENGTHS_M) -> np.ndarray:
    """Rebuild h36m17 joints (..., 17, 3) from the pelvis outwards, keeping every bone's direction and setting its
    length to ``lengths[child]``."""
    out = np.array(xyz, dtype=np.float64, copy=True)
    for p, j in H36M17.bones:  # parents come before children in h36m17
        d = _unit(xyz[..., j, :] - xyz[..., p, :])
        out[..., j, :] = out[..., p, :] + lengths[H36M17.joints[j]] * d
    return out


def cmu_to_h36m17(motion: BvhMotion, match_lengths: bool = True) -> np.ndarray:
    """CMU BVH motion -> h36m17 joints (T, 17, 3) in metres, in the BVH's world axes (Y up), by the mapping of the
    module docstring; with ``match_lengths`` every bone then gets the Human3.6M mean length."""
    needed = {*CMU_JOINTS.values(), *CMU_ATTACHED.values(), "rShldr", "lShldr"}
    missing = sorted(needed - set(motion.names))
    if missing:
        raise ConfigError(f"{motion.source} is not a CMU skeleton: it has no joint {', '.join(missing)}")
    extra = _virtual_points(motion)
    nodes = [CMU_JOINTS.get(n, f"h36m_{n}") for n in H36M17.joints[1:]]
    xyz = np.empty((motion.num_frames, H36M17.num_joints, 3))
    xyz[:, 1:] = bvh_positions(motion, nodes, extra) * TO_METRES[CMU_UNITS]
    xyz[:, 0] = (xyz[:, H36M17.idx("left_hip")] + xyz[:, H36M17.idx("right_hip")]) / 2
    return match_bone_lengths(xyz) if match_lengths else xyz


def resample_fps(x: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation in time of (T, ...) sampled at src_fps onto dst_fps, starting at the first frame and
    ending at or before the last one."""
    T = x.shape[0]
    n = int(np.floor((T - 1) * dst_fps / src_fps + 1e-9)) + 1
    pos = np.arange(n) * (src_fps / dst_fps)
    lo = np.minimum(np.floor(pos).astype(int), T - 1)
    hi = np.minimum(lo + 1, T - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[lo] * (1 - w) + x[hi] * w


# ----------------------------------------------------------------------------------------------- virtual cameras

IMAGE_SIZE = (1000, 1000)
FOCAL_PX = 1145.0  # Human3.6M's cameras have f = 1145-1150 px for 1000x1000 (or 1000x1002) images
FOCAL_JITTER = 0.08  # f ~ FOCAL_PX * U(1 - j, 1 + j)
ELEVATION_DEG = (-5.0, 25.0)
DISTANCE_M = (3.5, 6.5)
MARGIN_PX = 20.0  # every joint of every frame stays this far inside the image
MIN_DEPTH_M = 0.5


@dataclass(frozen=True)
class VirtualCamera:
    """A pinhole camera without distortion: X_cam = R_world_to_cam @ (X - center_world) (metres), pixels
    = f * X_cam[:2] / X_cam[2] + c. Azimuth/elevation give the direction from the target to the camera."""

    R_world_to_cam: np.ndarray
    center_world: np.ndarray
    f: float
    c: tuple[float, float]
    azimuth_deg: float
    elevation_deg: float
    distance_m: float

    def to_camera(self, xyz_world: np.ndarray) -> np.ndarray:
        return world_to_camera(xyz_world, self.R_world_to_cam, self.center_world)

    def project(self, xyz_camera: np.ndarray) -> np.ndarray:
        return project(xyz_camera, np.array([self.f, self.f]), np.asarray(self.c))


def look_at_rotation(azimuth_deg: float, elevation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(R_world_to_cam, unit direction from the target to the camera) for a Y-up world; azimuth 0 puts the camera
    on the +Z side, 90 on the +X side. Roll 0: the camera's x axis is horizontal and its y axis points down."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    d = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    z = -d
    x = _unit(np.cross(z, np.array([0.0, 1.0, 0.0])))
    y = np.cross(z, x)
    return np.stack([x, y, z]), d


def place_camera(xyz_world: np.ndarray, target: np.ndarray, azimuth_deg: float, elevation_deg: float,
                 distance_m: float, f: float = FOCAL_PX, image_size: tuple[int, int] = IMAGE_SIZE,
                 margin_px: float = MARGIN_PX) -> VirtualCamera:
    """A camera looking at ``target`` from the given direction, at ``distance_m`` or, when that is too close, at
    the smallest distance at which every point of ``xyz_world`` (..., 3) lies at least MIN_DEPTH_M in front and
    ``margin_px`` inside the image (principal point at the image centre)."""
    R, d = look_at_rotation(azimuth_deg, elevation_deg)
    P = (np.asarray(xyz_world, dtype=np.float64).reshape(-1, 3) - target) @ R.T  # camera axes, origin at target
    # with the camera at target + D d: X_cam = P + (0, 0, D); inside means |P_x| <= a_x (P_z + D), same for y
    a = (np.array(image_size, dtype=np.float64) / 2 - margin_px) / f
    need = max(float(np.max(np.abs(P[:, 0]) / a[0] - P[:, 2])), float(np.max(np.abs(P[:, 1]) / a[1] - P[:, 2])),
               float(MIN_DEPTH_M - P[:, 2].min()) + 1e-6)
    D = max(float(distance_m), need)
    c = (image_size[0] / 2, image_size[1] / 2)
    return VirtualCamera(R, np.asarray(target, dtype=np.float64) + D * d, float(f), c, float(azimuth_deg),
                         float(elevation_deg), D)


def random_cameras(xyz_world: np.ndarray, num: int, rng: np.random.Generator) -> list[VirtualCamera]:
    """``num`` cameras around a motion (T, J, 3), aimed at its mean pelvis (joint 0) position: azimuths spread
    evenly around the circle from a random start (each jittered by up to a quarter of the spacing), elevation,
    distance and focal length drawn uniformly from ELEVATION_DEG, DISTANCE_M and FOCAL_PX * (1 +- FOCAL_JITTER)."""
    target = xyz_world[:, 0].mean(axis=0)
    start = rng.uniform(0, 360)
    cams = []
    for k in range(num):
        az = (start + (k + rng.uniform(-0.25, 0.25)) * 360.0 / num) % 360.0
        el = rng.uniform(*ELEVATION_DEG)
        dist = rng.uniform(*DISTANCE_M)
        f = FOCAL_PX * rng.uniform(1 - FOCAL_JITTER, 1 + FOCAL_JITTER)
        cams.append(place_camera(xyz_world, target, az, el, dist, f))
    return cams


# ----------------------------------------------------------------------------------------------- loading


MAX_JOINT_SPEED_MPS = 12.0  # faster than any joint in the clean walk/run/jump trials (their maximum: 9.9 m/s)
SETTLE_S = 0.5
MAX_FAST_FRACTION = 0.02


def default_cmu_dir() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmu"


def _bvh_files(cmu_dir: str | Path | None) -> tuple[Path, dict[str, Path]]:
    d = Path(cmu_dir) if cmu_dir else default_cmu_dir()
    bvh_dir = d / "bvh"
    files = {p.stem: p for p in sorted(bvh_dir.glob("*.bvh"))} if bvh_dir.is_dir() else {}
    if not files:
        raise ConfigError(f"CMU mocap not found: no BVH files in {bvh_dir}")
    return d, files


def _trial_seed(trial: str) -> int:
    return zlib.crc32(trial.encode("utf-8"))


def cmu_description(trial: str, cmu_dir: str | Path | None = None) -> str:
    """The CMU description of a trial ("07_01" -> "walk") from cmu_index.tsv."""
    d = Path(cmu_dir) if cmu_dir else default_cmu_dir()
    index = d / "cmu_index.tsv"
    if not index.is_file():
        raise ConfigError(f"CMU trial index not found: {index}")
    desc = read_cmu_index(index.resolve()).get(trial)
    if desc is None:
        raise ConfigError(f"CMU trial {trial!r} is not in {index}")
    return desc


def usable_range(xyz: np.ndarray, fps: float, reference_first: bool = False) -> tuple[int, float]:
    """(first usable frame, fraction of later frame steps where some joint moves faster than MAX_JOINT_SPEED_MPS)
    for joints (T, J, 3) in metres. Leading frames are dropped up to the last too-fast step within SETTLE_S (the
    converter's blend from its reference T-pose into the motion), and frame 0 when ``reference_first``."""
    speed = np.linalg.norm(np.diff(xyz, axis=0), axis=-1).max(axis=-1) * fps
    fast = speed > MAX_JOINT_SPEED_MPS
    early = np.nonzero(fast[: int(round(SETTLE_S * fps))])[0]
    start = max(int(early[-1]) + 1 if len(early) else 0, 1 if reference_first else 0)
    rest = fast[start:]
    return start, float(rest.mean()) if len(rest) else 1.0


def cmu_subjects(numbers: list | tuple, what: str = "cmu_holdout") -> set[str]:
    """CMU subject numbers ("08", 8) -> the Sequence.subject names load_cmu gives them ({"CMU08"}); ConfigError
    naming ``what`` for anything that is not a number."""
    try:
        return {f"CMU{int(str(n)):02d}" for n in numbers}
    except ValueError:
        raise ConfigError(f"{what} must list CMU subject numbers, got {list(numbers)}") from None


def load_cmu(cmu_dir: str | Path | None = None, fps: float = 50.0, cameras_per_trial: int = 4, seed: int = 0,
             trials: list[str] | tuple[str, ...] | None = None) -> list[Sequence]:
    """CMU trials (``<cmu_dir>/bvh/<trial>.bvh``) as h36m17 Sequences: one per (trial, virtual camera), subject
    "CMU<nn>", action the trial id, camera "virtual<k>", label the trial's description (cmu_index.tsv; None when
    the index is missing), resampled to ``fps``. The cameras of a trial depend only on
    ``seed`` and the trial id, so a subset of trials gets the same cameras as the full set. Trials that fail the
    quality check (usable_range, module docstring) are left out, or raise ConfigError when named in ``trials``."""
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    if cameras_per_trial < 1:
        raise ConfigError(f"cameras_per_trial must be at least 1, got {cameras_per_trial}")
    if seed < 0:
        raise ConfigError(f"seed must be non-negative, got {seed}")
    d, files = _bvh_files(cmu_dir)
    names = sorted(files) if trials is None else list(trials)
    missing = [t for t in names if t not in files]
    if missing:
        raise ConfigError(f"CMU trials not found in {d / 'bvh'}: {', '.join(missing)}")
    index_file = d / "cmu_index.tsv"
    descriptions = read_cmu_index(index_file.resolve()) if index_file.is_file() else {}
    out = []
    for trial in names:
        motion = read_bvh(files[trial])
        src_fps = 1.0 / motion.frame_time
        xyz = cmu_to_h36m17(motion)
        reference = bool(np.all(motion.frames[0, motion.rotation_columns()] == 0))
        start, fast = usable_range(xyz, src_fps, reference)
        if fast > MAX_FAST_FRACTION or motion.num_frames - start < 2:
            if trials is not None:
                raise ConfigError(f"CMU trial {trial} is unusable: {fast:.0%} of its frame steps move a joint faster "
                                  f"than {MAX_JOINT_SPEED_MPS:g} m/s (broken capture)")
            continue
        xyz = resample_fps(xyz[start:], src_fps, fps)
        rng = np.random.default_rng([seed, _trial_seed(trial)])
        for k, cam in enumerate(random_cameras(xyz, cameras_per_trial, rng)):
            xyz_cam = cam.to_camera(xyz)
            if xyz_cam[..., 2].min() <= MIN_DEPTH_M:  # place_camera guarantees this; a failure is a bug
                raise RuntimeError(f"virtual camera {k} of CMU trial {trial} has a joint behind it")
            out.append(Sequence(f"CMU{trial.split('_')[0]}", trial, f"virtual{k}", xyz_cam.astype(np.float32),
                                cam.project(xyz_cam).astype(np.float32), IMAGE_SIZE, label=descriptions.get(trial)))
    if not out:
        raise ConfigError(f"no usable CMU trials in {d / 'bvh'}")
    return out

