"""The mbcli.motion reader's block-wise parse (export/json_motion._FrameArrays): on any text, valid, odd or broken,
``read_motion_json`` gives exactly what parsing the whole text with json.loads and validating it gives (the same
arrays bit for bit, or the same one-line error), with blocks of a few rows so that block edges are crossed; and a
long file is read at about the cost of its text and arrays (slow, in a fresh process)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from fuzz_inputs import damaged, examples, file_bytes, motion, motion_doc, serialise
from hypothesis import given, settings
from hypothesis import strategies as st

import mbcli.export.json_motion as jm
from mbcli.errors import MbcliError


def _canon(x: Any) -> Any:
    """``x`` made comparable with ==: arrays by dtype, shape and bytes (nan included), dataclasses by fields."""
    if isinstance(x, np.ndarray):
        return ("array", x.dtype.str, x.shape, x.tobytes())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple(_canon(getattr(x, f.name)) for f in dataclasses.fields(x)))
    if isinstance(x, dict):
        return {k: _canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canon(v) for v in x]
    return x


def _outcome(read: Any, path: Path) -> Any:
    try:
        return _canon(read(path))
    except MbcliError as e:
        return (type(e).__name__, str(e))


def _whole_parse(path: Path) -> Any:
    """The reader as it was: the whole text through json.loads, then the same validation."""
    text = path.read_text(encoding="utf-8-sig")
    return jm.parse_motion_dict(jm._load_json(text, path), source=str(path))


def _same_as_whole_parse(path: Path) -> None:
    with mock.patch.object(jm, "ROWS_PER_BLOCK", 2):
        got = _outcome(jm.read_motion_json, path)
    try:
        want = _outcome(_whole_parse, path)
    except UnicodeDecodeError:  # read_motion_json says so in its own words
        assert got[0] == "KeypointFileError" and "cannot read" in got[1]
        return
    assert got == want
    text = path.read_text(encoding="utf-8-sig")
    try:
        json.loads(text, parse_constant=jm._reject_constant)
    except (ValueError, RecursionError):
        return
    with mock.patch.object(jm, "ROWS_PER_BLOCK", 2):
        jm._FrameArrays(text).document()  # valid JSON is walked, never handed back to json.loads


@settings(max_examples=examples(200), deadline=None)
@given(st.data())
def test_block_parse_gives_what_the_whole_parse_gives(data):
    doc = data.draw(damaged(data.draw(motion(), label="doc")), label="damaged")
    raw = data.draw(file_bytes(serialise(doc)), label="bytes")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.json"
        path.write_bytes(raw)
        _same_as_whole_parse(path)


def _people_text(rows: str, key: str = "keypoints_2d", extra: str = "") -> str:
    return ('{"format": "mbcli.motion", "version": 2, "image_size": [640, 480], "skeleton": "h36m17", '
            f'"people": [{{"{key}": {rows}{extra}}}]}}')


_ROW = json.dumps([[300.0 + j, 200.0, 0.9] for j in range(17)])


@pytest.mark.parametrize("text", [
    _people_text(f"[{_ROW}, {_ROW}, {_ROW}, [1, 2]]"),  # ragged in the last block only
    _people_text(f"[{_ROW}, {_ROW}, {_ROW[:-1]}, [1, 2, 3]]]"),  # one row longer, in the second block
    _people_text(f"[{_ROW}, {_ROW}, 5]"),  # a number among rows
    _people_text(f'[{_ROW}, {_ROW}, {_ROW.replace("0.9", chr(34) + "0.5" + chr(34))}]'),  # a numeric string
    _people_text(f"[{_ROW}, {_ROW}, {_ROW.replace('0.9', 'null')}]"),  # null scores
    _people_text(f"[{_ROW}, {_ROW}, {_ROW.replace('0.9', '1e400')}]"),  # beyond float: inf
    _people_text(f"[{_ROW}, {_ROW}, {_ROW.replace('0.9', '1' + '0' * 400)}]"),  # an int too large for a float
    _people_text(f"[{_ROW}, {_ROW}, {_ROW.replace('0.9', 'NaN')}]"),  # not JSON (NaN refused)
    _people_text(f"[{_ROW}, {_ROW},]"),  # a trailing comma
    _people_text(f"[{_ROW}  {_ROW}]"),  # a missing comma
    _people_text(f"[{_ROW}, {_ROW}]") + " {}",  # extra data
    _people_text(f"[{_ROW}, {_ROW}]", extra=f', "keypoints_2d": [{_ROW}]'),  # a repeated key: the last wins
    _people_text("[]"),
    _people_text('"rows"'),
    _people_text("[" * 5000 + "]" * 5000),  # deep
    _people_text(f"[{_ROW}, {_ROW}, {_ROW}]", extra=', "frame_indices": [0, 1, 1e300]'),
    _people_text(f"[{_ROW}, {_ROW}, {_ROW}]", extra=', "frame_indices": [0, [1], 2]'),
    _people_text(f"[{_ROW}, {_ROW}, {_ROW}]", key="keypoints_3d"),
    "\t\n " + _people_text(f"[ {_ROW} ,\n{_ROW} ]") + "\r\n",
])
def test_odd_rows_read_as_the_whole_parse_reads_them(tmp_path, text):
    path = tmp_path / "m.json"
    path.write_text(text)
    _same_as_whole_parse(path)


def test_per_frame_arrays_never_become_python_lists():
    doc = motion_doc(3, 2, 6, world=True)
    parsed = jm._FrameArrays(json.dumps(doc)).document()
    for person in parsed["people"]:
        for where in (person, person["world"]):
            for key in jm.FRAME_ARRAY_KEYS & where.keys():
                assert isinstance(where[key], jm._Parsed), key
    assert parsed["world"] == doc["world"] and parsed["skeleton"] == doc["skeleton"]
    for got, want in zip(parsed["people"], doc["people"]):
        for key in ("keypoints_2d", "keypoints_3d", "frame_indices"):
            assert np.array_equal(got[key].array, np.asarray(want[key], dtype=np.float64))
        assert np.array_equal(got["world"]["root_flags"].array, np.asarray(want["world"]["root_flags"], np.float64))
