"""Streaming video decode and H.264 encode with PyAV (the FFmpeg libraries bundled in the ``av`` wheel).

What this module owns:
- ``probe(path)``: a VideoInfo (displayed size after rotation metadata, fps, frame count, rotation).
- ``iter_frames(path, ...)``: yields ``(frame_index, rgb)`` one frame at a time, RGB uint8 (H,W,3), upright (the
  container's display matrix is applied), optionally downscaled; memory does not grow with the video's length.
- ``VideoWriter``: an H.264 (libx264) yuv420p writer that writes to a temp file beside the destination and
  ``os.replace``s it into place only when closed without error; an aborted write leaves nothing behind.

Conventions:
- Frame indices count decoded frames from 0 in presentation order; ``iter_frames`` decodes sequentially (frames
  before ``start`` and between ``step``s are decoded, but never converted to RGB).
- Rotation: PyAV's ``VideoFrame.rotation`` is the angle (degrees) by which the display matrix rotates the frame
  counter-clockwise; we rotate the pixels by that angle (``np.rot90``), which is what ffmpeg's autorotate and
  OpenCV's ``CAP_PROP_ORIENTATION_AUTO`` show. ``VideoInfo.rotation`` stores the same turn as clockwise degrees in
  [0, 360) (OpenCV's ``CAP_PROP_ORIENTATION_META``). Mirroring in a display matrix and non-square pixels (sample
  aspect ratio) are ignored.
- Encoding: RGB is converted to yuv420p with the BT.709 matrix, limited range, and the stream is tagged BT.709 so
  players decode the colours as written. yuv420p needs even sizes: an odd width/height is **padded** by one
  pixel, repeating the last column/row (nothing is cropped, pixel coordinates are unchanged).
- Only the video stream is written; audio is not copied.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from mbcli.errors import ConfigError, ExportError, VideoReadError
from mbcli.fsutil import temp_sibling
from mbcli.types import VideoInfo

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.packet import Packet
    from av.video.stream import VideoStream

__all__ = ["probe", "iter_frames", "VideoWriter", "fps_to_fraction"]

_CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


# ----------------------------------------------------------------------------------------------- reading


def _open_input(path: str | os.PathLike) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` and return (container, its first video stream); every failure is a one-line VideoReadError."""
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"{p}: no such file")
    if not p.is_file():
        raise VideoReadError(f"{p}: not a file")
    try:
        container = av.open(str(p), mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoReadError(f"{p}: not a readable video ({_short(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{p}: has no video stream")
    return container, container.streams.video[0]


def _short(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(msg).split())


def _rotation_ccw(frame: av.VideoFrame) -> int:
    """The frame's display rotation, counter-clockwise degrees, snapped to a multiple of 90 in [0, 360)."""
    return (int(round(frame.rotation / 90.0)) * 90) % 360


def _stream_fps(stream: av.video.stream.VideoStream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's metadata: displayed width/height (rotation applied), fps, frame count, rotation.

    The frame count is the container's ``nb_frames`` when it has one, otherwise the number of video packets found
    by demuxing the file (no decoding). The first frame is decoded to read the display rotation. Raises
    VideoReadError when the file is missing, not a video, has no video stream or no frames.
    """
    container, stream = _open_input(path)
    p = Path(path)
    try:
        fps = _stream_fps(stream)
        if fps is None:
            raise VideoReadError(f"{p}: video stream has no frame rate")
        first = _first_frame(container, stream, p)
        rotation_ccw = _rotation_ccw(first)
        w, h = first.width, first.height
        num_frames = int(stream.frames or 0)
        if num_frames <= 0:
            container.seek(0)
            num_frames = _count_packets(container, stream, p)
        if num_frames <= 0:
            raise VideoReadError(f"{p}: has no video frames")
    finally:
        container.close()
    if rotation_ccw % 180 == 90:
        w, h = h, w
    return VideoInfo(
        path=str(p), width=w, height=h, fps=float(fps), num_frames=num_frames, rotation=(-rotation_ccw) % 360
    )


def _first_frame(container, stream, p: Path) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as e:
        raise VideoReadError(f"{p}: cannot decode video ({_short(e)})") from None
    raise VideoReadError(f"{p}: has no video frames")


def _count_packets(container, stream, p: Path) -> int:
    n = 0
    try:
        for packet in container.demux(stream):
            if packet.size > 0:
                n += 1
    except av.FFmpegError as e:
        raise VideoReadError(f"{p}: cannot read video packets ({_short(e)})") from None
    return n


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


class _ToRGB:
    """Frame -> upright RGB array, reusing its swscale contexts across frames (PyAV's ``frame.reformat`` builds a
    new one per call, which costs more than the conversion itself: 1.5-2.4x slower in our measurements)."""

    def __init__(self, max_width: int | None) -> None:
        self.max_width = max_width
        self._scale = VideoReformatter()
        self._rgb = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        rot = _rotation_ccw(frame)
        coded_w, coded_h = frame.width, frame.height
        disp_w, disp_h = (coded_h, coded_w) if rot % 180 == 90 else (coded_w, coded_h)
        mw = self.max_width
        if mw is not None and disp_w > mw:
            out_w = mw - mw % 2
            out_h = _even(disp_h * out_w / disp_w)
            tw, th = (out_h, out_w) if rot % 180 == 90 else (out_w, out_h)
            # scale in the decoder's pixel format first, then convert: less CPU than one scaling RGB conversion
            frame = self._scale.reformat(frame, tw, th, interpolation="BILINEAR")
        rgb: np.ndarray = self._rgb.reformat(frame, format="rgb24").to_ndarray()  # (H,W,3) uint8
        if rot:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=rot // 90))
        return rgb


def iter_frames(
    path: str | os.PathLike,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    max_width: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, rgb)`` for frames ``start, start+step, ... < stop``; rgb is uint8 (H,W,3), upright.

    With ``max_width``, frames wider than it are downscaled (swscale bilinear, which widens its filter when
    shrinking, so it does not alias) to that width, keeping the aspect ratio,
    both sizes rounded to even numbers. Decoding is threaded (FFmpeg frame/slice threads) and streamed: one frame
    is alive at a time. Raises VideoReadError (naming the file) when it cannot be opened or holds no frames.
    """
    if start < 0 or step < 1 or (stop is not None and stop < start):
        raise ConfigError(f"bad frame range start={start} stop={stop} step={step}")
    if max_width is not None and max_width < 2:
        raise ConfigError(f"max_width must be at least 2, got {max_width}")
    container, _ = _open_input(path)  # fail now, at the call, for a missing or unreadable file
    container.close()
    return _iter_frames(Path(path), start, stop, step, max_width)


def _iter_frames(p: Path, start: int, stop: int | None, step: int, max_width: int | None):
    container, stream = _open_input(p)
    try:
        stream.thread_type = "AUTO"
        to_rgb = _ToRGB(max_width)
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if stop is not None and index >= stop:
                    return
                if index < start or (index - start) % step:
                    continue
                yield index, to_rgb(frame)
        except av.FFmpegError as e:
            raise VideoReadError(f"{p}: decoding failed after frame {index} ({_short(e)})") from None
        if index < 0:
            raise VideoReadError(f"{p}: has no video frames")
    finally:
        container.close()


# ----------------------------------------------------------------------------------------------- writing


def fps_to_fraction(fps: float | Fraction) -> Fraction:
    """An exact frame rate: Fractions pass through; floats near N*1000/1001 (29.97, 23.976, 59.94) become that
    NTSC fraction; other floats become the nearest fraction with denominator <= 1001 (25.0 -> 25)."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        f = float(fps)
        if not (math.isfinite(f) and f > 0):
            raise ConfigError(f"bad fps {fps!r}")
        ntsc = round(f * 1.001)
        if abs(f - round(f)) > 1e-6 and ntsc > 0 and abs(f - ntsc * 1000 / 1001) < 5e-4:
            rate = Fraction(ntsc * 1000, 1001)
        else:
            rate = Fraction(f).limit_denominator(1001)
    if rate <= 0:
        raise ConfigError(f"bad fps {fps!r}")
    return rate


class VideoWriter:
    """Write RGB uint8 frames to an H.264 (libx264) yuv420p video, atomically.

    Usage::

        with VideoWriter("out.mp4", fps=29.97) as w:
            for rgb in frames:
                w.write(rgb)

    The file appears at ``path`` only when the ``with`` block exits without an exception (or ``close()`` is
    called); until then frames go to a hidden temp file in the same folder (created with its parents if missing),
    removed on error or ``abort()``.
    The frame size is fixed by the first frame; odd sizes are padded to even (see the module docstring).
    ``crf`` (0-51, lower = better) and ``preset`` are libx264's. The container follows the suffix
    (.mp4/.m4v/.mov/.mkv; others are written as mp4).
    """

    def __init__(self, path: str | os.PathLike, fps: float | Fraction, crf: int = 23, preset: str = "veryfast"):
        self.path = Path(path)
        self.rate = fps_to_fraction(fps)
        self.crf = int(crf)
        self.preset = preset
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) of the input frames
        self._tmp: Path | None = None
        self._container: OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._yuv = VideoReformatter()  # reused: one swscale context for the whole video

    # -- lifecycle
    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        if self._container is not None:
            return
        fmt = _CONTAINER_FORMATS.get(self.path.suffix.lower(), "mp4")
        try:
            self._tmp = temp_sibling(self.path)  # mode 0o666 & ~umask, like a plain open()
        except OSError as e:
            raise ExportError(f"cannot write {self.path}: {_short(e)}") from None
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._tmp), mode="w", format=fmt, options=options)
        except (av.FFmpegError, OSError) as e:
            self._remove_tmp()
            raise ExportError(f"{self.path}: cannot write video ({_short(e)})") from None

    def _add_stream(self, width: int, height: int) -> None:
        assert self._container is not None  # write() opened it
        stream = self._container.add_stream(
            "libx264", rate=self.rate, options={"crf": str(self.crf), "preset": self.preset}
        )
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        cc = stream.codec_context
        cc.time_base = 1 / self.rate
        cc.color_range = 1  # MPEG (limited)
        cc.colorspace = 1  # AVCOL_SPC_BT709
        cc.color_primaries = 1  # AVCOL_PRI_BT709
        cc.color_trc = 1  # AVCOL_TRC_BT709
        self._stream = stream

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 (H,W,3) frame."""
        if self._container is None:
            self.open()
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 (H,W,3) frame, got {rgb.dtype} {rgb.shape}")
        H, W = rgb.shape[:2]
        if self.size is None:
            self.size = (W, H)
            self._add_stream(W, H)
        elif self.size != (W, H):
            raise ValueError(f"frame size {W}x{H} differs from the first frame's {self.size[0]}x{self.size[1]}")
        if W % 2 or H % 2:
            rgb = np.pad(rgb, ((0, H % 2), (0, W % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        # the stub types dst_colorspace as an int, but PyAV takes a Colorspace name as well (its docstring says so)
        frame = self._yuv.reformat(
            frame, format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"  # type: ignore[arg-type]
        )
        assert self._stream is not None  # added with the first frame
        frame.pts = self.frames_written
        frame.time_base = self._stream.codec_context.time_base
        self._mux(self._stream.encode(frame))
        self.frames_written += 1

    def _mux(self, packets: list[Packet]) -> None:
        assert self._container is not None  # only called while open
        try:
            self._container.mux(packets)
        except (av.FFmpegError, OSError) as e:
            raise ExportError(f"{self.path}: writing failed ({_short(e)})") from None

    def close(self) -> None:
        """Flush the encoder, finish the file and move it to ``path``. Writing no frames is an ExportError."""
        if self._container is None:
            return
        try:
            if self.frames_written == 0:
                raise ExportError(f"{self.path}: no frames were written")
            assert self._stream is not None and self._tmp is not None  # a frame was written
            self._mux(self._stream.encode(None))
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
            self._tmp = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop writing and delete the temp file; ``path`` is left untouched."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the file is being thrown away; a muxer complaint does not matter
                pass
            self._container = None
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            self._tmp = None
