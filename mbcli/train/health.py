"""Training health: verdicts on the training-time validation, so that a run that goes wrong stops and says so.

Three ways a run goes wrong while its loss still looks like a number:
- **diverged**: the loss or the validation error is not finite (NaN/inf weights);
- **collapsed**: the predicted skeleton has shrunk towards the root (every joint near the pelvis): the mean predicted
  bone length over the validation clips falls below ``min_bone_ratio`` of the true one after ``after_steps``. A
  collapsed lifter still reports a plausible MPJPE (about 0.43 m, the mean distance of the joints from the pelvis),
  which is why the bones, not the error, are checked;
- **stalled**: ``stall_evals`` evaluations in a row after ``after_steps`` without a new best validation MPJPE (a new
  best must improve on the old one by ``min_improvement``, relative).

``Guard.check`` returns None for a healthy run or a one-line verdict; the loop then stops without overwriting the
last good checkpoint (a stalled model is not broken, so the loop saves it first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mbcli.skeletons import H36M17

_PARENT = torch.tensor([p for p, _ in H36M17.bones])
_CHILD = torch.tensor([c for _, c in H36M17.bones])


def bone_ratio(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean predicted bone length over mean true bone length, for (..., 17, 3) poses: 1 for a right-sized skeleton,
    0 for one collapsed onto its root (a 0-dim tensor, no host synchronisation)."""
    p, c = _PARENT.to(pred.device), _CHILD.to(pred.device)
    lp = torch.linalg.vector_norm(pred[..., c, :] - pred[..., p, :], dim=-1).mean()
    lt = torch.linalg.vector_norm(target[..., c, :] - target[..., p, :], dim=-1).mean()
    return lp / lt.clamp_min(1e-9)


@dataclass
class Verdict:
    kind: str  # "diverged" | "collapsed" | "stalled"
    message: str


class Guard:
    """Keeps the best validation MPJPE and says when a run has diverged, collapsed or stalled."""

    def __init__(self, after_steps: int, min_bone_ratio: float, stall_evals: int, min_improvement: float) -> None:
        self.after_steps, self.min_bone_ratio = after_steps, min_bone_ratio
        self.stall_evals, self.min_improvement = stall_evals, min_improvement
        self.best = math.inf
        self.best_step = 0
        self.since_best = 0

    def check(self, step: int, loss: float, val_mm: float | None, ratio: float | None,
              count_eval: bool = True) -> Verdict | None:
        """``loss``: the latest training loss; ``val_mm``/``ratio``: the validation MPJPE and bone ratio (None
        when the task has no 3D). ``count_eval``: this is a scheduled evaluation (stall counting); checks before a
        checkpoint only test for divergence and collapse."""
        if not math.isfinite(loss) or (val_mm is not None and not math.isfinite(val_mm)):
            return Verdict("diverged", f"training diverged at step {step}: loss {loss:.4g}, validation MPJPE "
                                       f"{val_mm if val_mm is not None else float('nan'):.4g} mm")
        if ratio is not None and step >= self.after_steps and ratio < self.min_bone_ratio:
            return Verdict("collapsed", f"training collapsed at step {step}: predicted bones are {ratio:.2f} of "
                                        f"their true length (guard: {self.min_bone_ratio}), validation MPJPE "
                                        f"{val_mm:.0f} mm; the output has shrunk towards the root")
        if val_mm is None or not count_eval:
            return None
        if val_mm < self.best * (1.0 - self.min_improvement):
            self.best, self.best_step, self.since_best = val_mm, step, 0
            return None
        if step < self.after_steps:
            return None  # warm-up: worse before better is normal (a warm restart's high learning rate)
        self.since_best += 1
        if self.stall_evals and self.since_best >= self.stall_evals:
            return Verdict("stalled", f"training stalled: {self.since_best} evaluations without a new best "
                                      f"validation MPJPE since step {self.best_step} ({self.best:.1f} mm)")
        return None

    def state(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "since_best": self.since_best}

    def set_state(self, st: dict) -> None:
        self.best, self.best_step, self.since_best = float(st["best"]), int(st["best_step"]), int(st["since_best"])
