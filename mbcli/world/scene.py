"""A clip's people placed in one world: the step ``mbcli lift`` and ``mbcli mesh`` share.

For each person: the lifted root-relative 3D (camera frame) is scaled to adult size (trajectory.adult_scale; a
lifter trained with an L2 loss shrinks people a little, and the metric size is what sets the distance), placed at its
root trajectory (trajectory.py) with the clip's camera. The floor is then fitted to everyone's planted feet together
(floor.py), each person is expressed in the world frame it defines (Y up, floor y = 0, metres), their feet are
labelled planted or not (contact.py) and, unless ``foot_lock`` is off, their legs are solved so that planted feet stay
put and no ankle sinks under the floor (footlock.py; the labels are those of the motion before locking). All people
of a clip share the camera, the floor and the world frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mbcli.errors import ConfigError
from mbcli.types import Intrinsics, Keypoints2D, Pose3D, Scene, WorldPose
from mbcli.units import TO_METRES
from mbcli.world.contact import foot_contacts
from mbcli.world.floor import estimate_floor, joints_seen
from mbcli.world.footlock import lock_feet
from mbcli.world.trajectory import RootTrajectory, adult_scale, root_trajectory


def _aligned_2d(pose: Pose3D, kp: Keypoints2D) -> tuple[np.ndarray, np.ndarray]:
    """The 2D keypoints (T,17,2) and scores (T,17) at the pose's frames (score 0 where the track has none)."""
    xy = np.zeros((pose.num_frames, 17, 2))
    sc = np.zeros((pose.num_frames, 17))
    row = {int(f): i for i, f in enumerate(kp.frame_indices)}
    for t, f in enumerate(pose.frame_indices):
        i = row.get(int(f))
        if i is not None:
            xy[t], sc[t] = kp.xy[i], kp.scores[i]
    return np.nan_to_num(xy), sc


def place_person(pose: Pose3D, kp: Keypoints2D, camera: Intrinsics, image_size: tuple[int, int],
                 fps: float) -> tuple[np.ndarray, RootTrajectory, float]:
    """One person resized to adult size and placed at their root trajectory: (joints (T,17,3) camera frame, metres;
    the trajectory; the scale applied). pose: h36m17, camera frame, root-relative; kp: its 2D track."""
    if pose.skeleton.name != "h36m17" or kp.skeleton.name != "h36m17":
        raise ConfigError("placing people in the world needs h36m17 poses and keypoints")
    rel = pose.xyz.astype(np.float64) * TO_METRES[pose.units]
    rel = rel - rel[:, :1]
    scale = adult_scale(rel)
    rel = rel * scale
    xy, sc = _aligned_2d(pose, kp)
    traj = root_trajectory(rel, xy, sc, camera, image_size, fps)
    return rel + traj.root_cam[:, None, :], traj, scale


def place_people(poses: Sequence[Pose3D], keypoints: Sequence[Keypoints2D], camera: Intrinsics,
                 image_size: tuple[int, int], fps: float, foot_lock: bool = True) -> tuple[Scene, list[WorldPose]]:
    """The scene (camera, floor) and each person's WorldPose: poses are h36m17, camera frame, root-relative;
    keypoints their h36m17 2D tracks in pixels of an image_size (W, H) video at fps frames per second; foot_lock:
    pin planted feet and lift ankles out of the floor (footlock.lock_feet)."""
    if len(poses) != len(keypoints):
        raise ConfigError(f"{len(poses)} 3D poses for {len(keypoints)} 2D tracks")
    placed, seen, tracks, scales = [], [], [], []
    for pose, kp in zip(poses, keypoints):
        joints, traj, scale = place_person(pose, kp, camera, image_size, fps)
        placed.append(joints)
        seen.append(joints_seen(*_aligned_2d(pose, kp), image_size))
        tracks.append(traj)
        scales.append(scale)
    floor = estimate_floor(placed, seen, fps)
    people = []
    for joints, traj, scale in zip(placed, tracks, scales):
        world = floor.to_world(joints)
        contacts = foot_contacts(world, fps)
        if foot_lock:
            world = lock_feet(world, contacts, fps)
        people.append(WorldPose(world, traj.root_cam, traj.flags, contacts, scale))
    return Scene(camera, floor), people
