"""Fixtures shared by several test files: tiny random lifter weights and the synthetic Human3.6M folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from h36m_fixture import build_h36m

from mbcli.model import DSTformer, preset, save_checkpoint


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained tiny DSTformer (27-frame window) in our checkpoint format: exercises the code, not accuracy."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_checkpoint(path, DSTformer(preset("tiny", maxlen=27)).eval())
    return path


@pytest.fixture
def one_thread():
    """One torch thread: tiny models gain nothing from threads, and on a busy 2-core machine OpenMP threads that
    wait for each other made such tests several times slower (measured)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def h36m(tmp_path_factory) -> Path:
    """tests/h36m_fixture.py's synthetic folder laid out like ../shared/data/h36m."""
    return build_h36m(tmp_path_factory.mktemp("h36m"))
