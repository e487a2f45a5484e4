"""How every option of mbcli lift / mesh / action / train reaches the library: each command is invoked with a
non-default value for every option it has (the test fails when an option is added without being listed here), the
library call is replaced by a recorder, and the configuration it received is compared field by field."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mbcli.cli import action as cli_action
from mbcli.cli import lift as cli_lift
from mbcli.cli import mesh as cli_mesh
from mbcli.cli.main import app
from mbcli.pipeline.action import ActionConfig
from mbcli.pipeline.lift import LiftConfig
from mbcli.pipeline.mesh import MeshConfig

runner = CliRunner()


class _Stop(Exception):
    """Raised by the recorder once it has the configuration (nothing runs)."""


def _record(store: dict):
    def fake(*args, **kwargs):
        store["args"], store["kwargs"] = args, kwargs
        raise _Stop
    return fake


def _options(command: str) -> dict:
    """The options (not arguments) of ``mbcli COMMAND``, by parameter name."""
    group = typer.main.get_command(app)
    sub = group.commands[command]  # type: ignore[attr-defined]
    return {p.name: p for p in sub.params if p.param_type_name == "option" and p.name}


def _option_names(command: str) -> set[str]:
    return set(_options(command))


def _invoke(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert isinstance(result.exception, _Stop), result.output


def _covered(command: str, given: dict[str, object], ignored: set[str] = frozenset()) -> None:
    missing = _option_names(command) - set(given) - ignored
    assert not missing, f"options of mbcli {command} not checked by this test: {sorted(missing)}"


def test_every_lift_option_reaches_the_config(monkeypatch, tmp_path):
    rec: dict = {}
    monkeypatch.setattr(cli_lift, "run_lift", _record(rec))
    given = {"out": str(tmp_path / "o"), "formats": "bvh,json", "person": "3", "device": "cpu", "weights": "w.pt",
             "weights_config": "lite", "window": "81", "stride": "9", "flip": False, "batch_size": "3",
             "precision": "bf16", "runtime": "onnx", "detector": "blazepose-lite", "detect_max_width": "320",
             "fps": "25", "video": "v.mp4", "bvh_units": "cm", "raw_3d": True, "azimuth": "45", "progress": False, "focal": "1000",
             "fov": "70", "in_place": True, "foot_lock": False}
    _covered("lift", given)
    _invoke(["lift", "in.mp4", "--out", given["out"], "--formats", "bvh,json", "--person", "3", "--device", "cpu",
             "--weights", "w.pt", "--weights-config", "lite", "--window", "81", "--stride", "9", "--no-flip",
             "--batch-size", "3", "--precision", "bf16", "--runtime", "onnx", "--detector", "blazepose-lite",
             "--detect-max-width", "320", "--fps", "25", "--video", "v.mp4", "--bvh-units", "cm", "--raw-3d",
             "--azimuth", "45", "--no-progress", "--focal", "1000", "--fov", "70", "--in-place", "--no-foot-lock"])
    inp, out, cfg = rec["args"]
    assert (Path(inp), Path(out), rec["kwargs"]["on_progress"]) == (Path("in.mp4"), Path(given["out"]), None)
    assert cfg == LiftConfig(formats=("bvh", "json"), person="3", device="cpu", weights="w.pt", weights_config="lite",
                             window=81, stride=9, flip=False, batch_size=3, precision="bf16", runtime="onnx",
                             detector="blazepose-lite", detect_max_width=320, fps=25.0, video="v.mp4",
                             bvh_units="cm", raw_3d=True, azimuth=45.0, focal=1000.0, fov=70.0, in_place=True,
                             foot_lock=False)


def test_every_mesh_option_reaches_the_config(monkeypatch, tmp_path):
    rec: dict = {}
    monkeypatch.setattr(cli_mesh, "run_mesh", _record(rec))
    given = {"out": "b.npz", "body_model": "anny", "smpl_model": "m.pkl", "overlay": "o.mp4", "no_overlay": False,
             "glb": "g.glb", "person": "2", "fov": "70", "focal": "900", "iterations": "5", "device": "cpu", "weights": "w.pt",
             "detector": "blazepose-lite", "fps": "24", "progress": False}
    _covered("mesh", given)
    _invoke(["mesh", "in.mp4", "--out", "b.npz", "--body-model", "anny", "--smpl-model", "m.pkl", "--overlay",
             "o.mp4", "--glb", "g.glb", "--person", "2", "--fov", "70", "--focal", "900", "--iterations", "5",
             "--device", "cpu",
             "--weights", "w.pt", "--detector", "blazepose-lite", "--fps", "24", "--no-progress"])
    (inp, cfg), kw = rec["args"], rec["kwargs"]
    assert Path(inp) == Path("in.mp4") and kw["on_progress"] is None
    assert cfg == MeshConfig(out="b.npz", body_model="anny", smpl_model="m.pkl", person="2", overlay="o.mp4",
                             glb="g.glb", fov=70.0, focal=900.0, iterations=5,
                             lift=LiftConfig(device="cpu", weights="w.pt", fps=24.0, detector="blazepose-lite"))
    _invoke(["mesh", "in.mp4", "--out", "b.npz", "--no-overlay", "--no-progress"])
    assert rec["args"][1].overlay is None and rec["args"][1].glb is None


def test_every_action_option_reaches_the_config(monkeypatch, tmp_path):
    rec: dict = {}
    monkeypatch.setattr(cli_action, "run_action", _record(rec))
    given = {"labels": "a,b", "weights": "act.pt", "top_k": "2", "json_out": "r.json", "person": "1", "step": "3",
             "device": "cpu", "detector": "blazepose-lite", "fps": "20", "progress": False}
    _covered("action", given)
    _invoke(["action", "in.mp4", "--labels", "a,b", "--weights", "act.pt", "--top-k", "2", "--json", "r.json",
             "--person", "1", "--step", "3", "--device", "cpu", "--detector", "blazepose-lite", "--fps", "20",
             "--no-progress"])
    (inp, cfg), kw = rec["args"], rec["kwargs"]
    assert Path(inp) == Path("in.mp4") and kw["on_progress"] is None
    assert cfg == ActionConfig(weights="act.pt", labels="a,b", top_k=2, step=3, json="r.json",
                               lift=LiftConfig(person="1", device="cpu", fps=20.0, detector="blazepose-lite"))


def test_every_train_option_reaches_the_loop(monkeypatch, tmp_path):
    import mbcli.train.loop as loop

    rec: dict = {}
    monkeypatch.setattr(loop, "train", _record(rec))
    monkeypatch.setenv("RANK", "1")  # the non-reporting rank calls the loop without a progress bar
    given = {"config": "smoke", "out": str(tmp_path / "run"), "device": "cpu", "resume": True, "max_steps": "7",
             "init": "i.pt", "ntu_data": "n.pkl", "sets": "batch_size=3"}
    _covered("train", given)
    _invoke(["train", "--config", "smoke", "--out", given["out"], "--device", "cpu", "--resume", "--max-steps", "7",
             "--init", "i.pt", "--ntu-data", "n.pkl", "--set", "batch_size=3"])
    (recipe, out), kw = rec["args"], rec["kwargs"]
    assert recipe.name == "smoke" and recipe.batch_size == 3 and recipe.init_from == "i.pt"
    assert recipe.ntu_data == "n.pkl" and Path(out) == Path(given["out"])
    assert kw == {"device": "cpu", "resume": True, "max_steps": 7}


@pytest.mark.parametrize("command", ["lift", "mesh", "action", "eval", "bench", "train"])
def test_shared_options_read_the_same_everywhere(command):
    """--device, --weights-config, --fps, --person, --detector: one declaration (cli/options.py), one help text."""
    from mbcli.cli import options

    params = _options(command)
    shared = {"fps": options.Fps, "weights_config": options.WeightsConfig, "detector": options.Detector}
    for name, annotated in shared.items():
        if name in params:
            assert params[name].help == annotated.__metadata__[0].help, (command, name)
