"""Human3.6M cross-subject action recognition: top-1 / top-5 accuracy of an action model on S9 and S11.

Train subjects S1 S5 S6 S7 S8 (the action recipe), test S9 S11, 15 actions (labels.H36M_ACTIONS). Input: the
Stacked Hourglass detections ("sh", the headline: detected 2D) or the projected ground truth ("gt"), confidence 1.
Each camera sequence is cut into windows of the model's length L taken every ``step`` frames (2: 25 fps, the middle
of the training strides), starting every L*step/2 frames (half overlap) plus one ending on the last frame: the
windows of ``mbcli action`` (inference/action.window_starts); each window is crop-normalised like any
video window; the sequence's prediction is the mean of its windows' class probabilities. Reported: sequence-level
top-1 and top-5 (the headline), window-level top-1, per-action sequence top-1. ``quick=True``: camera 55011271 only,
first 300 frames of each sequence (59 sequences, 6 s each), the pose evaluation's quick subset.

NTU RGB+D (``evaluate_action_ntu``): every test sample of a protocol (xsub, xview, xset) of a pyskl pickle or
.skeleton folder, cut into the windows of ``mbcli action`` at step 1 (30 fps), every person of the sample over the
same frames under one common crop (train/ntu_sampler.ntu_windows); the sample's prediction is the mean of its
windows' class probabilities. Reported: top-1 / top-5 over samples (the headline), window top-1, per-class top-1.

Zero-shot (``evaluate_zero_shot_cmu``): a text-aligned model on CMU subjects its training left out (the recipes'
``cmu_holdout``: 08 and 13), every distinct CMU description as a label, no classifier involved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mbcli.errors import ConfigError
from mbcli.inference.action import window_starts
from mbcli.labels import H36M_ACTIONS, ZERO_SHOT_HOLDOUT
from mbcli.model.action import ActionModel
from mbcli.normalize import crop_params, encode
from mbcli.train.data import TEST_SUBJECTS, base_action, load_h36m
from mbcli.train.evaluate import QUICK_CAMERA, QUICK_FRAMES


@dataclass
class ActionEvalResult:
    input: str
    quick: bool
    sequences: int
    windows: int
    top1: float
    top5: float
    window_top1: float
    per_action_top1: dict[str, float]

    def to_dict(self) -> dict:
        return {"input": self.input, "quick": self.quick, "sequences": self.sequences, **_accuracies(self),
                "per_action_top1_percent": {a: round(v, 2) for a, v in sorted(self.per_action_top1.items())}}


def _accuracies(r: ActionEvalResult | NtuActionEvalResult) -> dict:
    return {"windows": r.windows, "top1_percent": round(r.top1, 2), "top5_percent": round(r.top5, 2),
            "window_top1_percent": round(r.window_top1, 2)}


def action_windows(xy: np.ndarray, L: int, step: int = 2) -> np.ndarray:
    """(T,17,2) px -> (W, L, 17, 3) normalised windows (module docstring); a short sequence gives one stretched
    window."""
    T = len(xy)
    conf = np.ones((T, 17), np.float32)
    starts = window_starts(T, L, step)
    if starts:
        idx = [s + step * np.arange(L) for s in starts]
    else:
        idx = [np.round(np.linspace(0, T - 1, L)).astype(int)]
    out = []
    for ix in idx:
        w, c = xy[ix], conf[ix]
        out.append(encode(w, c, crop_params(w, c)))
    return np.stack(out).astype(np.float32)


def evaluate_action(model: ActionModel, input: str = "sh", quick: bool = False, data_dir: str | None = None,
                    step: int = 2, batch_size: int = 256, device: str = "cpu",
                    on_progress: Callable[[int, int], None] | None = None) -> ActionEvalResult:
    if input not in ("sh", "gt"):
        raise ConfigError(f"--input must be sh or gt, got {input!r}")
    if model.head.classifier is None:
        raise ConfigError("this model has no action classifier (train one with task: action)")
    seqs = load_h36m(data_dir, TEST_SUBJECTS, with_sh=input == "sh", cameras=(1,) if quick else (0, 1, 2, 3))
    if quick:
        seqs = [s for s in seqs if s.camera == QUICK_CAMERA]
    L = model.backbone.config.maxlen
    model = model.eval().to(device)
    hit1, hit5, win_hits, wins = 0, 0, 0, 0
    per_action: dict[str, list[bool]] = defaultdict(list)
    for i, s in enumerate(seqs):
        xy = s.xy_2d(input)
        x = action_windows(xy[:QUICK_FRAMES] if quick else xy, L, step)
        probs = []
        with torch.inference_mode():
            for a in range(0, len(x), batch_size):
                logits = model(torch.from_numpy(x[a:a + batch_size]).to(device)).logits
                probs.append(torch.softmax(logits.float(), -1).cpu().numpy())
        p = np.concatenate(probs)
        y = H36M_ACTIONS.index(base_action(s.action))
        order = np.argsort(-p.mean(axis=0))
        hit1 += int(order[0] == y)
        hit5 += int(y in order[:5])
        win_hits += int((p.argmax(-1) == y).sum())
        wins += len(p)
        per_action[H36M_ACTIONS[y]].append(bool(order[0] == y))
        if on_progress:
            on_progress(i + 1, len(seqs))
    n = max(len(seqs), 1)
    return ActionEvalResult(input, quick, len(seqs), wins, 100.0 * hit1 / n, 100.0 * hit5 / n,
                            100.0 * win_hits / max(wins, 1),
                            {a: 100.0 * float(np.mean(v)) for a, v in per_action.items()})




@dataclass
class ZeroShotResult:
    holdout: tuple[str, ...]
    labels: list[str]
    sequences: int
    top1: float
    top5: float
    per_label_top1: dict[str, float]
    confusions: dict[str, dict[str, int]]
    by_label_novelty: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        k = len(self.labels)
        return {"holdout_subjects": list(self.holdout), "labels": self.labels, "sequences": self.sequences,
                "top1_percent": round(self.top1, 2), "top5_percent": round(self.top5, 2),
                "chance_top1_percent": round(100.0 / k, 2), "chance_top5_percent": round(100.0 * min(5, k) / k, 2),
                "by_label_novelty": self.by_label_novelty,
                "per_label_top1_percent": {a: round(v, 2) for a, v in sorted(self.per_label_top1.items())},
                "predicted": self.confusions}


def evaluate_zero_shot_cmu(model: ActionModel, holdout: tuple[str, ...] = ZERO_SHOT_HOLDOUT,
                           cmu_dir: str | None = None, step: int = 2, batch_size: int = 256, device: str = "cpu",
                           text_model: str | None = None, seen_labels: list[str] | None = None,
                           on_progress: Callable[[int, int], None] | None = None) -> ZeroShotResult:
    """Zero-shot action recognition on CMU subjects the model never saw: every held-out (trial, virtual camera)
    sequence, its projected 2D cut into windows like the H36M evaluation, the mean of the windows' motion
    embeddings scored by cosine against the text embeddings of every distinct CMU description (the label set; no
    classifier is involved). A sequence counts as right when its own trial's description ranks first (top-1) or
    among the first five (top-5). ``seen_labels`` (the checkpoint's label bank): the result also splits the
    sequences into those whose description the training aligned on other subjects' clips ("seen") and those whose
    description it never saw ("unseen", zero-shot in the label as well as the subject)."""
    from mbcli.text import load_text_encoder
    from mbcli.train.cmu import cmu_subjects, load_cmu

    if model.head.embed is None:
        raise ConfigError("this model has no text-space embedding (train it with text_align > 0)")
    held = cmu_subjects(holdout, "holdout")
    seqs = load_cmu(cmu_dir)
    labels = sorted({s.label for s in seqs if s.label})
    test = [s for s in seqs if s.subject in held and s.label]
    if not test:
        raise ConfigError(f"no CMU trials with descriptions for subjects {', '.join(sorted(held))}")
    bank = torch.from_numpy(np.asarray(load_text_encoder(text_model).encode(labels), np.float32)).to(device)
    L = model.backbone.config.maxlen
    model = model.eval().to(device)
    hit1, hit5 = 0, 0
    per_label: dict[str, list[bool]] = defaultdict(list)
    novelty: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    confusions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i, s in enumerate(test):
        x = action_windows(s.xy_gt, L, step)
        embs = []
        with torch.inference_mode():
            for a in range(0, len(x), batch_size):
                embs.append(model(torch.from_numpy(x[a:a + batch_size]).to(device)).embedding.float())
        e = torch.nn.functional.normalize(torch.cat(embs).mean(0), dim=0)
        order = torch.argsort(bank @ e, descending=True).cpu().numpy()
        label = s.label
        assert label is not None  # test holds labelled trials only
        y = labels.index(label)
        hit1 += int(order[0] == y)
        hit5 += int(y in order[:5])
        per_label[label].append(bool(order[0] == y))
        if seen_labels is not None:
            novelty["seen" if label in seen_labels else "unseen"].append((bool(order[0] == y), y in order[:5]))
        confusions[label][labels[order[0]]] += 1
        if on_progress:
            on_progress(i + 1, len(test))
    n = len(test)
    split = {k: {"sequences": len(v), "labels": sorted({t for t in per_label if (t in (seen_labels or ())) ==
                                                        (k == "seen")}),
                 "top1_percent": round(100.0 * float(np.mean([a for a, _ in v])), 2),
                 "top5_percent": round(100.0 * float(np.mean([b for _, b in v])), 2)} for k, v in novelty.items()}
    return ZeroShotResult(tuple(sorted(h[3:] for h in held)), labels, n, 100.0 * hit1 / n, 100.0 * hit5 / n,
                          {a: 100.0 * float(np.mean(v)) for a, v in per_label.items()},
                          {k: dict(v) for k, v in confusions.items()}, split)


@dataclass
class NtuActionEvalResult:
    protocol: str
    num_classes: int
    samples: int
    windows: int
    top1: float
    top5: float
    window_top1: float
    per_class_top1: dict[str, float]

    def to_dict(self) -> dict:
        return {"dataset": f"ntu{120 if self.num_classes > 60 else 60}", "protocol": self.protocol,
                "num_classes": self.num_classes, "samples": self.samples, **_accuracies(self),
                "per_class_top1_percent": {a: round(v, 2) for a, v in self.per_class_top1.items()}}


def evaluate_action_ntu(model: ActionModel, path: str | Path, protocol: str = "xsub", step: int = 1,
                        num_people: int = 2, batch_size: int = 256, device: str = "cpu",
                        on_progress: Callable[[int, int], None] | None = None) -> NtuActionEvalResult:
    """Top-1 / top-5 of an action model's classifier on the test split of NTU RGB+D (module docstring); classes
    are NTU's (label = action - 1), named by NTU120_CLASSES; per_class_top1 lists the classes present in the
    test split, in class order."""
    from mbcli.labels import NTU120_CLASSES
    from mbcli.train.ntu_files import load_ntu
    from mbcli.train.ntu_sampler import ntu_windows

    if model.head.classifier is None:
        raise ConfigError("this model has no action classifier (train one with task: action)")
    C = model.head.config.num_classes
    if not Path(path).exists():
        raise ConfigError(f"NTU data {path} does not exist (pyskl's ntu60_hrnet.pkl or a folder of .skeleton files)")
    _, test = load_ntu(path, protocol, num_people=num_people, parts=("test",))
    if not test:
        raise ConfigError(f"{path} has no test samples under protocol {protocol}")
    if test[0].xy is None:
        raise ConfigError(f"{path} holds 3D joints only; the action model reads 2D keypoints")
    top = max(s.label for s in test)
    if top >= C:
        raise ConfigError(f"{path} holds action A{top + 1:03d} but the model has {C} classes (an NTU-{C} model?)")
    L = model.backbone.config.maxlen
    model = model.eval().to(device)
    sums = np.zeros((len(test), C))
    counts = np.zeros(len(test), dtype=np.int64)
    win_hits = 0
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        nonlocal win_hits
        x = np.concatenate([w for _, w in pending])
        owner = np.concatenate([np.full(len(w), i) for i, w in pending])
        with torch.inference_mode():
            logits = model(torch.from_numpy(x).to(device)).logits
        p = torch.softmax(logits.float(), -1).cpu().numpy()
        np.add.at(sums, owner, p)
        np.add.at(counts, owner, 1)
        labels = np.array([test[i].label for i in owner])
        win_hits += int((p.argmax(-1) == labels).sum())
        pending.clear()

    for i, s in enumerate(test):
        pending.append((i, ntu_windows(s, L, step)))
        if sum(len(w) for _, w in pending) >= batch_size or i == len(test) - 1:
            flush()
        if on_progress:
            on_progress(i + 1, len(test))
    mean = sums / counts[:, None]
    order = np.argsort(-mean, axis=1, kind="stable")
    y = np.array([s.label for s in test])
    hit1 = order[:, 0] == y
    hit5 = (order[:, :5] == y[:, None]).any(axis=1)
    names = NTU120_CLASSES[:C] if C <= len(NTU120_CLASSES) else tuple(f"class {k}" for k in range(C))
    per_class = {names[k]: 100.0 * float(hit1[y == k].mean()) for k in sorted(set(y.tolist()))}
    wins = int(counts.sum())
    return NtuActionEvalResult(protocol, C, len(test), wins, 100.0 * float(hit1.mean()), 100.0 * float(hit5.mean()),
                               100.0 * win_hits / max(wins, 1), per_class)
