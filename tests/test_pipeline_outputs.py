"""pipeline/outputs.py: every command's files are written all or nothing, staged beside their destinations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mbcli.errors import ConfigError, ExportError
from mbcli.pipeline.outputs import Output, check_destinations, staged_path, write_outputs


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


def test_check_destinations_refuses_inputs_folders_and_unwritable_places(tmp_path):
    src = tmp_path / "clip.motion.json"
    src.write_text("{}")
    with pytest.raises(ConfigError, match="would overwrite the input"):
        check_destinations([tmp_path / "x" / ".." / "clip.motion.json"], [src])
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        check_destinations([tmp_path / "d.npz"])
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_destinations([blocker / "new" / "a.json"])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root ignores the mode bits
            with pytest.raises(ConfigError, match="not writable"):
                check_destinations([locked / "sub" / "a.json"])
    finally:
        locked.chmod(0o700)
    check_destinations([tmp_path / "new" / "deeper" / "a.json"], [src, None])  # a folder to be made is fine


def test_manifest_owns_the_output_set(tmp_path):
    def out(name: str, text: str) -> Output:
        return Output(tmp_path / name, lambda p: p.write_text(text))

    manifest = tmp_path / "clip.manifest.json"
    first = write_outputs([out("clip.motion.json", "1"), out("clip.person0.bvh", "a"), out("clip.person1.bvh", "b")],
                          manifest=manifest, about={"command": "test"})
    assert first[-1] == manifest and json.loads(manifest.read_text())["files"][-1] == "clip.manifest.json"
    (tmp_path / "notes.txt").write_text("the user's")  # never listed, never touched
    manifest_doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**manifest_doc, "files": [*manifest_doc["files"], "../escape.txt"]}))
    (tmp_path.parent / "escape.txt").write_text("outside")
    write_outputs([out("clip.motion.json", "2"), out("clip.person0.bvh", "c")], manifest=manifest)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["clip.manifest.json", "clip.motion.json", "clip.person0.bvh", "notes.txt"]  # person1 is stale
    assert (tmp_path.parent / "escape.txt").exists()  # only plain names in the manifest's folder are removed
    assert json.loads(manifest.read_text())["files"] == ["clip.motion.json", "clip.person0.bvh", "clip.manifest.json"]
    with pytest.raises(ExportError):  # a failed run removes nothing and keeps the earlier manifest
        write_outputs([out("clip.motion.json", "3"), Output(tmp_path / "bad", _fail)], manifest=manifest)
    assert (tmp_path / "clip.person0.bvh").exists() and (tmp_path / "clip.motion.json").read_text() == "2"
