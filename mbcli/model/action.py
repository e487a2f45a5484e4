"""Action recognition and text alignment on the DSTformer motion representation.

Head (REFERENCE.md section 3, MotionBERT's action task): the representation (B, [M,] T, J, D) is averaged over time,
flattened over joints (J*D), averaged over the M people of a sample when there are several, then
  classifier: dropout -> Linear(J*D, hidden) -> BatchNorm -> ReLU -> Linear(hidden, C)        (C > 0)
  embedding:  dropout -> Linear(J*D, hidden) -> BatchNorm -> ReLU -> Linear(hidden, E) -> L2   (E > 0)
The embedding lives in the text encoder's space (E = 384 for all-MiniLM-L6-v2, mbcli/text/). Scores of a label
set are then cosine similarities with the labels' sentence embeddings times a learned scale (CLIP's temperature,
initialised at 1/0.07 and clamped to 100): ``text_logits``. That is the ActionPose idea (Liao & Zheng 2024: align
motion embeddings with text embeddings of action labels) and what makes open-vocabulary labels work: any sentence
can be scored, not only the classes the classifier was trained on.

``ActionModel`` = a DSTformer backbone + this head. ``forward`` returns an ``ActionOutput``; a lifter trained with
text alignment keeps its own 3D head (``ActionModel.pose`` gives both from one backbone pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mbcli.model.dstformer import DSTformer


@dataclass(frozen=True)
class ActionHeadConfig:
    """num_classes C (0: no classifier), embed_dim E (0: no text embedding), hidden width, dropout before the MLPs."""

    num_classes: int = 0
    embed_dim: int = 384
    hidden: int = 512
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.num_classes < 0 or self.embed_dim < 0 or (self.num_classes == 0 and self.embed_dim == 0):
            raise ValueError("an action head needs num_classes > 0 and/or embed_dim > 0")


@dataclass
class ActionOutput:
    """logits (B,C) or None; embedding (B,E) unit vectors or None; pose (B,T,J,3) or None (ActionModel.pose)."""

    logits: torch.Tensor | None
    embedding: torch.Tensor | None
    pose: torch.Tensor | None = None


def _mlp(d_in: int, hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, d_out))


class ActionHead(nn.Module):
    def __init__(self, num_joints: int, dim_rep: int, cfg: ActionHeadConfig) -> None:
        super().__init__()
        self.config = cfg
        d = num_joints * dim_rep
        self.classifier = _mlp(d, cfg.hidden, cfg.num_classes, cfg.dropout) if cfg.num_classes else None
        self.embed = _mlp(d, cfg.hidden, cfg.embed_dim, cfg.dropout) if cfg.embed_dim else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @staticmethod
    def pool(rep: torch.Tensor) -> torch.Tensor:
        """(B,T,J,D) or (B,M,T,J,D) -> (B, J*D): mean over time, then over people."""
        if rep.dim() == 4:
            rep = rep.unsqueeze(1)
        B, M, T, J, D = rep.shape
        return rep.mean(dim=2).reshape(B, M, J * D).mean(dim=1)

    def forward(self, rep: torch.Tensor) -> ActionOutput:
        f = self.pool(rep)
        logits = self.classifier(f) if self.classifier is not None else None
        emb = F.normalize(self.embed(f), dim=-1) if self.embed is not None else None
        return ActionOutput(logits, emb)

    def text_logits(self, embedding: torch.Tensor, text_bank: torch.Tensor) -> torch.Tensor:
        """(B,E) motion embeddings x (K,E) unit text embeddings -> (B,K) scaled cosine similarities."""
        return self.logit_scale.clamp(max=math.log(100.0)).exp() * embedding @ text_bank.to(embedding.dtype).T


class ActionModel(nn.Module):
    """A DSTformer backbone and an ActionHead. Input (B,T,J,3) or, for several people per sample, (B,M,T,J,3)."""

    def __init__(self, backbone: DSTformer, head_cfg: ActionHeadConfig) -> None:
        super().__init__()
        self.backbone = backbone
        c = backbone.config
        self.head = ActionHead(c.num_joints, c.dim_rep, head_cfg)

    def _rep(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:
            B, M = x.shape[:2]
            rep = self.backbone.representation(x.flatten(0, 1))
            return rep.reshape(B, M, *rep.shape[1:])
        return self.backbone.representation(x)

    def forward(self, x: torch.Tensor) -> ActionOutput:
        return self.head(self._rep(x))

    def pose(self, x: torch.Tensor) -> ActionOutput:
        """Action outputs and the backbone's own 3D (its lifter head) from one pass; x (B,T,J,3)."""
        rep = self.backbone.representation(x)
        out = self.head(rep)
        out.pose = self.backbone.head(rep)
        return out


def text_alignment_loss(head: ActionHead, embedding: torch.Tensor, labels: torch.Tensor,
                        text_bank: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Motion-to-text InfoNCE over a label bank: cross-entropy of the scaled cosine similarities of each clip's
    embedding (B,E) with every label sentence (K,E), the clip's own label (B,) being the positive. Clips with label
    -1 (unknown) are ignored. Returns (loss, top-1 accuracy over the labelled clips)."""
    keep = labels >= 0
    if not bool(keep.any()):
        return embedding.sum() * 0.0, float("nan")
    logits = head.text_logits(embedding[keep], text_bank)
    y = labels[keep]
    loss = F.cross_entropy(logits.float(), y)
    acc = float((logits.argmax(-1) == y).float().mean())
    return loss, acc


def load_action_model(path: str | Path) -> tuple[ActionModel, dict]:
    """An ActionModel from a training checkpoint with an action / alignment head (mbcli train, task action or
    text_align > 0), or a manifest name (action-default: the shipped model, checked against its sha256); meta:
    classes (list, may be empty), label_bank (sentences), text_bank ((K,E) float32 tensor of their unit
    embeddings, or None), plus the checkpoint's meta (with its manifest name when loaded by name)."""
    import os

    from mbcli.errors import WeightsError
    from mbcli.model.checkpoint import _read, load_checkpoint
    from mbcli.weights import resolve

    name = None
    if not Path(path).exists() and os.sep not in str(path) and not str(path).endswith((".pt", ".pth")):
        name = str(path)
        path = resolve(name)[0]
    obj = _read(Path(path))
    if not isinstance(obj, dict) or "action_head" not in obj or "head_config" not in obj:
        raise WeightsError(f"{path} has no action head (train one with `mbcli train --config action-h36m`)")
    backbone, meta = load_checkpoint(Path(path))
    model = ActionModel(backbone, ActionHeadConfig(**obj["head_config"]))
    try:
        model.head.load_state_dict({k: v.float() if v.is_floating_point() else v
                                    for k, v in obj["action_head"].items()})
    except RuntimeError as e:
        raise WeightsError(f"{path}: the action head does not match its config ({str(e).splitlines()[0]})") from None
    bank = obj.get("text_bank")
    extra = {"name": name} if name else {}
    return model.eval(), {**meta, **extra, "classes": list(obj.get("classes") or []),
                          "label_bank": list(obj["label_bank"]), "text_bank": bank.float() if bank is not None else None}
