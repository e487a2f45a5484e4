"""Fuzz tier, options: every numeric option of lift, mesh, action, train, eval and bench given generated values (0,
negatives, huge, nan, inf, non-numbers) through typer's CliRunner, with the command's real work replaced by a stub
that stops it (nothing loads or runs). The contract: a value that is not a number of the option's type is a usage
error (exit 2); a number out of the option's range is exactly one "error:" line naming the option and exit 1, with no
traceback, before any work; a number in range reaches the work. So no option crashes and none is accepted out of
range."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from cli_checks import assert_one_line_error
from fuzz_inputs import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mbcli.cli.main import app

runner = CliRunner()
SAMPLE = str(Path(__file__).resolve().parents[1] / "samples" / "sports2d_640.mp4")


class _Reached(Exception):
    """Raised by the stub in place of the command's work: the options passed the preflight."""


def _stop(*args, **kwargs):
    raise _Reached


@dataclass(frozen=True)
class Option:
    """One numeric option: its command line without it, where the work starts (module attributes the stub replaces),
    its type, and the values the preflight must accept."""

    args: tuple[str, ...]
    work: tuple[str, ...]
    kind: type
    valid: Callable[[float], bool]


def _at_least(low: float, high: float = math.inf) -> Callable[[float], bool]:
    return lambda v: low <= v <= high


def _fps(v: float) -> bool:
    return 0.01 <= v <= 10_000  # types.FPS_RANGE


def _focal(v: float) -> bool:
    return 1 <= v <= 1e6  # world.camera.MAX_FOCAL_PX


def _finite(v: float) -> bool:
    return math.isfinite(v)


def _fov(v: float) -> bool:
    return 1 < v < 179


LIFT = ("lift", SAMPLE, "--out", "{tmp}/out", "--no-progress")
MESH = ("mesh", SAMPLE, "--out", "{tmp}/body.npz", "--no-overlay", "--no-progress")
ACTION = ("action", SAMPLE, "--no-progress")
BENCH = ("bench", "--no-e2e", "--models", "lite", "--no-bf16", "--no-onnx", "--no-fit", "--no-action")
LIFT_WORK = ("mbcli.pipeline.lift.lift_people",)
MESH_WORK = ("mbcli.body.load_body_model",)
ACTION_WORK = ("mbcli.model.action.load_action_model",)
OPTIONS: dict[str, Option] = {
    "lift --window": Option(LIFT, LIFT_WORK, int, _at_least(1)),
    "lift --stride": Option(LIFT, LIFT_WORK, int, _at_least(1, 243)),  # at most the window (243 by default)
    "lift --batch-size": Option(LIFT, LIFT_WORK, int, _at_least(1, 1024)),  # pipeline.lift.MAX_BATCH
    "lift --detect-max-width": Option(LIFT, LIFT_WORK, int, _at_least(32)),
    "lift --fps": Option(LIFT, LIFT_WORK, float, _fps),
    "lift --azimuth": Option(LIFT, LIFT_WORK, float, _finite),
    "lift --focal": Option(LIFT, LIFT_WORK, float, _focal),
    "lift --fov": Option(LIFT, LIFT_WORK, float, _fov),
    "mesh --iterations": Option(MESH, MESH_WORK, int, _at_least(1, 10_000)),
    "mesh --focal": Option(MESH, MESH_WORK, float, _focal),
    "mesh --fov": Option(MESH, MESH_WORK, float, _fov),
    "mesh --fps": Option(MESH, MESH_WORK, float, _fps),
    "action --top-k": Option(ACTION, ACTION_WORK, int, _at_least(1)),
    "action --step": Option(ACTION, ACTION_WORK, int, _at_least(1)),
    "action --fps": Option(ACTION, ACTION_WORK, float, _fps),
    "train --max-steps": Option(("train", "--config", "smoke", "--out", "{tmp}/run"), ("mbcli.train.loop._Dist",), int,
                                _at_least(1)),
    "eval --stride": Option(("eval", "--quick"), ("mbcli.model.resolve_device",), int, _at_least(1)),
    "bench --batch": Option(BENCH, ("mbcli.model.resolve_device",), int, _at_least(1, 1024)),
    "bench --repeats": Option(BENCH, ("mbcli.model.resolve_device",), int, _at_least(1, 1000)),
    "bench --threads": Option(BENCH, ("mbcli.model.resolve_device",), int, _at_least(1, 1024)),
    "bench --train-steps": Option(("bench", "--train", "smoke"), ("mbcli.train.bench.bench_training",), int,
                                  _at_least(1, 100_000)),
}

NUMBERS = st.one_of(st.integers(-3, 3), st.integers(-(2**70), 2**70), st.sampled_from([2**31, 2**63, 10**30]),
                    st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e4, 1e4))
TEXT = st.sampled_from(["nan", "inf", "-inf", "Infinity", "1e30", "2.5", "-0", "0x10", "1_000", " 7", "", "abc",
                        "1,5", "٣", "１", "--", "None"])


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


PLAIN_INT = re.compile(r"-?[0-9]+")
PLAIN_FLOAT = re.compile(r"-?([0-9]+\.?[0-9]*(e[-+]?[0-9]+)?|nan|inf)")


def _plain(text: str, kind: type) -> float | None:
    """The number a plain decimal ``text`` is for an option of type ``kind`` (int or float); None for any other text
    (a non-number, or a form such as "1_000" or "٣" that the parser may read or refuse)."""
    if not (PLAIN_INT if kind is int else PLAIN_FLOAT).fullmatch(text):
        return None
    return float(int(text)) if kind is int else float(text)


@pytest.mark.parametrize("name", list(OPTIONS))
@settings(max_examples=examples(25), deadline=None)
@given(value=st.one_of(NUMBERS, TEXT).map(_as_text))
def test_numeric_option_is_checked_before_the_work(name, value, tmp_path_factory):
    _check(name, value, tmp_path_factory.mktemp("opt"))


# values the fuzzing found: a crash, silently accepted, or more than the one error line
@pytest.mark.parametrize(("name", "value"), [
    ("bench --threads", str(10**30)),  # ValueError: Overflow when unpacking long long
    ("lift --fps", "1e300"),  # TypeError: `pad_width` must be of integral type (after the work)
    ("lift --fps", "1e-300"),  # ZeroDivisionError (after the work)
    ("action --fps", "0"),  # accepted
    ("mesh --fps", "nan"),  # accepted
    ("lift --focal", "inf"),  # accepted
    ("mesh --iterations", str(10**30)),  # accepted: a fit that does not end
    ("bench --batch", str(10**30)),  # accepted
    ("bench --repeats", str(10**9)),  # accepted
    ("train --max-steps", "0"),  # the progress bar's line printed before the error line
    ("lift --fov", "0"),  # the message did not name --fov
])
def test_values_found_by_fuzzing(name, value, tmp_path):
    _check(name, value, tmp_path)


def _check(name: str, value: str, tmp: Path) -> None:
    opt = OPTIONS[name]
    args = [a.replace("{tmp}", str(tmp)) for a in opt.args]
    option = name.split()[1]
    with pytest.MonkeyPatch.context() as mp:
        for target in opt.work:
            mp.setattr(target, _stop)
        mp.setattr(torch, "set_num_threads", lambda n: None)  # bench --threads must not change this process
        result = runner.invoke(app, [*args, f"{option}={value}"])
    number = _plain(value, opt.kind)
    if result.exit_code == 2:  # a usage error: only for text that is not a plain number of the option's type
        assert number is None, (value, result.output)
        return
    if isinstance(result.exception, _Reached):
        assert number is None or opt.valid(number), f"{name} {value!r} was accepted"
        return
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert number is None or not opt.valid(number), f"{name} {value!r} was refused: {result.output}"
    assert_one_line_error(result, option.lstrip("-").split("-")[0])
    assert not any(tmp.iterdir())  # nothing written
