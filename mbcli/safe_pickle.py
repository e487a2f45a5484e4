"""Restricted unpickling of files mbcli does not trust (pyskl annotation pickles, SMPL model files): a pickle may
name only the globals its reader allows, so loading one runs no code from the file.

A pickle rebuilds objects by calling the globals (module.name) it names. ``load`` resolves each name in the caller's
table ``allowed`` (``numpy_globals()``: numpy arrays, dtypes and scalars under every pickle protocol and under both
numpy 1 and 2 module paths, and the few builtins they need), else asks the caller's ``stand_in(module, name)`` for a
``StandIn`` subclass, which keeps the pickled state instead of running the named class's code (``make_stand_in``
builds one per name). Any other name raises UnsafePickleError before anything is called. Plain containers (dict,
list, tuple, str, bytes, numbers) need no global and always load.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import IO, Any

import numpy as np

from mbcli.errors import MbcliError

Globals = Mapping[tuple[str, str], Any]


class UnsafePickleError(MbcliError):
    """A pickle names a global its reader does not allow; nothing from the file was run."""


class StandIn:
    """Stands for a class a pickle names: keeps the constructor arguments and the pickled state, runs nothing.
    ``qualname`` is the name the file gave ("module.Class")."""

    qualname = "?"

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


@lru_cache(maxsize=256)
def make_stand_in(base: type[StandIn], module: str, name: str) -> type[StandIn]:
    """The ``base`` subclass standing for ``module.name`` (cached: the same class for the same name)."""
    return type(name, (base,), {"qualname": f"{module}.{name}"})


@lru_cache(maxsize=1)
def numpy_globals() -> dict[tuple[str, str], Any]:
    """The globals pickled numpy arrays, dtypes and scalars name, and set/frozenset/complex."""
    import codecs

    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's private _reconstruct, wherever this numpy keeps it
    scalar = np.float64(0).__reduce__()[0]
    frombuffer = np.zeros(2).__reduce_ex__(5)[0]  # protocol-5 pickles rebuild arrays with numpy's _frombuffer
    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                         ("_codecs", "encode"): codecs.encode}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "_reconstruct")] = reconstruct
        table[(mod, "scalar")] = scalar
        table[(mod.replace("multiarray", "numeric"), "_frombuffer")] = frombuffer
    for mod in ("builtins", "__builtin__"):
        for name, obj in (("set", set), ("frozenset", frozenset), ("complex", complex)):
            table[(mod, name)] = obj
    return table


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], allowed: Globals, what: str,
                 stand_in: Callable[[str, str], type[StandIn] | None] | None, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed, self._what, self._stand_in = allowed, what, stand_in

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None and self._stand_in is not None:
            found = self._stand_in(module, name)
        if found is None:
            raise UnsafePickleError(f"it refers to {module}.{name}, which {self._what} never holds; refusing to "
                                    "load it")
        return found


def load(file: IO[bytes], allowed: Globals, what: str,
         stand_in: Callable[[str, str], type[StandIn] | None] | None = None, encoding: str = "latin1") -> Any:
    """The object pickled in ``file``, resolving globals only through ``allowed`` and ``stand_in`` (module
    docstring). ``what`` names the kind of file for the refusal ("an SMPL model file"). ``encoding`` decodes
    Python 2 strings (latin1 also keeps Python 2 numpy arrays' bytes intact). Raises UnsafePickleError (one line)
    for a name that is not allowed; a malformed pickle raises what ``pickle`` raises."""
    return _Unpickler(file, allowed, what, stand_in, encoding).load()
