"""The lifter training campaign: short GPU windows whose gains add up from one window to the next.

GPU time comes in rare windows (one H200 for at most 15 minutes, 10 minutes per command, a bare machine each time,
64 MiB in, 8 files of 16 MiB out). A campaign *round* is one such command (``tools/campaign.py round``):

1. unpack the packed Human3.6M copy (``--packed``; ../shared/data/h36m-packed, carried in a git-ignored folder);
2. start from the campaign weights committed in the repository (``weights/campaign/lifter_campaign.pt``), or from
   scratch when there are none or when the recipe's model differs from theirs; weights only: the optimizer state
   cannot come back, so every round is a warm restart;
3. train the campaign recipe (``campaign.toml``'s ``recipe``, default ``campaign-lifter``) for a fixed wall-clock
   budget with the ``cosine-time`` schedule: a short linear warm-up (fresh AdamW moments), then a cosine to
   ``min_lr`` exactly when the budget ends. The peak learning rate falls by ``lr_decay_per_round`` each round (not
   below ``lr_floor_fraction`` of the recipe's): early rounds explore, later ones refine (SGDR-like restarts). Fp16
   weights are written to the output folder at every checkpoint, so a round killed at the time limit still returns
   something;
4. evaluate on the GPU: the quick subset with SH and GT input, then the full protocol when the time left allows;
5. write ``lifter_campaign.pt`` (fp16 weights, split into 16 MiB parts if ever needed), ``round.json`` (figures)
   and ``metrics.jsonl`` to the output folder.

Back on the development machine ``tools/campaign.py ingest DIR`` checks the files, puts the weights in
``weights/campaign/``, appends a ``[[round]]`` row to ``weights/campaign.toml`` (the campaign log: date, GPU
seconds, steps, figures) and says whether the round beats the default lifter on the full protocol (SH and GT);
``--promote`` then makes it the default (``promote``: weights copied to ``weights/lifter_h36m.pt``, manifest entry,
weights/eval JSONs).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mbcli.errors import ConfigError, TrainingError
from mbcli.fsutil import atomic_path
from mbcli.model import preset
from mbcli.model.checkpoint import load_checkpoint, save_weights
from mbcli.train.recipe import Recipe, load_recipe, with_overrides
from mbcli.weights import weights_dir

LOG_FILE = "campaign.toml"
WEIGHTS_FILE = "campaign/lifter_campaign.pt"
ROUND_FILE = "round.json"
PROMOTED_NAME = "lifter-h36m"
PROMOTED_FILE = "lifter_h36m.pt"
QUICK_FULL_RATIO = 525327 / 17700  # full-protocol frames over quick-subset frames (SH input)


@dataclasses.dataclass(frozen=True)
class CampaignSpec:
    """The ``[campaign]`` table of weights/campaign.toml."""

    recipe: str = "campaign-lifter"
    lr_decay_per_round: float = 0.7
    lr_floor_fraction: float = 0.15


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_log(folder: Path | None = None) -> tuple[CampaignSpec, list[dict]]:
    """(spec, rounds) from ``folder``/campaign.toml (weights/ by default); defaults and no rounds when absent."""
    path = (folder or weights_dir()) / LOG_FILE
    if not path.is_file():
        return CampaignSpec(), []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"campaign log {path} is not valid TOML: {e}") from None
    known = {f.name for f in dataclasses.fields(CampaignSpec)}
    table = data.get("campaign", {})
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]} in [campaign] of {path} (valid: {', '.join(sorted(known))})")
    return CampaignSpec(**table), list(data.get("round", []))


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v} to TOML")
        return repr(round(v, 6))
    return json.dumps(str(v))  # a TOML basic string is a JSON string for the characters we write


def append_round(row: dict, folder: Path | None = None) -> Path:
    """Append ``row`` (flat: str, int, float, bool) as a ``[[round]]`` table to the campaign log, atomically."""
    path = (folder or weights_dir()) / LOG_FILE
    text = path.read_text() if path.is_file() else (
        "# The lifter training campaign (mbcli/train/campaign.py, tools/campaign.py): one [[round]] per GPU window,\n"
        "# appended by `tools/campaign.py ingest`. gpu_seconds: device time the window cost (start-up included when\n"
        "# known); command_seconds: the round's own command; figures in mm (Human3.6M S9+S11, flip TTA).\n"
        "[campaign]\n" + "".join(f"{f.name} = {_toml_value(getattr(CampaignSpec(), f.name))}\n"
                                 for f in dataclasses.fields(CampaignSpec)))
    block = "\n[[round]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in row.items() if v is not None)
    with atomic_path(path) as tmp:
        tmp.write_text(text.rstrip("\n") + "\n" + block)
    tomllib.loads(path.read_text())  # what we wrote must read back
    return path


def peak_lr(recipe: Recipe, spec: CampaignSpec, rounds_done: int) -> float:
    """The round's peak learning rate: the recipe's, times lr_decay_per_round per earlier round of this model, not
    below lr_floor_fraction of it."""
    return recipe.lr * max(spec.lr_floor_fraction, spec.lr_decay_per_round ** rounds_done)


def unpack(packed: Path, dest: Path) -> Path:
    """Rebuild the Human3.6M files from the packed copy (its own unpack.py, bit-exact) into ``dest``."""
    script = packed / "unpack.py"
    if not script.is_file():
        raise ConfigError(f"{packed} is not the packed Human3.6M copy (no unpack.py)")
    r = subprocess.run([sys.executable, str(script), str(dest)], capture_output=True, text=True)
    if r.returncode:
        raise ConfigError(f"unpacking {packed} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return dest


def _eval(weights: Path, device: str, input: str, quick: bool, data_dir: str | None) -> dict:
    from mbcli.inference.predictors import Lifter, LiftOptions
    from mbcli.train.evaluate import evaluate

    model, _ = load_checkpoint(weights)
    model = model.to(device)
    L = model.config.maxlen
    lifter = Lifter(model, device, LiftOptions(window=L, stride=max(1, L // 3), flip=True, batch_size=64))
    t = time.monotonic()
    first: list[float] = []

    def on_progress(done: int, total: int) -> None:
        if not first:
            first.append(time.monotonic())

    res = evaluate(lifter, input, quick, data_dir, on_progress=on_progress)
    end = time.monotonic()
    load = (first[0] - t) if first else 0.0
    return {**res.to_dict(), "seconds": round(end - t, 1), "load_seconds": round(load, 1)}


def _full_estimate(quick: dict) -> float:
    """Seconds a full-protocol evaluation should take, from the quick one: four cameras to load instead of one,
    ~30x the frames to lift (the first sequence's time is counted as loading)."""
    return 4 * quick["load_seconds"] + (quick["seconds"] - quick["load_seconds"]) * QUICK_FULL_RATIO * 1.2 + 10


def run_round(out: Path, budget_minutes: float, device: str = "auto", packed: Path | None = None,
              data_dir: str | None = None, deadline_minutes: float = 9.3, full: bool = True,
              folder: Path | None = None, recipe_sets: tuple[str, ...] = (),
              log: Callable[[str], None] = print) -> dict:
    """One campaign round (module docstring); returns the round's record (also written to ``out``/round.json)."""
    t0 = time.monotonic()
    folder = folder or weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    spec, rounds = read_log(folder)
    recipe = with_overrides(load_recipe(spec.recipe), recipe_sets)
    tmp = Path(tempfile.mkdtemp(prefix="mbcli-campaign-"))
    if packed is not None:
        data_dir = str(unpack(packed, tmp / "h36m"))
        log(f"unpacked Human3.6M into {data_dir} ({time.monotonic() - t0:.0f} s)")
    cfg = preset(recipe.model.preset, **{**recipe.model.overrides, "output_units": "m"})
    init = folder / WEIGHTS_FILE
    same = [r for r in rounds if r.get("model") == json.dumps(cfg.to_dict(), sort_keys=True)]
    init_sha = "scratch"
    if init.is_file() and same:
        model, _ = load_checkpoint(init)
        if model.config == cfg:
            init_sha = _sha256(init)
    lr = peak_lr(recipe, spec, len(same) if init_sha != "scratch" else 0)
    recipe = dataclasses.replace(recipe, data_dir=data_dir or recipe.data_dir, lr=lr, lr_schedule="cosine-time",
                                 max_minutes=budget_minutes, steps=10 ** 9,
                                 init_from=str(init) if init_sha != "scratch" else None)
    log(f"round {len(rounds) + 1}: {recipe.name}, from {init_sha[:12]}, peak lr {lr:.2e}, {budget_minutes} min")
    weights = out / Path(WEIGHTS_FILE).name
    meta = {"campaign_round": len(rounds) + 1, "recipe": recipe.name, "init": init_sha}
    training = [True]

    def export(ckpt: Path) -> None:
        """fp16 weights of a checkpoint into ``out``, with a round.json that can be ingested should the command be
        cut short from here on."""
        model, m = load_checkpoint(ckpt)
        save_weights(weights, model, {**m, **meta})
        record["steps"], record["weights_sha256"] = int(m.get("step", 0)), _sha256(weights)
        _write_record(out, {**record, "status": "cut short"} if training[0] else record, t0)

    record: dict = {"round": len(rounds) + 1, "recipe": recipe.name, "init": init_sha, "lr_peak": lr,
                    "budget_minutes": budget_minutes, "model": json.dumps(cfg.to_dict(), sort_keys=True),
                    "device": torch.cuda.get_device_name() if torch.cuda.is_available() and device != "cpu"
                    else "cpu", "status": "ok"}
    from mbcli.train.loop import train

    run_dir = tmp / "run"
    t_train = time.monotonic()
    try:
        ckpt = train(recipe, run_dir, device=device, on_save=export)
    except TrainingError as e:
        record["status"], record["message"] = e.kind, str(e)
        log(f"training stopped: {e}")
        ckpt = run_dir / "last.pt"
    except Exception as e:  # noqa: BLE001 - out of memory, a driver error...: report it with what was saved
        import traceback

        record["status"], record["message"] = "error", f"{type(e).__name__}: {str(e)[:500]}"
        log(traceback.format_exc())
        ckpt = run_dir / "last.pt"
    training[0] = False
    record["train_seconds"] = round(time.monotonic() - t_train, 1)
    rows = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()] if (
        run_dir / "metrics.jsonl").is_file() else []
    if (run_dir / "metrics.jsonl").is_file():
        shutil.copy(run_dir / "metrics.jsonl", out / "metrics.jsonl")
    if not ckpt.is_file():
        record["status"] = "failed" if record["status"] == "ok" else record["status"]
        _write_record(out, record, t0)
        return record
    obj = torch.load(ckpt, map_location="cpu", weights_only=False)
    record["steps"] = int(obj["step"])
    record["frames_per_s"] = round(record["steps"] * recipe.batch_size * min(recipe.clip_len, cfg.maxlen)
                                   / max(float(obj["meta"].get("train_seconds", 1.0)), 1e-9))
    if rows:
        last_val = [r for r in rows if "val_mpjpe_mm_gt2d" in r]
        if last_val:
            record["val_mpjpe_mm_gt2d"] = round(last_val[-1]["val_mpjpe_mm_gt2d"], 2)
    export(ckpt)
    record["weights_sha256"] = _sha256(weights)
    torch.backends.cuda.matmul.allow_tf32 = False  # evaluate in true float32, as on a CPU
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if device != "cpu" and torch.cuda.is_available() else "cpu"
    _write_record(out, record, t0)
    for part, inp in (("quick", "sh"), ("quick", "gt"), ("full", "sh"), ("full", "gt")):
        if part == "full":
            left = deadline_minutes * 60 - (time.monotonic() - t0)
            quick = record.get(f"quick_{inp}", {})
            need = _full_estimate(quick) if "seconds" in quick else math.inf
            if not full or left < need:
                log(f"full protocol ({inp}) skipped: {left:.0f} s left, about {need:.0f} s needed")
                continue
        try:
            r = _eval(weights, dev, inp, part == "quick", recipe.data_dir)
        except Exception as e:  # noqa: BLE001 - keep the weights and the other figures
            record[f"{part}_{inp}"] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            log(f"{part} {inp}: evaluation failed: {e}")
        else:
            record[f"{part}_{inp}"] = r
            log(f"{part} {inp}: {r['protocol1_mpjpe_mm']:.1f} / {r['protocol2_pmpjpe_mm']:.1f} mm ({r['seconds']} s)")
        _write_record(out, record, t0)  # what is measured is kept, should the command be cut short
    shutil.rmtree(tmp, ignore_errors=True)
    return record


def _write_record(out: Path, record: dict, t0: float) -> None:
    record["command_seconds"] = round(time.monotonic() - t0, 1)
    record["date"] = datetime.date.today().isoformat()
    with atomic_path(out / ROUND_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


# ------------------------------------------------------------------------------------------ back home


def _figures(record: dict) -> dict:
    row = {}
    for part in ("quick", "full"):
        for inp in ("sh", "gt"):
            r = record.get(f"{part}_{inp}")
            if r and "protocol1_mpjpe_mm" in r:
                row[f"{part}_{inp}_mpjpe_mm"] = r["protocol1_mpjpe_mm"]
                row[f"{part}_{inp}_pmpjpe_mm"] = r["protocol2_pmpjpe_mm"]
    return row


def beats_default(record: dict) -> tuple[bool, str]:
    """Whether the round's full-protocol MPJPE beats the default lifter's, with SH and with GT input."""
    from mbcli.weights import DEFAULT_LIFTER, entry

    if not all("protocol1_mpjpe_mm" in record.get(k, {}) for k in ("full_sh", "full_gt")):
        return False, "no full-protocol figures in this round (run mbcli eval on its weights, SH and GT)"
    e = entry(DEFAULT_LIFTER)
    sh, gt = record["full_sh"]["protocol1_mpjpe_mm"], record["full_gt"]["protocol1_mpjpe_mm"]
    d_sh, d_gt = float(e["eval_full_sh_mpjpe_mm"]), float(e["eval_full_gt_mpjpe_mm"])
    ok = sh < d_sh and gt < d_gt
    return ok, (f"full protocol SH {sh:.1f} mm vs the default {e['name']}'s {d_sh:.1f}, GT {gt:.1f} vs {d_gt:.1f}: "
                + ("better, promote it" if ok else "not better on both, keep the default"))


def _weight_files(path: Path) -> list[Path]:
    """A weights file and the parts it lists (checkpoint.save_weights)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return [path, *(path.parent / p["file"] for p in obj.get("shards") or [])]


def ingest(round_dir: Path, gpu_seconds: float | None = None, folder: Path | None = None, force: bool = False) -> dict:
    """Take a round's files (round.json, lifter_campaign.pt) into the repository's campaign: weights into
    weights/campaign/, a row into weights/campaign.toml. Returns the row. A round that ended collapsed, diverged or
    in an error is refused unless ``force`` (its weights are the last checkpoint before the failure)."""
    folder = folder or weights_dir()
    rec_path = round_dir / ROUND_FILE
    if not rec_path.is_file():
        raise ConfigError(f"{round_dir} holds no {ROUND_FILE}: not the output of a campaign round")
    record = json.loads(rec_path.read_text())
    src = round_dir / Path(WEIGHTS_FILE).name
    if record.get("weights_sha256") is None or not src.is_file():
        raise ConfigError(f"round {record.get('round')} produced no weights ({record.get('message', 'see round.json')})")
    if _sha256(src) != record["weights_sha256"]:
        raise ConfigError(f"{src} does not match the sha256 in {rec_path}: the transfer was cut short")
    if record.get("status") not in ("ok", "stalled", "cut short") and not force:
        raise ConfigError(f"round {record.get('round')} ended {record.get('status')} ({record.get('message', '')}); "
                          "not ingested (--force keeps its last checkpoint's weights)")
    _, rounds = read_log(folder)
    if any(r.get("weights_sha256") == record["weights_sha256"] for r in rounds):
        raise ConfigError(f"round with weights {record['weights_sha256'][:12]} is already in the campaign log")
    load_checkpoint(src)  # loads, and reads and checks its parts if it has any
    dest = folder / WEIGHTS_FILE
    dest.parent.mkdir(parents=True, exist_ok=True)
    for old in dest.parent.glob(f"{dest.stem}*{dest.suffix}"):
        old.unlink()
    for f in _weight_files(src):
        shutil.copy(f, dest.parent / f.name)
    rows_dir = folder / "campaign" / "rounds"
    rows_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(rec_path, rows_dir / f"round-{int(record['round']):03d}.json")
    row = {"round": int(record["round"]), "date": record.get("date"), "device": record.get("device"),
           "gpu_seconds": float(gpu_seconds) if gpu_seconds is not None else record.get("command_seconds"),
           "command_seconds": record.get("command_seconds"), "train_seconds": record.get("train_seconds"),
           "steps": record.get("steps"), "frames_per_s": record.get("frames_per_s"), "lr_peak": record.get("lr_peak"),
           "recipe": record.get("recipe"), "init": record.get("init"), "status": record.get("status"),
           "weights_sha256": record["weights_sha256"], "model": record.get("model"), **_figures(record)}
    append_round(row, folder)
    return row


# ------------------------------------------------------------------------------------------ promotion


def _manifest_with_entry(text: str, name: str, fields: dict) -> str:
    """The manifest text with the [[model]] entry ``name`` replaced by (or, when absent, inserted as) ``fields``,
    placed after the last lifter entry; every other lifter loses ``default = true`` when ``fields`` has it."""
    import re

    block = "[[model]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items() if v is not None)
    chunks = re.split(r"(?m)^(?=\[\[model\]\]\n|# ----)", text)
    out, placed, last_lifter = [], False, -1
    for c in chunks:
        if c.startswith("[[model]]\n") and re.search(rf'(?m)^name = "{re.escape(name)}"$', c):
            out.append(block + "\n")
            placed = True
            continue
        if c.startswith("[[model]]\n") and re.search(r'(?m)^kind = "lifter"$', c):
            if fields.get("default"):
                c = re.sub(r"(?m)^default = true$", "default = false", c)
            last_lifter = len(out)
        out.append(c)
    if not placed:
        out.insert(last_lifter + 1 if last_lifter >= 0 else len(out), block + "\n")
    new = "".join(out)
    models = tomllib.loads(new)["model"]
    defaults = [m["name"] for m in models if m.get("kind") == "lifter" and m.get("default")]
    if fields.get("default") and defaults != [name]:
        raise ConfigError(f"manifest edit left lifter defaults {defaults}")
    return new


def promote(round_no: int | None = None, folder: Path | None = None, device: str = "cpu",
            data_dir: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Make the campaign weights of round ``round_no`` (the latest ingested one by default, which must be the one
    in weights/campaign/) the default lifter: weights/lifter_h36m.pt, its manifest entry (full-protocol figures from
    the round, quick figures re-measured here on ``device`` as CI measures them), weights/eval JSONs."""
    from mbcli.inference.predictors import Lifter, LiftOptions
    from mbcli.skeletons import H36M17
    from mbcli.train.data import load_h36m
    from mbcli.types import Keypoints2D

    folder = folder or weights_dir()
    _, rounds = read_log(folder)
    if not rounds:
        raise ConfigError("the campaign log has no rounds to promote")
    row = rounds[-1] if round_no is None else next((r for r in rounds if r["round"] == round_no), None)
    if row is None:
        raise ConfigError(f"no round {round_no} in the campaign log")
    src = folder / WEIGHTS_FILE
    if not src.is_file() or _sha256(src) != row["weights_sha256"]:
        raise ConfigError(f"weights/{WEIGHTS_FILE} is not round {row['round']}'s (only the latest ingested round "
                          "can be promoted)")
    record = json.loads((folder / "campaign" / "rounds" / f"round-{int(row['round']):03d}.json").read_text())
    if not (record.get("full_sh") and record.get("full_gt")):
        raise ConfigError(f"round {row['round']} has no full-protocol figures: promotion needs them")
    model, meta = load_checkpoint(src)
    dest = folder / PROMOTED_FILE
    staged = Path(tempfile.mkdtemp(prefix="mbcli-promote-"))  # the default's files move in at the very end
    new_files = save_weights(staged / PROMOTED_FILE, model, {**meta, "promoted_from_round": int(row["round"])})
    L = model.config.maxlen
    quick = {}
    from mbcli.train.evaluate import evaluate

    for inp in ("sh", "gt"):
        lifter = Lifter(model, device, LiftOptions(window=L, stride=max(1, L // 3), flip=True, batch_size=16))
        quick[inp] = evaluate(lifter, inp, True, data_dir).to_dict()
        log(f"quick {inp} on {device}: {quick[inp]['protocol1_mpjpe_mm']} mm")
    walk = None  # the S9 Walking error of tests/test_lifter_real.py, whose limit the manifest records
    seq = next((s for s in load_h36m(data_dir, ("S9",), cameras=(1,)) if s.action == "Walking"), None)
    if seq is not None:
        T = 300
        kp = Keypoints2D(seq.xy_gt[:T], np.ones((T, 17), np.float32), np.arange(T), H36M17, seq.image_size, 50.0)
        pred = Lifter(model, device, LiftOptions(window=L, stride=9)).lift(kp).xyz
        walk = float(np.linalg.norm(pred - (seq.xyz_camera[:T] - seq.xyz_camera[:T, :1]), axis=-1).mean() * 1000)
    c = model.config
    rounds_same = [r for r in rounds if r.get("model") == row.get("model") and r["round"] <= row["round"]]
    fields = {
        "name": PROMOTED_NAME, "kind": "lifter", "default": True, "file": PROMOTED_FILE,
        "sha256": _sha256(new_files[0]),
        "source": f"trained by mbcli's GPU campaign (tools/campaign.py), rounds "
                  f"{', '.join(str(r['round']) for r in rounds_same)} of recipe {row.get('recipe')}; "
                  f"weights of round {row['round']} in float16",
        "licence": "research and non-commercial use only (trained on Human3.6M, whose licence is academic and "
                   "non-commercial)",
        "architecture": f"DSTformer, dim_feat {c.dim_feat}, depth {c.depth}, {c.num_heads} heads, mlp_ratio "
                        f"{c.mlp_ratio:g}, dim_rep {c.dim_rep}, maxlen {c.maxlen}; "
                        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters",
        "recipe": f"mbcli/train/recipes/{row.get('recipe')}.yaml, in rounds (weights/campaign.toml)",
        "steps": int(sum(r.get("steps") or 0 for r in rounds_same)),
        "gpu_minutes": round(sum(float(r.get("gpu_seconds") or 0) for r in rounds_same) / 60, 1),
        "cpu_minutes": 0,
        "output": "root-relative 3D joints in metres, camera frame (x right, y down, z forward), h36m17",
        "notes": "full-protocol figures measured on the GPU of the round in float32 (TF32 off); quick figures "
                 "measured on the CPU at promotion (mbcli eval --quick)",
        "eval_full_sh_mpjpe_mm": record["full_sh"]["protocol1_mpjpe_mm"],
        "eval_full_sh_pmpjpe_mm": record["full_sh"]["protocol2_pmpjpe_mm"],
        "eval_full_sh_sequences": record["full_sh"]["sequences"], "eval_full_sh_frames": record["full_sh"]["frames"],
        "eval_full_gt_mpjpe_mm": record["full_gt"]["protocol1_mpjpe_mm"],
        "eval_full_gt_pmpjpe_mm": record["full_gt"]["protocol2_pmpjpe_mm"],
        "eval_full_gt_sequences": record["full_gt"]["sequences"], "eval_full_gt_frames": record["full_gt"]["frames"],
        "eval_quick_sh_mpjpe_mm": quick["sh"]["protocol1_mpjpe_mm"],
        "eval_quick_sh_pmpjpe_mm": quick["sh"]["protocol2_pmpjpe_mm"],
        "eval_quick_gt_mpjpe_mm": quick["gt"]["protocol1_mpjpe_mm"],
        "eval_quick_gt_pmpjpe_mm": quick["gt"]["protocol2_pmpjpe_mm"],
        "eval_quick_definition": "camera 55011271 only, first 300 frames of each of the 59 sequences (17,700 frames)",
        "test_walking_gt_mpjpe_limit_mm": float(math.ceil(walk * 1.2)) if walk is not None else None,
    }
    manifest = folder / "manifest.toml"
    new = _manifest_with_entry(manifest.read_text(), PROMOTED_NAME, fields)
    for old in folder.glob(f"{dest.stem}.part*{dest.suffix}"):
        old.unlink()
    for f in new_files:
        shutil.move(f, folder / f.name)
    shutil.rmtree(staged, ignore_errors=True)
    with atomic_path(manifest) as tmp:
        tmp.write_text(new)
    ev = folder / "eval"
    ev.mkdir(exist_ok=True)
    for inp in ("sh", "gt"):
        for suffix, doc in (("", {k: v for k, v in record[f"full_{inp}"].items() if k != "seconds"}),
                            ("_quick", quick[inp])):
            with atomic_path(ev / f"{PROMOTED_NAME}_{inp}{suffix}.json") as tmp:
                tmp.write_text(json.dumps(doc, indent=2) + "\n")
    log(f"promoted round {row['round']} to {PROMOTED_NAME} ({dest.name}); S9 Walking GT {walk} mm")
    return fields
