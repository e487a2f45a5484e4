"""The GPU training campaign end to end on the CPU (tools/campaign.py, mbcli/train/campaign.py): a round from scratch,
its ingestion into the campaign log, a second round that carries on from the first's weights, promotion to the
default lifter; the packed data unpacking bit-exactly; and the payload of a GPU window staying under 64 MiB."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from mbcli.errors import ConfigError
from mbcli.model import load_model
from mbcli.train import campaign

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]
PACKED = REPO.parent / "shared" / "data" / "h36m-packed"
SMOKE = ["batch_size=4", "clip_len=27", "warmup_steps=2", "eval_every=5", "log_every=5", "checkpoint_minutes=0.01"]

MANIFEST = """# a weights folder for the test
[[model]]
name = "lifter-old"
kind = "lifter"
default = true
file = "old.pt"
eval_full_sh_mpjpe_mm = 9000.0
eval_full_gt_mpjpe_mm = 9000.0

# ---- Action recognition
[[model]]
name = "action-x"
kind = "action"
default = true
file = "a.pt"
"""


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    w = tmp_path / "weights"
    w.mkdir()
    (w / "manifest.toml").write_text(MANIFEST)
    (w / "campaign.toml").write_text('[campaign]\nrecipe = "smoke"\nlr_decay_per_round = 0.5\n')
    monkeypatch.setenv("MBCLI_WEIGHTS_DIR", str(w))
    return w


@pytest.mark.slow
def test_rounds_carry_on_ingest_and_promote(h36m, folder, tmp_path):
    quiet = lambda s: None  # noqa: E731
    r1 = campaign.run_round(tmp_path / "out1", 0.03, device="cpu", data_dir=str(h36m), recipe_sets=tuple(SMOKE),
                            log=quiet)
    assert r1["status"] == "ok" and r1["init"] == "scratch" and r1["round"] == 1 and r1["steps"] > 0
    assert {p.name for p in (tmp_path / "out1").iterdir()} == {"round.json", "lifter_campaign.pt", "metrics.jsonl"}
    for k in ("quick_sh", "quick_gt", "full_sh", "full_gt"):
        assert r1[k]["protocol1_mpjpe_mm"] > 0
    assert json.loads((tmp_path / "out1" / "round.json").read_text())["weights_sha256"] == r1["weights_sha256"]
    weights = tmp_path / "out1" / "lifter_campaign.pt"
    assert all(v.dtype == torch.float16 for v in torch.load(weights)["model"].values() if v.is_floating_point())
    load_model(str(weights))  # a plain checkpoint for everything that loads lifters

    row = campaign.ingest(tmp_path / "out1", gpu_seconds=123.0)
    assert row["gpu_seconds"] == 123.0 and row["quick_sh_mpjpe_mm"] == r1["quick_sh"]["protocol1_mpjpe_mm"]
    spec, rounds = campaign.read_log()
    assert spec.recipe == "smoke" and spec.lr_decay_per_round == 0.5 and len(rounds) == 1
    assert hashlib.sha256((folder / campaign.WEIGHTS_FILE).read_bytes()).hexdigest() == r1["weights_sha256"]
    with pytest.raises(ConfigError, match="already in the campaign log"):
        campaign.ingest(tmp_path / "out1")

    r2 = campaign.run_round(tmp_path / "out2", 0.03, device="cpu", data_dir=str(h36m), recipe_sets=tuple(SMOKE),
                            full=False, log=quiet)
    assert r2["round"] == 2 and r2["init"] == r1["weights_sha256"]  # carried on from round 1's weights
    assert r2["lr_peak"] == pytest.approx(r1["lr_peak"] * 0.5) and "full_sh" not in r2
    campaign.ingest(tmp_path / "out2")
    ok, why = campaign.beats_default(json.loads((tmp_path / "out2" / "round.json").read_text()))
    assert not ok and "no full-protocol figures" in why
    with pytest.raises(ConfigError, match="no full-protocol figures"):
        campaign.promote(data_dir=str(h36m), log=quiet)

    ok, why = campaign.beats_default(r1)
    assert ok and "promote it" in why
    # round 1 is no longer the campaign's latest weights: only the latest ingested round can be promoted
    with pytest.raises(ConfigError, match="only the latest ingested round"):
        campaign.promote(1, data_dir=str(h36m), log=quiet)


@pytest.mark.slow
def test_promotion_makes_the_round_the_default_lifter(h36m, folder, tmp_path):
    quiet = lambda s: None  # noqa: E731
    r1 = campaign.run_round(tmp_path / "out", 0.03, device="cpu", data_dir=str(h36m), recipe_sets=tuple(SMOKE),
                            log=quiet)
    campaign.ingest(tmp_path / "out", gpu_seconds=60.0)
    fields = campaign.promote(data_dir=str(h36m), log=quiet)
    models = tomllib.loads((folder / "manifest.toml").read_text())["model"]
    lifters = {m["name"]: m for m in models if m["kind"] == "lifter"}
    assert lifters["lifter-old"]["default"] is False and lifters[campaign.PROMOTED_NAME]["default"] is True
    assert [m["name"] for m in models] == ["lifter-old", campaign.PROMOTED_NAME, "action-x"]  # in the lifter section
    new = lifters[campaign.PROMOTED_NAME]
    assert new["eval_full_sh_mpjpe_mm"] == r1["full_sh"]["protocol1_mpjpe_mm"] and new["gpu_minutes"] == 1.0
    assert new["sha256"] == hashlib.sha256((folder / campaign.PROMOTED_FILE).read_bytes()).hexdigest()
    assert fields["eval_quick_sh_mpjpe_mm"] == pytest.approx(r1["quick_sh"]["protocol1_mpjpe_mm"], abs=0.05)
    assert load_model("lifter-default").meta["name"] == campaign.PROMOTED_NAME  # resolved through the manifest
    assert (folder / "eval" / f"{campaign.PROMOTED_NAME}_sh.json").is_file()
    campaign.promote(data_dir=str(h36m), log=quiet)  # again: the entry is replaced, not duplicated
    names = [m["name"] for m in tomllib.loads((folder / "manifest.toml").read_text())["model"]]
    assert names.count(campaign.PROMOTED_NAME) == 1


@pytest.mark.slow
def test_a_collapsing_round_returns_no_weights_and_says_so(h36m, folder, tmp_path):
    sets = (*SMOKE, "loss.w_velocity=1000.0", "lr=3.0e-3", "guard.after_steps=5", "checkpoint_minutes=60")
    rec = campaign.run_round(tmp_path / "out", 0.05, device="cpu", data_dir=str(h36m), recipe_sets=sets,
                             log=lambda s: None)
    assert rec["status"] == "collapsed" and "collapsed" in rec["message"] and "weights_sha256" not in rec
    with pytest.raises(ConfigError, match="produced no weights"):
        campaign.ingest(tmp_path / "out")
    # with a checkpoint before the collapse the round returns those weights, which ingest refuses unless forced
    rec = campaign.run_round(tmp_path / "out2", 0.05, device="cpu", data_dir=str(h36m),
                             recipe_sets=(*sets[:-1], "checkpoint_minutes=0.0"), log=lambda s: None)
    assert rec["status"] == "collapsed" and rec["weights_sha256"]
    with pytest.raises(ConfigError, match="ended collapsed .* not ingested"):
        campaign.ingest(tmp_path / "out2")
    assert campaign.ingest(tmp_path / "out2", force=True)["status"] == "collapsed"


@pytest.mark.slow
def test_tools_campaign_cli_round_and_status(h36m, folder, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MBCLI_WEIGHTS_DIR": str(folder)}
    cmd = [sys.executable, str(REPO / "tools" / "campaign.py")]
    sets = [a for s in SMOKE for a in ("--set", s)]
    r = subprocess.run(cmd + ["round", "--out", str(tmp_path / "o"), "--budget-minutes", "0.03", "--device", "cpu",
                              "--data", str(h36m), "--no-full", *sets], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1].startswith("| 1 | ok |")
    r = subprocess.run(cmd + ["ingest", str(tmp_path / "o")], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "no full-protocol figures" in r.stdout, r.stderr
    r = subprocess.run(cmd + ["status"], env=env, capture_output=True, text=True, timeout=300)
    assert "1 round(s)" in r.stdout and "round 1" in r.stdout
    r = subprocess.run(cmd + ["ingest", str(tmp_path / "nowhere")], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.skipif(not PACKED.is_dir(), reason="../shared/data/h36m-packed not present")
def test_the_packed_copy_unpacks_bit_exactly(tmp_path):
    import numpy as np

    out = campaign.unpack(PACKED, tmp_path / "h36m")
    for name in ("h36m_3d.npz", "h36m_2d_sh_test.npz"):  # every array equal, dtype included (the zip bytes differ)
        with np.load(out / name) as a, np.load(PACKED.parent / "h36m" / name) as b:
            assert sorted(a.files) == sorted(b.files)
            for k in a.files:
                assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), (name, k)
    assert (out / "h36m_cameras.json").read_bytes() == (PACKED.parent / "h36m" / "h36m_cameras.json").read_bytes()
    with pytest.raises(ConfigError, match="not the packed Human3.6M copy"):
        campaign.unpack(tmp_path, tmp_path / "x")


def test_a_gpu_window_payload_fits_64_mib():
    """What a device command carries: the tracked tree (campaign weights and a promoted copy included) plus the
    packed Human3.6M copy must stay under 64 MiB, with room for the campaign model's weights to change hands."""
    r = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if r.returncode:
        pytest.skip("not a git checkout: the tracked tree cannot be measured")
    tracked = sum((REPO / f).stat().st_size for f in r.stdout.decode().split("\0") if f and (REPO / f).is_file())
    packed = sum(f.stat().st_size for f in PACKED.iterdir()) if PACKED.is_dir() else 26_700_000
    cfg = campaign.load_recipe(campaign.read_log(REPO / "weights")[0].recipe).model
    from mbcli.model import DSTformer, preset

    params = sum(p.numel() for p in DSTformer(preset(cfg.preset, **cfg.overrides)).parameters())
    held = sum(f.stat().st_size for pattern in ("campaign/lifter_campaign*.pt", "lifter_h36m*.pt")
               for f in (REPO / "weights").glob(pattern))
    room = max(0, 2 * 2 * params - held)  # fp16 campaign weights, and the same again once promoted to the default
    assert tracked + packed + room < 64 * 2 ** 20 - 2 * 2 ** 20, (tracked, packed, room)


@pytest.mark.slow
def test_train_eval_and_a_round_run_without_pyav_onnxruntime_or_opencv(h36m, folder, tmp_path, tiny_weights):
    """The GPU machine has no PyAV (and this check also hides ONNX Runtime and OpenCV): mbcli train, mbcli eval and
    a campaign round must not need them, at import or at run time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MBCLI_WEIGHTS_DIR": str(folder)}
    gpu_like = [sys.executable, str(REPO / "tests" / "gpu_like_env.py")]
    r = subprocess.run(gpu_like + ["-c", "import av"], capture_output=True, text=True)
    assert r.returncode != 0  # the check can fail
    runs = [["-m", "mbcli", "train", "--config", "smoke", "--set", f"data_dir={h36m}", "--device", "cpu", "--out",
             str(tmp_path / "t")],
            ["-m", "mbcli", "eval", "--weights", str(tiny_weights), "--quick", "--data", str(h36m), "--device", "cpu"],
            [str(REPO / "tools" / "campaign.py"), "round", "--out", str(tmp_path / "o"), "--budget-minutes", "0.02",
             "--device", "cpu", "--data", str(h36m), "--no-full", *[a for s in SMOKE for a in ("--set", s)]]]
    for args in runs:
        r = subprocess.run(gpu_like + args, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (args[:3], r.stderr[-1500:])
