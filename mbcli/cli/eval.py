"""``mbcli eval``: the standard Human3.6M benchmark (S9, S11; MPJPE and P-MPJPE per action); with ``--task action``
an action checkpoint's top-1/top-5 on Human3.6M, or on NTU RGB+D's test split with ``--ntu PATH [--protocol]``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from mbcli.cli import console as con
from mbcli.cli.main import app, handle_errors
from mbcli.weights import DEFAULT_ACTION, DEFAULT_LIFTER

ZERO_SHOT_HOLDOUT = ("08", "13")  # = train.evaluate_action.ZERO_SHOT_HOLDOUT (not imported: keeps --help fast)


@app.command("eval")
@handle_errors
def eval_(
    weights: str = typer.Option(DEFAULT_LIFTER, help="Lifter weights: manifest name or checkpoint file (--task "
                                "action / zeroshot: the shipped action model, action-default, unless given)."),
    weights_config: str = typer.Option(None, help="base or lite, for MotionBERT checkpoint files."),
    input: str = typer.Option("sh", "--input", help="sh (Stacked Hourglass detections, the headline) or gt "
                              "(projected ground truth)."),
    quick: bool = typer.Option(False, "--quick", help="Fixed subset (one camera, first 300 frames per sequence)."),
    data: Path = typer.Option(None, "--data", help="Folder laid out like ../shared/data/h36m (default: that one)."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Flip test-time augmentation."),
    stride: int = typer.Option(None, help="Window stride (default: a third of the model's window)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    json_out: Path = typer.Option(None, "--json", help="Also write the result as JSON to this path."),
    task: str = typer.Option("pose", "--task", help="pose (MPJPE), action (cross-subject top-1/top-5 of an action "
                             "checkpoint given with --weights) or zeroshot (a text-aligned checkpoint on held-out CMU "
                             "subjects, their descriptions as labels)."),
    holdout: str = typer.Option(",".join(ZERO_SHOT_HOLDOUT), "--holdout",
                                help="--task zeroshot: the CMU subjects the model was not trained on."),
    ntu: Path = typer.Option(None, "--ntu", help="--task action on NTU RGB+D instead of Human3.6M: pyskl's "
                             "ntu60_hrnet.pkl / ntu120_hrnet.pkl or a folder of .skeleton files."),
    protocol: str = typer.Option(None, "--protocol", help="--ntu: the split whose test part is scored, xsub "
                                 "(default), xview or xset."),
) -> None:
    """Evaluate a lifter on Human3.6M S9 and S11 (59 of the 60 sequences exist in the shared data)."""
    from mbcli.export import write_atomic

    if (ntu is not None or protocol is not None) and task != "action":
        from mbcli.errors import ConfigError

        raise ConfigError(f"--{'ntu' if ntu is not None else 'protocol'} goes with --task action, not --task {task}")
    if task == "action" and (ntu is not None or protocol is not None):
        if ntu is None:
            from mbcli.errors import ConfigError

            raise ConfigError("--protocol needs --ntu PATH (the NTU RGB+D data to score)")
        _eval_action_ntu(weights, ntu, protocol or "xsub", device, json_out)
        return
    if task in ("action", "zeroshot") and weights == DEFAULT_LIFTER:
        weights = DEFAULT_ACTION
    if task == "action":
        _eval_action(weights, input, quick, data, device, json_out)
        return
    if task == "zeroshot":
        _eval_zero_shot(weights, holdout, device, json_out)
        return
    if task != "pose":
        from mbcli.errors import ConfigError

        raise ConfigError(f"--task must be pose, action or zeroshot, got {task!r}")
    from mbcli.inference.predictors import Lifter, LiftOptions
    from mbcli.model import load_model, resolve_device
    from mbcli.train.evaluate import evaluate

    dev = resolve_device(device)
    model = load_model(weights, device=str(dev), config=weights_config)
    L = model.config.maxlen
    lifter = Lifter(model, dev, LiftOptions(window=L, stride=stride or max(1, L // 3), flip=flip, batch_size=16))
    with con.stage_progress() as on_progress:
        res = evaluate(lifter, input, quick, str(data) if data else None,
                       on_progress=(lambda d, t: on_progress("eval", d, t)) if on_progress else None)
    d = res.to_dict()
    table = Table(title=f"Human3.6M S9+S11, input {input}{' (quick subset)' if quick else ''}: "
                        f"{res.sequences} sequences, {res.frames} frames")
    for col in ("action", "MPJPE (mm)", "P-MPJPE (mm)"):
        table.add_column(col, justify="right" if "mm" in col else "left")
    for a, v in d["per_action"].items():
        table.add_row(a, f"{v['mpjpe_mm']:.1f}", f"{v['pmpjpe_mm']:.1f}")
    table.add_row("[bold]average", f"[bold]{res.protocol1_mpjpe_mm:.1f}", f"[bold]{res.protocol2_pmpjpe_mm:.1f}")
    con.out.print(table)
    if json_out:
        write_atomic(json_out, json.dumps(d, indent=2) + "\n")


def _eval_action(weights: str, input: str, quick: bool, data: Path | None, device: str, json_out: Path | None) -> None:
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.evaluate_action import evaluate_action

    dev = resolve_device(device)
    model, _ = load_action_model(weights)
    with con.stage_progress() as on_progress:
        res = evaluate_action(model, input, quick, str(data) if data else None, device=str(dev),
                              on_progress=(lambda d, t: on_progress("eval", d, t)) if on_progress else None)
    _print_accuracy(f"Human3.6M action recognition, S9+S11, input {input}{' (quick subset)' if quick else ''}: "
                    f"{res.sequences} sequences, {res.windows} windows", "action", "sequences", res, json_out)


def _eval_action_ntu(weights: str, path: Path, protocol: str, device: str, json_out: Path | None) -> None:
    from mbcli.errors import ConfigError
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.evaluate_action import evaluate_action_ntu

    if protocol not in ("xsub", "xview", "xset"):
        raise ConfigError(f"--protocol must be xsub, xview or xset, got {protocol!r}")
    dev = resolve_device(device)
    model, meta = load_action_model(weights)
    trained = meta.get("ntu_protocol")
    if trained and trained != protocol:
        con.warn(f"{weights} was trained on the {trained} split, not {protocol}: its test samples may include "
                 f"training samples")
    with con.stage_progress() as on_progress:
        res = evaluate_action_ntu(model, path, protocol, num_people=int(meta.get("num_people") or 2),
                                  device=str(dev),
                                  on_progress=(lambda d, t: on_progress("eval", d, t)) if on_progress else None)
    _print_accuracy(f"NTU RGB+D {res.num_classes} action recognition, {protocol} test split: {res.samples} samples, "
                    f"{res.windows} windows", "class", "samples", res, json_out)


def _print_accuracy(title: str, what: str, unit: str, res, json_out: Path | None) -> None:
    """Per-class top-1 rows, then the overall top-1 / top-5 / window top-1 row (H36M and NTU evaluations)."""
    d = res.to_dict()
    per = d.get("per_action_top1_percent", d.get("per_class_top1_percent", {}))
    _print_scores(title, [what, "top-1 (%)"], [[a, f"{v:.1f}"] for a, v in per.items()],
                  [f"[bold]all {unit}", f"[bold]top-1 {res.top1:.1f}, top-5 {res.top5:.1f} "
                   f"(windows: top-1 {res.window_top1:.1f})"], d, json_out)


def _print_scores(title: str, columns: list[str], rows: list[list[str]], total: list[str], doc: dict,
                  json_out: Path | None) -> None:
    """The per-class table of an action evaluation (column 2 right-aligned), then the JSON file if asked."""
    from mbcli.export import write_atomic

    table = Table(title=title)
    for i, c in enumerate(columns):
        table.add_column(c, justify="right" if i == 1 else "left")
    for r in [*rows, total]:
        table.add_row(*r)
    con.out.print(table)
    if json_out:
        write_atomic(json_out, json.dumps(doc, indent=2) + "\n")


def _eval_zero_shot(weights: str, holdout: str, device: str, json_out: Path | None) -> None:
    from mbcli.errors import ConfigError
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.cmu import cmu_subjects
    from mbcli.train.evaluate_action import evaluate_zero_shot_cmu

    dev = resolve_device(device)
    model, meta = load_action_model(weights)
    subjects = tuple(h.strip() for h in holdout.split(",") if h.strip())
    if model.head.embed is None:
        raise ConfigError(f"{weights} has no text-space embedding (train it with text_align > 0)")
    held = meta.get("cmu_holdout")
    if held is not None and meta.get("cmu_fraction", 0) > 0 and cmu_subjects(held) != cmu_subjects(subjects,
                                                                                                  "--holdout"):
        con.warn(f"{weights} was trained holding out CMU subjects {', '.join(held) or 'none'}, "
                 f"not {', '.join(subjects)}: the result is not zero-shot")
    with con.stage_progress() as on_progress:
        res = evaluate_zero_shot_cmu(model, subjects, device=str(dev), seen_labels=meta.get("label_bank"),
                                     on_progress=(lambda d, t: on_progress("eval", d, t)) if on_progress else None)
    d = res.to_dict()
    _print_scores(f"Zero-shot on CMU subjects {', '.join(res.holdout)}: {res.sequences} sequences, "
                  f"{len(res.labels)} candidate descriptions", ["description", "top-1 (%)", "most often predicted"],
                  [[a, f"{v:.1f}", max(res.confusions[a].items(), key=lambda kv: kv[1])[0]]
                   for a, v in d["per_label_top1_percent"].items()],
                  ["[bold]all sequences", f"[bold]top-1 {res.top1:.1f}, top-5 {res.top5:.1f}",
                   f"chance {d['chance_top1_percent']:.1f} / {d['chance_top5_percent']:.1f}"], d, json_out)
    for k, v in sorted(d["by_label_novelty"].items()):
        what = "seen in training (other subjects)" if k == "seen" else "never seen in training"
        con.out.print(f"descriptions {what}: {v['sequences']} sequences, top-1 {v['top1_percent']:.1f}, "
                      f"top-5 {v['top5_percent']:.1f} ({', '.join(v['labels'])})")
