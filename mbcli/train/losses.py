"""Training losses for the lifter (REFERENCE.md section 3): MPJPE + 0.5 N-MPJPE + 20 velocity by default.

Inputs are (B, T, J, 3) tensors in metres, root-relative. Each function returns a scalar mean over the batch.
"""

from __future__ import annotations

import torch


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def n_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after the per-frame least-squares scale of pred onto target."""
    num = (pred * target).sum(dim=(-1, -2), keepdim=True)
    den = (pred * pred).sum(dim=(-1, -2), keepdim=True).clamp_min(1e-8)
    return mpjpe(num / den * pred, target)


def velocity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean error of the frame-to-frame displacement."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return torch.linalg.vector_norm(pred.diff(dim=1) - target.diff(dim=1), dim=-1).mean()


def lifter_loss(pred: torch.Tensor, target: torch.Tensor, w_scale: float = 0.5,
                w_velocity: float = 20.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(total with its gradient, {"mpjpe", "n_mpjpe", "velocity": detached 0-dim tensors}): the parts stay on the
    device, so a training step never waits for the host."""
    l_mp = mpjpe(pred, target)
    l_n = n_mpjpe(pred, target)
    l_v = velocity(pred, target)
    total = l_mp + w_scale * l_n + w_velocity * l_v
    return total, {"mpjpe": l_mp.detach(), "n_mpjpe": l_n.detach(), "velocity": l_v.detach()}
