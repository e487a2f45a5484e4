"""The console script: Ctrl-C at any moment (while torch loads, or during a command) is one line and exit 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mbcli.cli import entry

ROOT = Path(__file__).resolve().parents[1]


def test_interrupt_while_the_app_loads(monkeypatch, capsys):
    import mbcli.cli.main as main

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "app", interrupted)
    with pytest.raises(SystemExit) as e:
        entry.run()
    assert e.value.code == 130 and capsys.readouterr().err == "error: interrupted\n"


@pytest.mark.parametrize("delay", [0.2, 4.0])  # during the imports; during detection
def test_ctrl_c_in_a_real_process_gives_no_traceback(tmp_path, delay):
    cmd = [sys.executable, "-c", "from mbcli.cli.entry import run; run()", "lift",
           str(ROOT / "samples" / "sports2d_640.mp4"), "--out", str(tmp_path / "out"), "--no-progress"]
    # a suite started in the background (nohup, `cmd &` without job control) passes SIGINT on as ignored, and Python
    # then installs no KeyboardInterrupt handler: the child gets the default disposition back, as a terminal gives it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "interrupted" in err
    assert not (tmp_path / "out").exists()
