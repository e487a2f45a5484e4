"""pipeline/outputs.py: every command's files are written all or nothing, staged beside their destinations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mbcli.errors import ExportError
from mbcli.pipeline.outputs import Output, staged_path, write_outputs


def _text(content: str):
    def write(path: Path) -> None:
        path.write_text(content)
    return write


def _fail(path: Path) -> None:
    path.write_text("half")
    raise ExportError("disk full")


def test_all_files_land_and_no_temporary_is_left(tmp_path):
    outs = [Output(tmp_path / "a" / "x.json", _text("1")), Output(tmp_path / "b" / "c" / "y.bvh", _text("2"))]
    calls: list[tuple[str, int, int]] = []
    files = write_outputs(outs, on_progress=lambda s, d, t: calls.append((s, d, t)))
    assert files == [o.dest for o in outs]
    assert [p.read_text() for p in files] == ["1", "2"]
    assert calls == [("export", 1, 2), ("export", 2, 2)]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["x.json", "y.bvh"]


def test_a_failure_leaves_nothing_and_removes_the_folders_it_made(tmp_path):
    (tmp_path / "keep").mkdir()
    old = tmp_path / "keep" / "x.json"
    old.write_text("earlier run")
    outs = [Output(old, _text("new")), Output(tmp_path / "a" / "b" / "y.npz", _text("2")),
            Output(tmp_path / "a" / "c" / "z.glb", _fail)]
    with pytest.raises(ExportError, match="disk full"):
        write_outputs(outs)
    assert old.read_text() == "earlier run"  # replaced only when everything succeeded
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["keep", os.path.join("keep", "x.json")]


def test_staging_happens_in_the_destination_folder(tmp_path):
    dest = tmp_path / "out" / "clip.overlay.mp4"
    tmp = staged_path(dest)
    assert tmp.parent == dest.parent and tmp.suffix == ".mp4" and tmp.name.startswith(".clip.overlay.")
    seen: list[Path] = []
    write_outputs([Output(dest, lambda p: (seen.append(p), p.write_bytes(b"v")))])
    assert seen == [tmp] and dest.read_bytes() == b"v" and not tmp.exists()


def test_a_file_in_the_way_of_a_folder_is_one_export_error(tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(ExportError, match="cannot create the folder"):
        write_outputs([Output(tmp_path / "out" / "x.json", _text("1"))])
