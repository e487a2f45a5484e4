"""The four evaluations ``mbcli eval`` runs, each from weights to a result object (warnings for the user go to
``on_warning`` before the evaluation starts):
Human3.6M 3D pose (``pose``), Human3.6M action recognition (``action``), NTU RGB+D action recognition
(``action`` with an NTU path) and zero-shot CMU descriptions (``zeroshot``). The CLI only validates and prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mbcli.errors import ConfigError
from mbcli.train.evaluate import EvalResult
from mbcli.train.evaluate_action import ActionEvalResult, NtuActionEvalResult, ZeroShotResult
from mbcli.train.evaluate_world import WorldEvalResult

TASKS = ("pose", "action", "zeroshot", "world")
NTU_PROTOCOLS = ("xsub", "xview", "xset")
StepFn = Callable[[int, int], None]
WarnFn = Callable[[str], None]


def _eval_lifter(weights: str, weights_config: str | None, flip: bool, stride: int | None, device: str,
                 default_stride: Callable[[int], int]):
    from mbcli.inference.predictors import Lifter, LiftOptions
    from mbcli.model import load_model, resolve_device

    if stride is not None and stride < 1:
        raise ConfigError(f"--stride must be at least 1, got {stride}")
    dev = resolve_device(device)
    model = load_model(weights, device=str(dev), config=weights_config)
    L = model.config.maxlen
    return Lifter(model, dev, LiftOptions(window=L, stride=stride or default_stride(L), flip=flip, batch_size=16))


def eval_pose(weights: str, weights_config: str | None, input: str, quick: bool, data: Path | None, flip: bool,
              stride: int | None, device: str, on_step: StepFn | None = None) -> EvalResult:
    """MPJPE / P-MPJPE on S9+S11 with the model's whole window and a third of it as stride (unless given)."""
    from mbcli.train.evaluate import evaluate

    lifter = _eval_lifter(weights, weights_config, flip, stride, device, lambda L: max(1, L // 3))
    return evaluate(lifter, input, quick, str(data) if data else None, on_progress=on_step)


def eval_world(weights: str, weights_config: str | None, input: str, quick: bool, data: Path | None, flip: bool,
               stride: int | None, device: str, on_step: StepFn | None = None) -> WorldEvalResult:
    """Root trajectory, floor, contacts and skate on S9+S11 (train/evaluate_world.py), lifting with the windows
    mbcli lift uses (stride two thirds of the window unless given)."""
    from mbcli.inference.predictors import default_stride
    from mbcli.train.evaluate_world import evaluate_world

    lifter = _eval_lifter(weights, weights_config, flip, stride, device, default_stride)
    return evaluate_world(lifter, input, quick, str(data) if data else None, on_progress=on_step)


def eval_action(weights: str, input: str, quick: bool, data: Path | None, device: str,
                on_step: StepFn | None = None) -> ActionEvalResult:
    """Cross-subject top-1 / top-5 of an action checkpoint on Human3.6M."""
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.evaluate_action import evaluate_action

    dev = resolve_device(device)
    model, _ = load_action_model(weights)
    return evaluate_action(model, input, quick, str(data) if data else None, device=str(dev), on_progress=on_step)


def eval_action_ntu(weights: str, path: Path, protocol: str, device: str, on_step: StepFn | None = None,
                    on_warning: WarnFn | None = None) -> NtuActionEvalResult:
    """Top-1 / top-5 on the test part of an NTU RGB+D split; warns (before evaluating) when the model was trained
    on another split."""
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.evaluate_action import evaluate_action_ntu

    if protocol not in NTU_PROTOCOLS:
        raise ConfigError(f"--protocol must be xsub, xview or xset, got {protocol!r}")
    dev = resolve_device(device)
    model, meta = load_action_model(weights)
    trained = meta.get("ntu_protocol")
    if trained and trained != protocol and on_warning:
        on_warning(f"{weights} was trained on the {trained} split, not {protocol}: its test samples may include "
                   f"training samples")
    return evaluate_action_ntu(model, path, protocol, num_people=int(meta.get("num_people") or 2), device=str(dev),
                               on_progress=on_step)


def eval_zero_shot(weights: str, holdout: tuple[str, ...], device: str, on_step: StepFn | None = None,
                   on_warning: WarnFn | None = None) -> ZeroShotResult:
    """Held-out CMU subjects scored against all CMU descriptions; warns (before evaluating) when the model saw
    those subjects."""
    from mbcli.model import resolve_device
    from mbcli.model.action import load_action_model
    from mbcli.train.cmu import cmu_subjects
    from mbcli.train.evaluate_action import evaluate_zero_shot_cmu

    dev = resolve_device(device)
    model, meta = load_action_model(weights)
    if model.head.embed is None:
        raise ConfigError(f"{weights} has no text-space embedding (train it with text_align > 0)")
    held = meta.get("cmu_holdout")
    if (on_warning and held is not None and meta.get("cmu_fraction", 0) > 0
            and cmu_subjects(held) != cmu_subjects(holdout, "--holdout")):
        on_warning(f"{weights} was trained holding out CMU subjects {', '.join(held) or 'none'}, "
                   f"not {', '.join(holdout)}: the result is not zero-shot")
    return evaluate_zero_shot_cmu(model, holdout, device=str(dev), seen_labels=meta.get("label_bank"),
                                  on_progress=on_step)
