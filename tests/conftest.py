"""Fixtures shared by several test files: tiny random lifter weights and the synthetic Human3.6M folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from h36m_fixture import build_h36m
from hypothesis import HealthCheck, settings

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


# The fuzz tier (tests/test_fuzz_*.py) runs hypothesis with a fixed seed (derandomize) so that CI is reproducible and
# every run tries the same inputs; HYPOTHESIS_PROFILE=hunt draws fresh ones (with MBCLI_FUZZ_SCALE=50 for many).
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("hunt", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
