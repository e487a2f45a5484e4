"""mbcli.safe_pickle: allowed data round-trips under every protocol; any other global is refused with a one-line
UnsafePickleError before it is called; stand-ins keep the state of the classes a caller lets through."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from mbcli.errors import MbcliError
from mbcli.safe_pickle import StandIn, UnsafePickleError, load, make_stand_in, numpy_globals


def _load(data: bytes, **kw):
    return load(io.BytesIO(data), numpy_globals(), "a test file", **kw)


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_and_containers_round_trip(protocol):
    obj = {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "i64": np.array([[1, -2], [3, 4]], dtype=np.int64)[:, ::-1],  # not contiguous
        "u8": np.zeros((2, 3), dtype=np.uint8),
        "strs": np.array(["S001C001P001R001A001", "x"]),
        "scalar": np.float64(2.5), "int": np.int32(7),
        "plain": [1, 2.0, "three", (5, None), {6}, frozenset({7}), 1 + 2j, True],
    }
    back = _load(pickle.dumps(obj, protocol=protocol))
    assert back.keys() == obj.keys()
    for k in ("f32", "i64", "u8", "strs"):
        assert back[k].dtype == obj[k].dtype and np.array_equal(back[k], obj[k]), k
    assert back["scalar"] == 2.5 and type(back["scalar"]) is np.float64 and back["int"] == 7
    assert back["plain"] == obj["plain"]


class _System:
    def __reduce__(self):
        return (os.system, ("echo unsafe > /dev/null",))


class _Open:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_os_system_is_refused_with_a_one_line_error():
    data = pickle.dumps({"keypoint": np.zeros(3), "x": _System()})
    with pytest.raises(UnsafePickleError) as e:
        _load(data)
    msg = str(e.value)
    assert isinstance(e.value, MbcliError) and "\n" not in msg
    assert msg.startswith("it refers to ") and ("posix.system" in msg or "os.system" in msg or "nt.system" in msg)
    assert "a test file never holds; refusing to load it" in msg


def test_nothing_from_the_file_runs(tmp_path):
    target = tmp_path / "created_by_unpickling.txt"
    with pytest.raises(UnsafePickleError, match=r"(builtins|io)\.open"):
        _load(pickle.dumps([_Open(target)]))
    assert not target.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("builtins", "getattr"), ("subprocess", "Popen"),
                                         ("numpy", "load"), ("copyreg", "_reconstructor"), ("pickle", "loads")])
def test_other_globals_are_refused(module, name):
    # a GLOBAL opcode naming module.name, then a call with no arguments
    data = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."
    with pytest.raises(UnsafePickleError, match=rf"{module}\.{name}, which a test file never holds"):
        _load(data)


def test_callers_choose_the_globals():
    data = pickle.dumps({1, 2}, protocol=2)  # protocol 2 has no set opcode: it calls builtins.set
    assert _load(data) == {1, 2}
    with pytest.raises(UnsafePickleError, match=r"__builtin__\.set, which a strict file"):
        load(io.BytesIO(data), {}, "a strict file")


def test_stand_ins_keep_the_state_and_run_nothing():
    class Thing:  # pickled under a module name that need not exist when loading
        def __init__(self):
            self.x = np.ones(2)
            self.note = "kept"

    Thing.__module__, Thing.__qualname__ = "somepkg.things", "Thing"
    pkg, mod = type(sys)("somepkg"), type(sys)("somepkg.things")
    pkg.things, mod.Thing = mod, Thing
    sys.modules.update({"somepkg": pkg, "somepkg.things": mod})
    try:
        data = pickle.dumps({"a": Thing()}, protocol=2)
    finally:
        del sys.modules["somepkg"], sys.modules["somepkg.things"]

    class Kept(StandIn):
        pass

    def stand_in(module, name):
        return make_stand_in(Kept, module, name) if module.startswith("somepkg.") else None

    back = _load(data, stand_in=stand_in)["a"]
    assert isinstance(back, Kept) and back.qualname == "somepkg.things.Thing"
    assert back.state["note"] == "kept" and np.array_equal(back.state["x"], np.ones(2))
    assert make_stand_in(Kept, "somepkg.things", "Thing") is type(back)
    with pytest.raises(UnsafePickleError, match="somepkg.things.Thing"):
        _load(data)


def test_malformed_pickles_raise_pickle_errors():
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        _load(pickle.dumps({"a": 1})[:-3])


def test_import_does_not_need_torch():
    code = "import sys, mbcli.safe_pickle; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
