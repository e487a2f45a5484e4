"""Every input a command reads, decided by content once, and read into tracked h36m17 people.

Input kinds (``input_kind``):
- "video": anything else that is a non-empty file (PyAV opens it or says why): frames are streamed once through the
  2D detector and the tracker; only the per-frame detections and each person's colour descriptor
  (mbcli.appearance) are kept, packed into one float32 array per field (types.PackedFrames; under 1 KB a
  person-frame);
- "motion": a .json whose first 4 KB name ``"mbcli.motion"`` (ours, or a minimal one with h36m17/coco17
  ``keypoints_2d``): people are taken as they are, with their 3D when the file has it;
- "keypoints": any other .json or a folder: a COCO/AlphaPose/OpenPose/MMPose keypoint file or an OpenPose folder,
  read, then tracked (or the file's own track ids are used).
People are chosen by ``track.choose_people`` (``person``: "all", "largest" or a track id) and remapped by joint name
to h36m17; in tracked input (videos, keypoint files) 2D joints that jump off the body for a moment, flicker between
two places, or lie on another tracked person while stretching a bone are given score 0 (keypoints2d.reject_outliers,
then reject_on_others over everyone tracked), and so are all joints of a short run of frames whose whole body shape
is drawn wrong (reject_glitches, last), so the lifter fills them instead of drawing the body on the wrong thing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mbcli.errors import ConfigError, InputError, NoPersonFound, VideoReadError
from mbcli.heap import release_free_memory
from mbcli.keypoints2d import reject_glitches, reject_on_others, reject_outliers
from mbcli.skeletons import H36M17, remap
from mbcli.types import FPS_RANGE, FramePoses, Keypoints2D, PackedFrames, Pose3D, Track, VideoInfo

InputKind = Literal["video", "motion", "keypoints"]
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class People:
    """The chosen people of one input. video: its VideoInfo (None for files); ids (N,) track ids; keypoints (N,)
    h36m17 2D sequences; poses (N,) their 3D when the input carried it (an mbcli.motion file), else None each;
    num_frames: the input's frame count (0 when a file does not say); partial: why the input was read only in part
    (a video that ends before its stated length), else ""."""

    video: VideoInfo | None
    ids: tuple[int, ...]
    keypoints: tuple[Keypoints2D, ...]
    poses: tuple[Pose3D | None, ...]
    num_frames: int
    partial: str = ""
    left_out: str = ""  # the note for tracks too short or small to lift when everyone was asked for, else ""


def input_kind(path: Path) -> InputKind:
    """What ``path`` holds (module docstring); InputError / VideoReadError for a missing, unreadable or empty one."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return "keypoints"
    if path.suffix.lower() == ".json":
        try:
            with open(path, "rb") as f:
                head = f.read(4096).decode("utf-8", "replace")
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None
        return "motion" if '"mbcli.motion"' in head else "keypoints"
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file (0 bytes), not a video")
    return "video"


def check_fps(fps: float | None) -> None:
    """Preflight for --fps (None: not given): a number of frames per second within types.FPS_RANGE."""
    low, high = FPS_RANGE
    if fps is not None and not low <= fps <= high:  # (nan fails)
        raise ConfigError(f"--fps must be a positive number from {low:g} to {high:g} frames per second, got {fps}")


def to_h36m(kp: Keypoints2D) -> Keypoints2D:
    """The sequence remapped by joint name to h36m17 (as it is when it already is)."""
    if kp.skeleton.name == "h36m17":
        return kp
    xy, sc = remap(kp.xy, kp.scores, kp.skeleton, H36M17)
    return Keypoints2D(xy, sc, kp.frame_indices, H36M17, kp.image_size, kp.fps)


def detected_frames(path: Path, info: VideoInfo, detector_name: str, max_width: int | None,
                    on_progress: ProgressFn | None = None) -> Iterator[FramePoses]:
    """Each decoded frame's people as the 2D detector finds them (in the video's pixels, ``info``'s size) with what
    each looks like (mbcli.appearance), one frame at a time."""
    from mbcli.appearance import describe_people
    from mbcli.detect import load_detector
    from mbcli.video import iter_frames

    detector = load_detector(detector_name)
    for idx, rgb in iter_frames(path, max_width=max_width):
        fp = detector(rgb, idx)
        # what each person looks like, for telling people apart across cuts and exits (track.reidentify)
        looks = describe_people(rgb, fp.keypoints_xy, fp.keypoint_scores, fp.skeleton)
        scale = info.width / rgb.shape[1]
        yield FramePoses(idx, fp.boxes_xyxy * scale, fp.box_scores, fp.keypoints_xy * scale, fp.keypoint_scores,
                         fp.skeleton, looks)
        if on_progress:
            on_progress("detect", idx + 1, max(info.num_frames, idx + 1))


def _detect_video(path: Path, detector_name: str, max_width: int | None,
                  on_progress: ProgressFn | None) -> tuple[VideoInfo, PackedFrames, int]:
    """(the video's info with the decoded frame count, each frame's detections packed, the frame count its header
    states)"""
    from mbcli.video import probe

    info = probe(path)
    stated = info.num_frames
    detections = detected_frames(path, info, detector_name, max_width, on_progress)
    first = next(detections, None)
    if first is None:
        raise VideoReadError(f"{path}: has no video frames")
    frames = PackedFrames.pack(itertools.chain([first], detections))
    release_free_memory()  # the per-frame objects the packing let go: the tracking's and cleaning's arrays come next
    if len(frames) != info.num_frames:
        info = VideoInfo(info.path, info.width, info.height, info.fps, len(frames), info.rotation)
    return info, frames, stated


def ended_early(decoded: int, stated: int) -> str:
    """The note for a video that decodes fewer frames than its container states (truncated or damaged), else ""."""
    if stated <= 0 or decoded >= stated - max(2, stated // 100):  # frame counts in headers can be off by a frame
        return ""
    return (f"the video ended early: {decoded} of the {stated} frames its header states could be decoded (a "
            f"truncated or damaged file); the results cover those {decoded} frames")


def _tracked(frames: Sequence[FramePoses], person: str, fps: float, image_size: tuple[int, int],
             given_ids: list[np.ndarray] | None, source: str) -> tuple[list[tuple[int, Keypoints2D]], str]:
    """The chosen people's cleaned h36m17 2D, and the note for tracks left out (left_out_note)."""
    from mbcli.track import select_tracks, track_people, track_to_keypoints

    if not any(f.num_people for f in frames):
        raise NoPersonFound(f"no person detected in {source}")
    tracks = track_people(frames, fps, given_ids=given_ids)
    release_free_memory()  # the tracker's per-frame working objects
    if not tracks:
        raise NoPersonFound(f"no person could be tracked in {source}")
    chosen = select_tracks(tracks, frames, person, fps=fps, image_size=image_size)
    everyone = select_tracks(tracks, frames, "all", fps=fps, image_size=image_size)
    lifted = {t.track_id for t in everyone}
    left_out = left_out_note([t for t in tracks if t.track_id not in lifted]) if person == "all" else ""
    # everyone in view, chosen or not, can hide a chosen person's joints
    people = {t.track_id: t for t in [*everyone, *chosen]}
    kps = {i: to_h36m(track_to_keypoints(t, frames, image_size, fps)) for i, t in people.items()}
    # joints that jump off the body (a head on a towel), flicker, or are drawn on someone else get score 0, then whole
    # frames whose body shape is drawn wrong (judged on the joints left): the lifter fills them
    out = []
    for t in chosen:
        own = reject_outliers(kps[t.track_id])[0]
        own = reject_on_others(own, [k for i, k in kps.items() if i != t.track_id])[0]
        out.append((t.track_id, reject_glitches(own)[0]))
    return out, left_out


def left_out_note(tracks: list[Track]) -> str:
    """The note for tracks not lifted because they were seen too briefly or too small (track.select_tracks), with
    the frames each spans; "" for none."""
    if not tracks:
        return ""
    spans = ", ".join(f"{t.track_id} (frames {t.frame_indices[0]}-{t.frame_indices[-1]})" for t in tracks[:5])
    more = f" and {len(tracks) - 5} more" if len(tracks) > 5 else ""
    return (f"{len(tracks)} short or small track{'s' if len(tracks) > 1 else ''} not lifted (seen in under a "
            f"quarter second or under a tenth of the image height): track{'s' if len(tracks) > 1 else ''} "
            f"{spans}{more}")


def _from_motion_file(path: Path, person: str) -> People:
    from mbcli.export.json_motion import read_motion_json
    from mbcli.track import choose_people, keypoint_stats

    kps, poses, meta = read_motion_json(path)
    if not kps:
        raise NoPersonFound(f"{path}: the file lists no people")
    ids = [int(i) for i in meta.get("track_ids", range(len(kps)))]
    chosen = set(choose_people([keypoint_stats(i, k) for i, k in zip(ids, kps)], person))
    rows = [r for r, i in enumerate(ids) if i in chosen]  # the file's order
    return People(None, tuple(ids[r] for r in rows), tuple(to_h36m(kps[r]) for r in rows),
                  tuple(poses[r] for r in rows), int(meta.get("num_frames", 0)))


def read_people(path: Path, kind: InputKind, *, person: str = "all", detector: str = "default",
                detect_max_width: int | None = None, fps: float | None = None,
                on_progress: ProgressFn | None = None) -> People:
    """Read any supported input and choose its people. fps: the frame rate of a keypoint file that records none
    (default 30); detector / detect_max_width: the 2D detector for a video and the width frames are shrunk to.
    What reading freed (a long file's text, every frame's detections) is handed back before returning (mbcli.heap)."""
    people = _read_people(path, kind, person, detector, detect_max_width, fps, on_progress)
    release_free_memory()
    return people


def _read_people(path: Path, kind: InputKind, person: str, detector: str, detect_max_width: int | None,
                 fps: float | None, on_progress: ProgressFn | None) -> People:
    if kind == "motion":
        return _from_motion_file(path, person)
    if kind == "video":
        info, frames, stated = _detect_video(path, detector, detect_max_width, on_progress)
        people, left_out = _tracked(frames, person, info.fps, (info.width, info.height), None, str(path))
        return People(info, tuple(i for i, _ in people), tuple(k for _, k in people), (None,) * len(people),
                      info.num_frames, ended_early(info.num_frames, stated), left_out)
    from mbcli.detect.files import infer_image_size, read_keypoint_file

    kf = read_keypoint_file(path)
    rate = fps or kf.fps or 30.0
    size = kf.image_size or infer_image_size(kf.frames)
    people, left_out = _tracked(kf.frames, person, rate, size, kf.track_ids, str(path))
    return People(None, tuple(i for i, _ in people), tuple(k for _, k in people), (None,) * len(people),
                  kf.num_frames, left_out=left_out)
