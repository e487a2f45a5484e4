"""The ``mbcli`` command line (Typer). Each command is a thin wrapper: options, one library call, a summary.

Every MbcliError becomes a red one-line message on stderr and exit code 1; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import typer

from mbcli import __version__
from mbcli.cli import console as con
from mbcli.errors import MbcliError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Video of people -> 3D human motion (DSTformer lifting; JSON, BVH, NPZ and video exports).")


def handle_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MbcliError as e:
            con.error(str(e))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            con.error("interrupted")
            raise typer.Exit(130) from None
    return wrapper


def _version(value: bool) -> None:
    if value:
        con.out.print(f"mbcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


from mbcli.cli import action as _action  # noqa: E402,F401  (registers commands)
from mbcli.cli import bench as _bench  # noqa: E402,F401
from mbcli.cli import eval as _eval  # noqa: E402,F401
from mbcli.cli import lift as _lift  # noqa: E402,F401
from mbcli.cli import mesh as _mesh  # noqa: E402,F401
from mbcli.cli import train as _train  # noqa: E402,F401
