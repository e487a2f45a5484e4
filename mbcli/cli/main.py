"""The ``mbcli`` entry point: the app with every command registered (each command module adds itself to
cli/app.py's ``app`` when imported)."""

from __future__ import annotations

from mbcli.cli import action, bench, eval, lift, mesh, train  # noqa: F401  (registers the commands)
from mbcli.cli.app import app

__all__ = ["app"]
