"""The Typer application and the error contract every command shares; commands register on ``app`` from their own
modules, which cli/main.py imports (so nothing here imports a command).

Every MbcliError becomes a red one-line message on stderr and exit code 1; Ctrl-C is "interrupted" and exit code 130;
anything else is a bug and keeps its traceback. A run that wrote its files from only part of its input (a video that
ends before its stated length) exits with ``PARTIAL`` (3) after its summary, whose note says what was missing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from mbcli import __version__
from mbcli.cli import console as con
from mbcli.errors import MbcliError

F = TypeVar("F", bound=Callable[..., Any])
PARTIAL = 3  # exit code: files written, from part of the input only

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Video of people -> 3D human motion (DSTformer lifting; JSON, BVH, NPZ and video exports).")


def exit_if_partial(partial: str) -> None:
    """After a command's summary: a run made from only part of its input (``partial`` says why; "" for a whole run)
    warns with that line and exits with PARTIAL."""
    if partial:
        con.warn(partial)
        raise typer.Exit(PARTIAL)


def handle_errors(fn: F) -> F:
    """Wrap a command: MbcliError -> one red line and exit 1; KeyboardInterrupt -> "interrupted" and exit 130."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MbcliError as e:
            con.error(str(e))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            con.error("interrupted")
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        con.out.print(f"mbcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _threads()


def _threads() -> None:
    """Thread counts chosen once for the whole run (mbcli/threads.py; $MBCLI_THREADS overrides)."""
    from mbcli.threads import apply_threads, choose_threads

    try:
        apply_threads(choose_threads())
    except MbcliError as e:
        con.error(str(e))
        raise typer.Exit(1) from None
