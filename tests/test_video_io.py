"""mbcli.video on real files: the shipped sample, a clip rotated by ffmpeg itself, file permissions of the writer.
(tests/test_video.py covers the writer and reader in depth on synthetic clips.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mbcli.video import VideoWriter, iter_frames, probe

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sports2d_640.mp4"
ROTATED = ROOT / "tests" / "assets" / "rotated90.mp4"


def test_probe_sample():
    info = probe(SAMPLE)
    assert (info.width, info.height, info.num_frames) == (640, 360, 230)
    assert info.fps == pytest.approx(30.0)


def test_iter_frames_streams_rgb_and_downscales():
    n = 0
    for i, rgb in iter_frames(SAMPLE, stop=12):
        assert i == n and rgb.shape == (360, 640, 3) and rgb.dtype == np.uint8
        n += 1
    assert n == 12
    idx = [i for i, f in iter_frames(SAMPLE, start=3, stop=20, step=5, max_width=321)]
    assert idx == [3, 8, 13, 18]
    _, small = next(iter(iter_frames(SAMPLE, max_width=321)))
    assert small.shape[1] % 2 == 0 and small.shape[0] % 2 == 0 and small.shape[1] <= 322


def test_writer_respects_umask_and_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "x.mp4"
    with VideoWriter(path, fps=30) as wr:
        wr.write(np.zeros((16, 16, 3), np.uint8))
    assert path.stat().st_mode & 0o044 == 0o044  # readable by group/others with the default umask 022
    bad = tmp_path / "bad.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(bad, fps=30) as wr:
            wr.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError("boom")
    assert not bad.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


@pytest.mark.skipif(not ROTATED.is_file(), reason="rotated test clip not present")
def test_rotation_metadata_is_applied():
    """tests/assets/rotated90.mp4: 64x32 stored frames (left quarter white) tagged rotate=90 (made with ffmpeg 5.1:
    ``-c copy -metadata:s:v:0 rotate=90``); ffmpeg's own autorotation shows the white quarter along the bottom."""
    info = probe(ROTATED)
    assert (info.width, info.height) == (32, 64)
    assert info.rotation in (90, 270)
    _, rgb = next(iter(iter_frames(ROTATED)))
    assert rgb.shape == (64, 32, 3)
    rows = rgb[..., 0].mean(axis=1)
    assert rows[-12:].mean() > 200 and rows[:12].mean() < 60  # as ffmpeg displays it
