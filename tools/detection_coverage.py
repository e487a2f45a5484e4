"""Detector coverage and speed on video clips: frames with at least one person, per-track coverage, frames/s.

    python tools/detection_coverage.py samples/*.mp4 ../shared/videos/*.mp4

A person counts as found in a frame when at least 8 of its keypoints score >= 0.5. Tracks come from mbcli.track.
"""

from __future__ import annotations

import sys
import time

from mbcli.detect import load_detector
from mbcli.track import Tracker
from mbcli.video import iter_frames, probe


def main(paths: list[str]) -> None:
    for path in paths:
        info = probe(path)
        det = load_detector("default")
        tracker = Tracker(info.fps)
        found = 0
        t = time.perf_counter()
        cpu = time.process_time()
        for idx, rgb in iter_frames(path):
            fp = det(rgb, idx)
            good = (fp.keypoint_scores >= 0.5).sum(axis=1) >= 8
            found += bool(good.any())
            tracker.update(fp)
        wall = time.perf_counter() - t
        cpu = time.process_time() - cpu
        tracks = sorted(tracker.finish(), key=lambda tr: -int((tr.rows >= 0).sum()))
        cover = [f"#{tr.track_id}: {100 * (tr.rows >= 0).sum() / info.num_frames:.0f}%" for tr in tracks[:4]]
        print(f"{path}: {info.width}x{info.height}, {info.num_frames} frames; person found in "
              f"{100 * found / info.num_frames:.0f}% of frames; tracks (share of frames) {', '.join(cover)}; "
              f"decode+detect+track {info.num_frames / wall:.1f} fps ({1000 * cpu / info.num_frames:.0f} ms CPU/frame)")


if __name__ == "__main__":
    main(sys.argv[1:])
