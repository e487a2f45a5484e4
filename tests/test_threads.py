"""mbcli/threads.py: one thread count per run, from $MBCLI_THREADS or the CPUs left free by other work."""

from __future__ import annotations

import pytest
import torch
from cli_checks import assert_one_line_error
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.errors import ConfigError
from mbcli.threads import ENV, choose_threads


@pytest.mark.parametrize(("cpus", "busy", "want"), [(2, 0.0, 2), (2, 1.0, 1), (2, 3.7, 1), (16, 4.2, 12), (1, 0.0, 1),
                                                    (8, 0.4, 8)])
def test_free_cpus_decide(cpus, busy, want):
    assert choose_threads({}, cpus=cpus, busy=busy) == want


def test_the_variable_wins_and_is_checked():
    assert choose_threads({ENV: " 3 "}, cpus=2, busy=5.0) == 3
    for bad, msg in (("two", "whole number"), ("0", "at least 1"), ("-2", "at least 1")):
        with pytest.raises(ConfigError, match=msg):
            choose_threads({ENV: bad})


def test_every_command_applies_it(monkeypatch, tmp_path):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(ENV, "1")
        runner = CliRunner()
        r = runner.invoke(app, ["lift", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")])
        assert r.exit_code == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(ENV, "lots")
        assert_one_line_error(runner.invoke(app, ["lift", str(tmp_path / "missing.mp4")]), "MBCLI_THREADS")
    finally:
        torch.set_num_threads(before)
