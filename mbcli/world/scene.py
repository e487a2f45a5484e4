"""A clip's people placed in one world: the step ``mbcli lift`` and ``mbcli mesh`` share.

For each person: the lifted root-relative 3D (camera frame) is scaled to adult size (trajectory.adult_scale; a
lifter trained with an L2 loss shrinks people a little, and the metric size is what sets the distance), placed at its
root trajectory (trajectory.py) with the clip's camera. The floor is then fitted to everyone's planted feet together
(floor.py), each person is expressed in the world frame it defines (Y up, floor y = 0, metres), their feet are
labelled planted or not (contact.py) and, unless ``foot_lock`` is off, their legs are solved so that planted feet stay
put and no ankle sinks under the floor (footlock.py; the labels are those of the motion before locking). All people
of a clip share the camera, the floor and the world frame.
The work goes a block of frames at a time (trajectory.blocks), so its memory does not grow with the clip beyond the
outputs and a few arrays of one or two columns per frame (the root, the ankles, the legs while they are locked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mbcli.errors import ConfigError
from mbcli.types import Floor, Intrinsics, Keypoints2D, Pose3D, Scene, WorldPose
from mbcli.units import TO_METRES
from mbcli.world.contact import FEET, ankle_contacts
from mbcli.world.floor import floor_from_ankles, joints_seen, up_from_samples, up_samples
from mbcli.world.footlock import LEGS, lock_legs
from mbcli.world.trajectory import RootTrajectory, blocks, bone_lengths, root_trajectory_blocks, scale_from_lengths

_LEG_COLUMNS = [j for leg in LEGS for j in leg]  # left hip, knee, ankle, right hip, knee, ankle
_LEGS_ALONE = ((0, 1, 2), (3, 4, 5))  # those columns' legs in an array of the legs alone
_ANKLES_OF_LEGS = [2, 5]


def _track_rows(pose: Pose3D, kp: Keypoints2D) -> np.ndarray:
    """(T,) int64: the row of the 2D track at each frame of the pose (the last such row of a frame it has twice),
    -1 where the track has none."""
    frames = np.asarray(pose.frame_indices, dtype=np.int64)
    have = np.asarray(kp.frame_indices, dtype=np.int64)
    if not len(have):
        return np.full(len(frames), -1, np.int64)
    order = np.argsort(have, kind="stable")
    pos = np.maximum(np.searchsorted(have[order], frames, side="right") - 1, 0)
    return np.where(have[order][pos] == frames, order[pos], -1)


@dataclass(frozen=True)
class _Person:
    """One person's lifted pose and 2D track, read a block of frames at a time in float64."""

    pose: Pose3D  # h36m17, camera frame, root-relative
    kp: Keypoints2D  # its h36m17 2D track
    rows: np.ndarray  # (T,) _track_rows
    scale: float  # trajectory.adult_scale of the pose

    def rel(self, sl: slice, scale: float | None = None) -> np.ndarray:
        """(n,17,3) the frames sl root-relative, in metres, times ``scale`` (default: the person's scale)."""
        rel = self.pose.xyz[sl].astype(np.float64) * TO_METRES[self.pose.units]
        rel = rel - rel[:, :1]
        return rel * (self.scale if scale is None else scale)

    def aligned_2d(self, sl: slice) -> tuple[np.ndarray, np.ndarray]:
        """The 2D keypoints (n,17,2) (finite) and scores (n,17) at the frames sl (score 0 where the track has
        none)."""
        r = self.rows[sl]
        has = r >= 0
        xy, sc = np.zeros((len(r), 17, 2)), np.zeros((len(r), 17))
        xy[has], sc[has] = self.kp.xy[r[has]], self.kp.scores[r[has]]
        return np.nan_to_num(xy), sc

    def frames(self, sl: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """trajectory.Frames: the scaled pose, 2D keypoints and scores of the frames sl."""
        return self.rel(sl), *self.aligned_2d(sl)

    def placed(self, sl: slice, root_cam: np.ndarray) -> np.ndarray:
        """(n,17,3) the frames sl at their root position root_cam (T,3): camera frame, metres."""
        return self.rel(sl) + root_cam[sl][:, None, :]


def _person(pose: Pose3D, kp: Keypoints2D) -> _Person:
    if pose.skeleton.name != "h36m17" or kp.skeleton.name != "h36m17":
        raise ConfigError("placing people in the world needs h36m17 poses and keypoints")
    person = _Person(pose, kp, _track_rows(pose, kp), 1.0)
    lengths = np.concatenate([bone_lengths(person.rel(sl, scale=1.0)) for sl in blocks(pose.num_frames)])
    return _Person(pose, kp, person.rows, scale_from_lengths(lengths))


def _trajectory(person: _Person, camera: Intrinsics, image_size: tuple[int, int], fps: float) -> RootTrajectory:
    return root_trajectory_blocks(person.frames, person.pose.num_frames, camera, image_size, fps)


def place_person(pose: Pose3D, kp: Keypoints2D, camera: Intrinsics, image_size: tuple[int, int],
                 fps: float) -> tuple[np.ndarray, RootTrajectory, float]:
    """One person resized to adult size and placed at their root trajectory: (joints (T,17,3) camera frame, metres;
    the trajectory; the scale applied). pose: h36m17, camera frame, root-relative; kp: its 2D track."""
    person = _person(pose, kp)
    traj = _trajectory(person, camera, image_size, fps)
    return np.concatenate([person.placed(sl, traj.root_cam) for sl in blocks(pose.num_frames)]), traj, person.scale


def _floor(people: Sequence[_Person], tracks: Sequence[RootTrajectory], image_size: tuple[int, int],
           fps: float) -> Floor:
    """floor.estimate_floor of the placed people, from their ankles, the ankles seen and the up samples."""
    ankles, seen, standing, trunk = [], [], [], []
    for person, traj in zip(people, tracks):
        T = person.pose.num_frames
        a, ok = np.zeros((T, 2, 3)), np.zeros((T, 2), bool)
        for sl in blocks(T):
            placed = person.placed(sl, traj.root_cam)
            a[sl] = placed[:, list(FEET)]
            ok[sl] = joints_seen(*person.aligned_2d(sl), image_size)[:, list(FEET)]
            if len(placed):
                st, tr = up_samples(placed)
                standing.append(st)
                trunk.append(tr)
        ankles.append(a)
        seen.append(ok)
    return floor_from_ankles(ankles, seen, up_from_samples(standing, trunk), fps)


def _in_world(person: _Person, traj: RootTrajectory, floor: Floor, fps: float, foot_lock: bool) -> WorldPose:
    """The person in the world frame of ``floor``, their contacts, and their legs locked (``foot_lock``)."""
    T = person.pose.num_frames
    world = np.zeros((T, 17, 3), np.float32)  # what WorldPose keeps
    legs = np.zeros((T, len(_LEG_COLUMNS), 3))  # float64, the joints foot locking moves or reads
    for sl in blocks(T):
        w = floor.to_world(person.placed(sl, traj.root_cam))
        world[sl] = w
        legs[sl] = w[:, _LEG_COLUMNS]
    contacts = ankle_contacts(legs[:, _ANKLES_OF_LEGS], fps)
    if foot_lock:
        lock_legs(legs, contacts, fps, _LEGS_ALONE)
        world[:, _LEG_COLUMNS] = legs
    return WorldPose(world, traj.root_cam, traj.flags, contacts, person.scale)


def place_people(poses: Sequence[Pose3D], keypoints: Sequence[Keypoints2D], camera: Intrinsics,
                 image_size: tuple[int, int], fps: float, foot_lock: bool = True) -> tuple[Scene, list[WorldPose]]:
    """The scene (camera, floor) and each person's WorldPose: poses are h36m17, camera frame, root-relative;
    keypoints their h36m17 2D tracks in pixels of an image_size (W, H) video at fps frames per second; foot_lock:
    pin planted feet and lift ankles out of the floor (footlock.lock_legs)."""
    if len(poses) != len(keypoints):
        raise ConfigError(f"{len(poses)} 3D poses for {len(keypoints)} 2D tracks")
    people = [_person(pose, kp) for pose, kp in zip(poses, keypoints)]
    tracks = [_trajectory(p, camera, image_size, fps) for p in people]
    floor = _floor(people, tracks, image_size, fps)
    return Scene(camera, floor), [_in_world(p, t, floor, fps, foot_lock) for p, t in zip(people, tracks)]
