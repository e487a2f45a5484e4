"""Tests for mbcli.video: probe, streaming decode (range, downscale, rotation metadata), the atomic H.264 writer."""

from __future__ import annotations

import types
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mbcli.errors import ConfigError, ExportError, MbcliError, VideoReadError
from mbcli.video import VideoWriter, fps_to_fraction, iter_frames, probe


def _frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A frame whose mean grey level encodes i, with a white 8x8 block at the top-left corner."""
    f = np.full((h, w, 3), (10 * i) % 200 + 20, np.uint8)
    f[:8, :8] = 255
    return f


def _write(path: Path, n: int, fps=30, w: int = 64, h: int = 48) -> Path:
    with VideoWriter(path, fps) as wr:
        for i in range(n):
            wr.write(_frame(i, w, h))
    return path


def _write_rotated(path: Path, degrees_ccw: int, n: int = 3) -> Path:
    """A 64x32 clip (white block top-left) with a display matrix rotating it ``degrees_ccw`` counter-clockwise."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(degrees_ccw)
        for _ in range(n):
            a = np.zeros((32, 64, 3), np.uint8)
            a[:8, :8] = 255
            c.mux(s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")))
        c.mux(s.encode(None))
    return path


def _stream_facts(path: Path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return types.SimpleNamespace(
            codec=s.codec_context.name, pix_fmt=s.codec_context.pix_fmt, rate=s.average_rate, w=s.width, h=s.height, n=n
        )


# ----------------------------------------------------------------------------------------------- writer


def test_writer_round_trip_ntsc_rate(tmp_path):
    out = _write(tmp_path / "a.mp4", 12, fps=29.97)
    facts = _stream_facts(out)
    assert (facts.codec, facts.pix_fmt) == ("h264", "yuv420p")
    assert facts.rate == Fraction(30000, 1001)
    assert (facts.w, facts.h, facts.n) == (64, 48, 12)
    info = probe(out)
    assert (info.width, info.height, info.num_frames, info.rotation) == (64, 48, 12, 0)
    assert info.fps == pytest.approx(30000 / 1001)
    for i, rgb in iter_frames(out):
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
        assert abs(float(rgb[16:, 16:].mean()) - _frame(i)[16:, 16:].mean()) < 3  # frame i is frame i
        assert rgb[:6, :6].min() > 230


def test_writer_colours_survive(tmp_path):
    cols = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [30, 200, 120]], np.uint8)
    f = np.repeat(np.repeat(cols[None], 32, 0), 16, 1)  # (32, 64, 3): four vertical colour bars
    with VideoWriter(tmp_path / "c.mp4", 25) as wr:
        for _ in range(3):
            wr.write(f)
    _, rgb = next(iter_frames(tmp_path / "c.mp4"))
    got = rgb[16, 8::16].astype(int)
    assert np.abs(got - cols).max() <= 6


def test_writer_pads_odd_sizes(tmp_path):
    out = _write(tmp_path / "odd.mp4", 3, w=47, h=33)
    facts = _stream_facts(out)
    assert (facts.w, facts.h, facts.n) == (48, 34, 3)
    _, rgb = next(iter_frames(out))
    assert rgb[:6, :6].min() > 230  # content stays at the same pixel coordinates (padding is bottom/right)


def test_writer_exception_leaves_nothing(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 30) as wr:
            wr.write(_frame(0))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_failure_keeps_previous_file(tmp_path):
    out = _write(tmp_path / "keep.mp4", 4)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="differs"):
        with VideoWriter(out, 30) as wr:
            wr.write(_frame(0))
            wr.write(_frame(1, w=32))
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_writer_no_frames_is_an_error(tmp_path):
    with pytest.raises(ExportError, match="no frames"):
        with VideoWriter(tmp_path / "empty.mp4", 30):
            pass
    assert list(tmp_path.iterdir()) == []


def test_writer_creates_folders_and_rejects_bad_frames(tmp_path):
    out = _write(tmp_path / "sub" / "dir" / "v.mp4", 2)
    assert out.is_file()
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(tmp_path / "f.mp4", 30) as wr:
            wr.write(np.zeros((8, 8, 3), np.float32))
    assert not (tmp_path / "f.mp4").exists()


@pytest.mark.parametrize(
    "fps, want",
    [(29.97, Fraction(30000, 1001)), (23.976, Fraction(24000, 1001)), (59.94, Fraction(60000, 1001)),
     (30000 / 1001, Fraction(30000, 1001)), (30, Fraction(30)), (25.0, Fraction(25)), (12.5, Fraction(25, 2)),
     (Fraction(50, 1), Fraction(50))],
)  # fmt: skip
def test_fps_to_fraction(fps, want):
    assert fps_to_fraction(fps) == want


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf")])
def test_fps_to_fraction_rejects(fps):
    with pytest.raises(ConfigError):
        fps_to_fraction(fps)


# ----------------------------------------------------------------------------------------------- reading


def test_iter_frames_range_and_step(tmp_path):
    out = _write(tmp_path / "r.mp4", 10)
    assert [i for i, _ in iter_frames(out, start=2, stop=9, step=3)] == [2, 5, 8]
    assert [i for i, _ in iter_frames(out, start=7)] == [7, 8, 9]
    assert [i for i, _ in iter_frames(out, stop=0)] == []
    with pytest.raises(ConfigError):
        iter_frames(out, step=0)
    with pytest.raises(ConfigError):
        iter_frames(out, start=5, stop=2)


def test_iter_frames_max_width_keeps_aspect_and_even_sizes(tmp_path):
    out = _write(tmp_path / "big.mp4", 2, w=200, h=100)
    shapes = {rgb.shape for _, rgb in iter_frames(out, max_width=61)}
    assert shapes == {(30, 60, 3)}
    assert {rgb.shape for _, rgb in iter_frames(out, max_width=500)} == {(100, 200, 3)}  # never upscales


@pytest.mark.parametrize("ccw, k, rotation_cw", [(90, 1, 270), (-90, 3, 90), (180, 2, 180)])
def test_rotation_metadata_is_applied(tmp_path, ccw, k, rotation_cw):
    # OpenCV (CAP_PROP_ORIENTATION_AUTO) shows these clips as np.rot90(coded, k); checked by hand when written.
    out = _write_rotated(tmp_path / f"rot{ccw}.mp4", ccw)
    info = probe(out)
    coded = np.zeros((32, 64), np.uint8)
    coded[:8, :8] = 255
    want = np.rot90(coded, k)
    assert (info.height, info.width) == want.shape and info.rotation == rotation_cw
    frames = [rgb for _, rgb in iter_frames(out)]
    assert len(frames) == 3
    assert frames[0].shape[:2] == want.shape and frames[0].flags["C_CONTIGUOUS"]
    assert np.abs(frames[0][..., 0].astype(int) - want).mean() < 10
    small = next(iter(iter_frames(out, max_width=16)))[1]
    assert small.shape[1] == 16 and small.shape[0] == (32 if ccw % 180 else 8)


def test_probe_counts_packets_when_the_container_has_no_frame_count(tmp_path):
    out = _write(tmp_path / "v.mkv", 7)  # Matroska stores no nb_frames
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 0
    assert probe(out).num_frames == 7
    assert sum(1 for _ in iter_frames(out)) == 7


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(4):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            c.mux(s.encode(fr))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("kind", ["missing", "text", "audio", "directory", "empty"])
def test_bad_inputs_raise_one_line_video_read_error(tmp_path, kind):
    if kind == "missing":
        p = tmp_path / "nope.mp4"
    elif kind == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("this is not a video\n" * 20)
    elif kind == "audio":
        p = _audio_only(tmp_path / "sound.mp4")
    elif kind == "empty":
        p = tmp_path / "zero.mp4"
        p.write_bytes(b"")
    else:
        p = tmp_path / "folder.mp4"
        p.mkdir()
    for call in (lambda: probe(p), lambda: list(iter_frames(p))):
        with pytest.raises(VideoReadError) as e:
            call()
        msg = str(e.value)
        assert p.name in msg and "\n" not in msg
        assert isinstance(e.value, MbcliError)


def test_iter_frames_is_lazy(tmp_path):
    out = _write(tmp_path / "lazy.mp4", 5)
    it = iter_frames(out)
    assert next(it)[0] == 0
    it.close()  # stops decoding and closes the container without reading the rest
