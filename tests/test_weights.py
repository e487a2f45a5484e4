"""Where mbcli.weights looks for the model files: $MBCLI_WEIGHTS_DIR, the checkout's weights/, the wheel's data."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbcli import weights
from mbcli.errors import WeightsError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """weights.py as if installed in tmp_path/site-packages, with no checkout beside it; returns its data folder."""
    package = tmp_path / "site-packages" / "mbcli"
    package.mkdir(parents=True)
    monkeypatch.setattr(weights, "__file__", str(package / "weights.py"))
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    return package / weights.PACKAGE_DATA


def test_the_checkout_comes_first(monkeypatch):
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    assert weights.weights_dir() == REPO / "weights"


def test_an_installed_wheel_uses_its_package_data(installed):
    installed.mkdir()
    (installed / "manifest.toml").write_text('[[model]]\nname = "m"\nfile = "m.onnx"\n')
    (installed / "m.onnx").write_bytes(b"x")
    assert weights.weights_dir() == installed
    assert weights.resolve("m") == (installed / "m.onnx", {"name": "m", "file": "m.onnx"})
    (installed.parents[1] / "weights").mkdir()  # a weights/ folder without a manifest is not a checkout
    assert weights.weights_dir() == installed


def test_without_weights_errors_name_the_checkout_folder(installed):
    assert weights.weights_dir() == installed.parents[1] / "weights"
    with pytest.raises(WeightsError, match="manifest not found"):
        weights.manifest()


def test_the_environment_variable_wins(installed, tmp_path, monkeypatch):
    installed.mkdir()
    (installed / "manifest.toml").write_text("")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "mine"))
    assert weights.weights_dir() == (tmp_path / "mine").resolve()
