"""The ``mbcli`` console script: imports the app inside the Ctrl-C guard, so an interrupt while torch and the
commands are still loading is "interrupted" and exit code 130 like one during a command, never a traceback."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from mbcli.cli.main import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
