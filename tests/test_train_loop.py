"""The training loop: a smoke run, exact resume (in process and after a real SIGKILL), the learning-rate schedules,
CMU mixing, and DistributedDataParallel through torchrun (two CPU processes on Gloo).

Runs on the synthetic Human3.6M folder of tests/h36m_fixture.py, so it needs no shared data and takes seconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mbcli.errors import ConfigError
from mbcli.model import load_model
from mbcli.train.loop import _lr_at, train
from mbcli.train.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


def _recipe(h36m: Path, **kw):
    base = dict(data_dir=str(h36m), steps=8, checkpoint_minutes=0.0, log_every=1, eval_every=4, batch_size=4)
    return dataclasses.replace(load_recipe("smoke"), **{**base, **kw})


def _rows(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


def _write_recipe(path: Path, h36m: Path, steps: int) -> Path:
    path.write_text(f"model: {{preset: tiny}}\nclip_len: 27\nbatch_size: 4\nsteps: {steps}\nlog_every: 1\n"
                    f"eval_every: 1000\ncheckpoint_minutes: 0.0\namp: none\nuse_sh: true\ndata_dir: {h36m}\n")
    return path


def test_smoke_run_writes_a_loadable_checkpoint_and_log(h36m, tmp_path):
    ckpt = train(_recipe(h36m), tmp_path / "run", device="cpu")
    rows = _rows(tmp_path / "run")
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert "val_mpjpe_mm_gt2d" in rows[3] and "val_mpjpe_mm_gt2d" in rows[7]
    obj = torch.load(ckpt, weights_only=False)
    assert obj["step"] == 8 and obj["meta"]["world_size"] == 1 and obj["meta"]["output_units"] == "m"
    model = load_model(str(ckpt))
    out = model(torch.zeros(1, 27, 17, 3))
    assert out.shape == (1, 27, 17, 3)


@pytest.mark.slow
def test_resume_continues_exactly(h36m, tmp_path):
    full = tmp_path / "full"
    part = tmp_path / "part"
    train(_recipe(h36m), full, device="cpu")
    train(_recipe(h36m), part, device="cpu", max_steps=3)  # stops (and checkpoints) at step 3
    assert _rows(part)[-1]["step"] == 3
    train(_recipe(h36m), part, device="cpu", resume=True)
    a, b = _rows(full), _rows(part)
    assert [r["step"] for r in b] == list(range(1, 9))
    for ra, rb in zip(a, b):
        assert ra["loss"] == rb["loss"], (ra, rb)
    sa = torch.load(full / "last.pt", weights_only=False)["model"]
    sb = torch.load(part / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_prefetching_changes_nothing(h36m, tmp_path):
    train(_recipe(h36m, steps=5, prefetch=0, sampler="numpy"), tmp_path / "a", device="cpu")
    train(_recipe(h36m, steps=5, prefetch=3, sampler="numpy"), tmp_path / "b", device="cpu")
    assert [r["loss"] for r in _rows(tmp_path / "a")] == [r["loss"] for r in _rows(tmp_path / "b")]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_loss_curve(h36m, tmp_path):
    """A real SIGKILL in the middle of training; rows logged after the last checkpoint are recomputed."""
    recipe = _write_recipe(tmp_path / "r.yaml", h36m, steps=40)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mbcli", "train", "--config", str(recipe), "--device", "cpu"]
    subprocess.run(cmd + ["--out", str(tmp_path / "ref")], check=True, env=env, capture_output=True)
    run = tmp_path / "killed"
    p = subprocess.Popen(cmd + ["--out", str(run)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run / "metrics.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        if log.is_file() and len(log.read_text().splitlines()) >= 12:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n_killed = len(log.read_text().splitlines())
    assert 12 <= n_killed < 40, "the run must be killed part-way"
    r = subprocess.run(cmd + ["--out", str(run), "--resume"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert re.search(r"resuming .*killed at step \d+ of 40", " ".join(r.stdout.split())), r.stdout
    ref, got = _rows(tmp_path / "ref"), _rows(run)
    assert [x["step"] for x in got] == list(range(1, 41))
    assert [x["loss"] for x in got] == [x["loss"] for x in ref]


def test_cosine_and_exponential_schedules():
    r = dataclasses.replace(load_recipe("smoke"), lr=1e-3, steps=100, warmup_steps=10, lr_schedule="cosine",
                            min_lr=1e-5)
    assert _lr_at(r, 0) == pytest.approx(1e-4)
    assert _lr_at(r, 9) == pytest.approx(1e-3 * (0.5 * (1 + np.cos(np.pi * 0.09))) + 1e-5 * (1 - 0.5 * (1 + np.cos(
        np.pi * 0.09))))
    assert _lr_at(r, 50) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert _lr_at(r, 100) == pytest.approx(1e-5)
    e = dataclasses.replace(r, lr_schedule="exp", lr_decay=0.5, epoch_steps=10, warmup_steps=0)
    assert _lr_at(e, 9) == pytest.approx(1e-3) and _lr_at(e, 25) == pytest.approx(2.5e-4)


def test_init_from_must_match_the_recipe_model(h36m, tmp_path):
    ckpt = train(_recipe(h36m, steps=2), tmp_path / "a", device="cpu")
    train(_recipe(h36m, steps=2, init_from=str(ckpt)), tmp_path / "b", device="cpu")  # same model: fine
    other = dataclasses.replace(_recipe(h36m, steps=2, init_from=str(ckpt)),
                                model=dataclasses.replace(load_recipe("smoke").model, overrides={"depth": 1}))
    with pytest.raises(ConfigError, match="init_from"):
        train(other, tmp_path / "c", device="cpu")


@pytest.mark.slow
def test_cmu_clips_are_mixed_in(h36m, tmp_path):
    from mbcli.train.cmu import default_cmu_dir

    if not default_cmu_dir().is_dir():
        pytest.skip("CMU mocap (../shared/data/cmu) not present")
    for sampler, keys in (("numpy", {"mix", "a", "b"}), ("device", {"device_generator"})):
        ckpt = train(_recipe(h36m, steps=3, cmu_fraction=0.5, batch_size=8, cmu_holdout=("08", "13"), sampler=sampler),
                     tmp_path / sampler, device="cpu")
        obj = torch.load(ckpt, weights_only=False)
        assert set(obj["sampler_states"][0]) == keys
        assert obj["meta"]["cmu_holdout"] == ["08", "13"] and obj["meta"]["sampler"] == sampler
    every = ("03", "05", "06", "07", "08", "09", "10", "13", "14")
    with pytest.raises(ConfigError, match="leaves no CMU trials"):
        train(_recipe(h36m, steps=1, cmu_fraction=0.5, cmu_holdout=every), tmp_path / "none", device="cpu")
    with pytest.raises(ConfigError, match="subject numbers"):
        train(_recipe(h36m, steps=1, cmu_fraction=0.5, cmu_holdout=("S9",)), tmp_path / "bad", device="cpu")


@pytest.mark.slow
def test_ddp_with_torchrun_on_two_cpu_processes(h36m, tmp_path):
    """torchrun starts two ranks (Gloo); rank 0 alone logs and checkpoints; a resumed DDP run continues."""
    recipe = _write_recipe(tmp_path / "r.yaml", h36m, steps=6)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "mbcli", "train", "--config", str(recipe), "--device", "cpu", "--out", str(tmp_path / "ddp")]
    r = subprocess.run(base + ["--max-steps", "3"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(base + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = _rows(tmp_path / "ddp")
    assert [x["step"] for x in rows] == list(range(1, 7))
    obj = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert obj["meta"]["world_size"] == 2 and obj["step"] == 6
    a, b = (st["device_generator"] for st in obj["sampler_states"])
    assert len(obj["sampler_states"]) == 2 and not torch.equal(a, b)  # each rank draws its own clips


class _FakeEncoder:
    """A stand-in text encoder for the loop mechanics (the real one is tested in test_text.py and below)."""

    def encode(self, sentences):
        out = np.stack([np.random.default_rng(abs(hash(s)) % 2**32).normal(size=12) for s in sentences])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.slow
def test_text_alignment_trains_resumes_and_keeps_a_lifter_checkpoint(h36m, tmp_path, monkeypatch):
    import mbcli.text

    monkeypatch.setattr(mbcli.text, "load_text_encoder", lambda path=None: _FakeEncoder())
    kw = dict(text_align=0.5, text_hidden=16)
    full = tmp_path / "full"
    ckpt = train(_recipe(h36m, **kw), full, device="cpu")
    rows = _rows(full)
    assert all("text" in r and np.isfinite(r["text"]) and 0.0 <= r["text_top1"] <= 1.0 for r in rows)
    obj = torch.load(ckpt, weights_only=False)
    assert "action_head" in obj and len(obj["label_bank"]) >= 2  # the fixture's actions as sentences
    assert obj["head_config"]["num_classes"] == 0 and obj["text_bank"].shape == (len(obj["label_bank"]), 12)
    assert load_model(str(ckpt))(torch.zeros(1, 27, 17, 3)).shape == (1, 27, 17, 3)  # still a plain lifter
    part = tmp_path / "part"
    train(_recipe(h36m, **kw), part, device="cpu", max_steps=3)
    train(_recipe(h36m, **kw), part, device="cpu", resume=True)
    assert [r["loss"] for r in _rows(part)] == [r["loss"] for r in rows]  # the head resumes exactly too


def test_text_alignment_with_the_real_text_encoder(h36m, tmp_path):
    from mbcli.errors import DependencyError
    from mbcli.text import load_text_encoder

    try:
        load_text_encoder()
    except DependencyError as e:
        pytest.skip(str(e))
    ckpt = train(_recipe(h36m, steps=2, text_align=0.5, text_hidden=16), tmp_path / "real", device="cpu")
    obj = torch.load(ckpt, weights_only=False)
    assert obj["action_head"]["embed.4.weight"].shape == (384, 16)  # all-MiniLM-L6-v2's 384-d space


def test_action_task_trains_a_classifier_with_text_alignment(h36m, tmp_path, monkeypatch):
    import mbcli.text
    from mbcli.labels import ACTION_SENTENCES, H36M_ACTIONS
    from mbcli.model.action import load_action_model

    monkeypatch.setattr(mbcli.text, "load_text_encoder", lambda path=None: _FakeEncoder())
    r = _recipe(h36m, task="action", text_align=0.5, text_hidden=16, w_pose=0.1, steps=6, eval_every=3)
    ckpt = train(r, tmp_path / "act", device="cpu")
    rows = _rows(tmp_path / "act")
    assert all(np.isfinite(x["action"]) for x in rows) and 0.0 <= rows[2]["val_action_top1"] <= 100.0
    obj = torch.load(ckpt, weights_only=False)
    assert obj["classes"] == list(H36M_ACTIONS)
    assert obj["label_bank"][:15] == [ACTION_SENTENCES[a] for a in H36M_ACTIONS]  # class i is sentence i
    model, meta = load_action_model(ckpt)
    out = model(torch.zeros(2, 27, 17, 3))
    assert out.logits.shape == (2, 15) and out.embedding.shape == (2, 12)
    assert meta["classes"] == list(H36M_ACTIONS) and meta["text_bank"].shape == (len(obj["label_bank"]), 12)
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: dance\n")
    with pytest.raises(ConfigError, match="task must be pose or action"):
        load_recipe(str(bad))


# ------------------------------------------------------------------------------------------ the guard


@pytest.mark.slow
def test_a_recipe_built_to_collapse_stops_with_one_line_and_keeps_the_last_good_checkpoint(h36m, tmp_path):
    """w_velocity 1000 makes a still, shrunken skeleton the cheapest output: the predicted bones fall to under 1% of
    their length and the validation MPJPE sits at the joints' mean distance from the pelvis (~0.4 m), as in the
    collapsed GPU run of issue 11. The guard stops the run at its first check after ``after_steps``, before any
    checkpoint of the collapsed model is written."""
    from mbcli.errors import TrainingError
    from mbcli.train.recipe import GuardSpec, LossSpec

    recipe = _recipe(h36m, steps=40, batch_size=8, lr=3e-3, warmup_steps=5, eval_every=10, log_every=5,
                     loss=LossSpec(w_velocity=1000.0), guard=GuardSpec(after_steps=20, stall_evals=0))
    run = tmp_path / "collapse"
    with pytest.raises(TrainingError, match=r"collapsed at step 20: predicted bones are 0\.0\d of") as e:
        train(recipe, run, device="cpu")
    assert "\n" not in str(e.value) and "last good checkpoint" in str(e.value) and "(step 19)" in str(e.value)
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 19  # checkpoint_minutes 0: every healthy step
    assert _rows(run)[-1] == {**_rows(run)[-1], "step": 20, "stopped": "collapsed"}
    # the same recipe at a sane velocity weight trains past the guard
    train(dataclasses.replace(recipe, loss=LossSpec()), tmp_path / "healthy", device="cpu")
    assert min(r["val_bone_ratio"] for r in _rows(tmp_path / "healthy") if "val_bone_ratio" in r and r["step"] >= 20) > 0.7


@pytest.mark.slow
def test_a_stalled_run_stops_and_saves_its_model(h36m, tmp_path):
    from mbcli.errors import TrainingError
    from mbcli.train.recipe import GuardSpec

    # a new best must halve the error: from the second evaluation on, none does
    recipe = _recipe(h36m, steps=40, eval_every=4, guard=GuardSpec(after_steps=0, min_bone_ratio=0.0, stall_evals=2,
                                                                  min_improvement=0.5))
    with pytest.raises(TrainingError, match="stalled: 2 evaluations without a new best validation MPJPE since step 4"):
        train(recipe, tmp_path / "stall", device="cpu")
    assert torch.load(tmp_path / "stall" / "last.pt", weights_only=False)["step"] == 12
    assert _rows(tmp_path / "stall")[-1]["stopped"] == "stalled"


def test_a_diverged_run_stops_before_writing_a_checkpoint(h36m, tmp_path):
    from mbcli.errors import TrainingError

    recipe = _recipe(h36m, steps=10, lr=1e30, grad_clip=0.0, checkpoint_minutes=60.0, eval_every=100, log_every=2)
    with pytest.raises(TrainingError, match="diverged at step .*no checkpoint was written"):
        train(recipe, tmp_path / "nan", device="cpu")
    assert not (tmp_path / "nan" / "last.pt").exists()


@pytest.mark.slow
def test_cli_reports_a_collapse_in_one_line(h36m, tmp_path):
    recipe = tmp_path / "collapse.yaml"
    recipe.write_text(f"model: {{preset: tiny}}\nclip_len: 27\nbatch_size: 8\nsteps: 30\nlr: 3.0e-3\nwarmup_steps: 5\n"
                      f"eval_every: 10\ncheckpoint_minutes: 60\namp: none\ndata_dir: {h36m}\nuse_sh: false\n"
                      f"loss: {{w_velocity: 1000.0}}\nguard: {{after_steps: 10, stall_evals: 0}}\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "mbcli", "train", "--config", str(recipe), "--device", "cpu", "--out",
                        str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    err = [line for line in r.stderr.splitlines() if line.startswith("error")]  # (the rest is the progress bar)
    assert len(err) == 1 and "collapsed at step 10" in err[0] and "no checkpoint was written" in err[0], r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------ compile and resume


def test_a_failing_compile_falls_back_to_eager_training(h36m, tmp_path, monkeypatch, caplog):
    """A compiler that fails on the first step (its forward or, lazily, its backward) costs speed, not the run."""
    def broken_compile(module):
        def run(*args):
            raise RuntimeError("InductorError: no working C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    ckpt = train(_recipe(h36m, steps=3, compile=True), tmp_path / "run", device="cpu")
    assert torch.load(ckpt, weights_only=False)["step"] == 3
    assert "torch.compile failed (InductorError: no working C++ compiler); training eagerly" in caplog.text


@pytest.mark.slow
def test_compiled_training_matches_eager_training(h36m, tmp_path):
    """torch.compile for real (inductor on the CPU): the same losses as eager, to float32 rounding."""
    eager = train(_recipe(h36m, steps=3, eval_every=100), tmp_path / "eager", device="cpu")
    compiled = train(_recipe(h36m, steps=3, eval_every=100, compile=True), tmp_path / "compiled", device="cpu")
    a, b = _rows(tmp_path / "eager"), _rows(tmp_path / "compiled")
    assert [r["step"] for r in b] == [1, 2, 3] and eager.is_file() and compiled.is_file()
    for ra, rb in zip(a, b):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-3)


def test_resuming_with_another_sampler_is_a_one_line_error(h36m, tmp_path):
    train(_recipe(h36m, steps=2, sampler="numpy"), tmp_path / "run", device="cpu")
    with pytest.raises(ConfigError, match="trained with sampler: numpy; resume it with --set sampler=numpy"):
        train(_recipe(h36m, steps=4), tmp_path / "run", device="cpu", resume=True)


def test_guard_verdicts_on_known_sequences():
    from mbcli.train.health import Guard, bone_ratio

    g = Guard(after_steps=100, min_bone_ratio=0.5, stall_evals=2, min_improvement=0.01)
    assert g.check(50, 1.0, 300.0, 0.1) is None  # young and small: no verdict yet
    assert g.check(60, 1.0, 310.0, 0.9) is None and g.check(70, 1.0, 320.0, 0.9) is None  # worse in warm-up: fine
    assert g.check(200, 1.0, 299.0, 0.9) is None  # not 1% better than 300: counts one
    v = g.check(300, 1.0, 298.0, 0.9)
    assert v is not None and v.kind == "stalled" and "since step 50 (300.0 mm)" in v.message
    assert g.check(400, 1.0, 250.0, 0.3).kind == "collapsed"
    assert g.check(400, float("nan"), 250.0, 0.9).kind == "diverged"
    assert g.check(400, 1.0, 250.0, 0.3, count_eval=False).kind == "collapsed"  # before a checkpoint too
    pose = torch.randn(2, 5, 17, 3)
    assert float(bone_ratio(pose, pose)) == pytest.approx(1.0)
    assert float(bone_ratio(0.1 * pose, pose)) == pytest.approx(0.1)


def test_runs_refused_before_any_data_loads(tmp_path):
    """A step limit under 1, a run folder that is a file, --resume with nothing to resume."""
    r = load_recipe("smoke")  # its data folder is never read: each refusal comes first
    for max_steps in (0, -1):
        with pytest.raises(ConfigError, match="--max-steps must be at least 1"):
            train(r, tmp_path / "a", device="cpu", max_steps=max_steps)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="is a file, not a run folder"):
        train(r, blocker, device="cpu")
    with pytest.raises(ConfigError, match="no .*last.pt to continue"):
        train(r, tmp_path / "fresh", device="cpu", resume=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "fresh").exists()


def test_missing_sources_refused_before_any_data_loads(tmp_path):
    """A missing Human3.6M folder, NTU source or init_from file is refused by train() before the run folder is made,
    and by the CLI before its progress bar (found as a new user: a missing --ntu-data or --init came after the bar,
    the --init one only after the whole data load, and left an empty run folder)."""
    from cli_checks import assert_one_line_error
    from typer.testing import CliRunner

    from mbcli.cli.main import app

    missing = tmp_path / "nowhere"
    cases = [(dict(data_dir=str(missing)), "Human3.6M data not found in", []),
             (dict(dataset="ntu60", task="action", ntu_data=str(missing / "ntu60_hrnet.pkl")),
              "ntu60_hrnet.pkl does not exist", ["--config", "action-ntu60", "--ntu-data",
                                                  str(missing / "ntu60_hrnet.pkl")]),
             (dict(init_from=str(missing / "w.pt")), "w.pt: no such checkpoint file",
              ["--config", "smoke", "--init", str(missing / "w.pt")])]
    for i, (kw, message, cli_args) in enumerate(cases):
        with pytest.raises(ConfigError, match=message):
            train(dataclasses.replace(load_recipe("smoke"), **kw), tmp_path / f"run{i}", device="cpu")
        assert not (tmp_path / f"run{i}").exists()
        if cli_args:
            result = CliRunner().invoke(app, ["train", *cli_args, "--out", str(tmp_path / f"cli{i}")],
                                        catch_exceptions=False)
            assert_one_line_error(result, message)
            assert not (tmp_path / f"cli{i}").exists()


def test_resuming_a_finished_run_says_so(h36m, tmp_path, monkeypatch):
    from mbcli.train import loop

    train(_recipe(h36m, steps=2, eval_every=2), tmp_path / "run", device="cpu")

    def no_data(*a, **k):
        raise AssertionError("the refusal must come before the data loads")

    monkeypatch.setattr(loop, "_load_data", no_data)
    with pytest.raises(ConfigError, match="already reached step 2 of 2"):
        train(_recipe(h36m, steps=2, eval_every=2), tmp_path / "run", device="cpu", resume=True)
    (tmp_path / "run" / "last.pt").write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(ConfigError, match="--resume: cannot read .*last.pt"):
        train(_recipe(h36m, steps=4, eval_every=2), tmp_path / "run", device="cpu", resume=True)
