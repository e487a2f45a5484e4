"""DSTformer: the Dual-stream Spatio-temporal Transformer of MotionBERT (Zhu et al., ICCV 2023).

Re-derived from the architecture description in REFERENCE.md section 1; parameter names follow the official
checkpoints so that they load strictly (``joints_embed``, ``pos_embed``, ``temp_embed``, ``blocks_st.i``,
``blocks_ts.i``, ``ts_attn.i``, ``norm``, ``pre_logits.fc``, ``head``).

Shapes: x (B, T, J, C_in) with T <= maxlen; tokens are kept as (B, T, J, C) throughout.
- Embedding: Linear(C_in -> C) per joint and frame + learned spatial (1, J, C) and temporal (1, maxlen, 1, C)
  position embeddings (the first T rows).
- Each of ``depth`` layers runs two blocks on the same input and fuses them:
  ST block: spatial MHSA -> MLP -> temporal MHSA -> MLP; TS block: temporal MHSA -> MLP -> spatial MHSA -> MLP;
  every sub-step is pre-LayerNorm with a residual. Spatial attention mixes the J joints of one frame; temporal
  attention mixes the T frames of one joint (bidirectional).
- Adaptive fusion per token: (a_st, a_ts) = softmax(W [x_st, x_ts] + b), x = a_st x_st + a_ts x_ts
  (W = 0, b = 0.5 at initialisation, i.e. the plain mean).
- Head: LayerNorm -> Linear(C -> dim_rep) + tanh (the motion representation) -> Linear(dim_rep -> C_out).

Speed: attention runs through ``scaled_dot_product_attention`` (fused kernels) directly on strided views of one
qkv projection, and the two-way softmax of the fusion is computed as a sigmoid of the logit difference without
concatenating the streams. The output equals the textbook formulation to float32 rounding
(tests/test_model.py compares it with a naive implementation).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from mbcli.model.config import DSTformerConfig


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): drop the whole residual branch per sample during training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(x))
        if self.drop and self.training:
            x = F.dropout(x, self.drop, True)
        x = self.fc2(x)
        if self.drop and self.training:
            x = F.dropout(x, self.drop, True)
        return x


class Attention(nn.Module):
    """Multi-head self-attention over joints (axis="spatial") or frames (axis="temporal")."""

    max_view_batch = 16  # temporal attention loops over batch elements up to this batch size (no copies)

    def __init__(self, dim: int, num_heads: int, axis: str, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if axis not in ("spatial", "temporal"):
            raise ValueError(axis)
        self.axis = axis
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = proj_drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, J, C = x.shape
        H = self.num_heads
        qkv = self.qkv(x).view(B, T, J, 3, H, C // H)
        d = C // H
        drop = self.attn_drop if self.training else 0.0
        # 4-D (batch, heads, length, d) views select the fused CPU/GPU kernels (5-D inputs fall back to plain math).
        # The fused kernels accept these strided views without copying and return their output in the query's
        # memory layout, so the reshapes back to (B, T, J, C) below are free.
        if self.axis == "spatial":
            q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).reshape(3, B * T, H, J, d).unbind(0)  # (B*T, H, J, d) views
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
            out = out.view(B, T, H, J, d).transpose(2, 3)  # (B, T, J, H, d)
        elif B > self.max_view_batch:  # large training batches: one call on a copied (B*J, H, T, d) layout
            q, k, v = qkv.permute(3, 0, 2, 4, 1, 5).reshape(3, B * J, H, T, d).unbind(0)
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
            out = out.view(B, J, H, T, d).permute(0, 3, 1, 2, 4)  # (B, T, J, H, d)
        else:
            # frames of one joint: (J, H, T, d) is a view per batch element (B and J cannot merge without a copy)
            outs = []
            for b in range(B):
                q, k, v = qkv[b].permute(2, 1, 3, 0, 4).unbind(0)  # (J, H, T, d) views
                o = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
                outs.append(o.permute(2, 0, 1, 3))  # (T, J, H, d)
            out = outs[0].unsqueeze(0) if B == 1 else torch.stack(outs)  # (B, T, J, H, d)
        out = self.proj(out.reshape(B, T, J, C))  # (B, T, J, C)
        if self.proj_drop and self.training:
            out = F.dropout(out, self.proj_drop, True)
        return out


class Block(nn.Module):
    """One stream's block: order "st" = spatial then temporal, "ts" = temporal then spatial."""

    def __init__(self, cfg: DSTformerConfig, order: str, drop_path: float) -> None:
        super().__init__()
        C = cfg.dim_feat
        hidden = int(C * cfg.mlp_ratio)
        self.order = order
        self.norm1_s = nn.LayerNorm(C, eps=cfg.norm_eps)
        self.norm1_t = nn.LayerNorm(C, eps=cfg.norm_eps)
        self.attn_s = Attention(C, cfg.num_heads, "spatial", cfg.attn_drop_rate, cfg.drop_rate)
        self.attn_t = Attention(C, cfg.num_heads, "temporal", cfg.attn_drop_rate, cfg.drop_rate)
        self.norm2_s = nn.LayerNorm(C, eps=cfg.norm_eps)
        self.norm2_t = nn.LayerNorm(C, eps=cfg.norm_eps)
        self.mlp_s = MLP(C, hidden, cfg.drop_rate)
        self.mlp_t = MLP(C, hidden, cfg.drop_rate)
        self.drop_path = DropPath(drop_path)

    def _spatial(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn_s(self.norm1_s(x)))
        return x + self.drop_path(self.mlp_s(self.norm2_s(x)))

    def _temporal(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn_t(self.norm1_t(x)))
        return x + self.drop_path(self.mlp_t(self.norm2_t(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order == "st":
            return self._temporal(self._spatial(x))
        return self._spatial(self._temporal(x))


class PreLogits(nn.Module):
    def __init__(self, dim_in: int, dim_rep: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim_in, dim_rep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x))


class DSTformer(nn.Module):
    """forward(x (B,T,J,dim_in)) -> (B,T,J,dim_out); representation(x) -> (B,T,J,dim_rep)."""

    meta: dict[str, Any]  # the checkpoint's metadata, set by mbcli.model.load_model

    def __init__(self, cfg: DSTformerConfig) -> None:
        super().__init__()
        self.config = cfg
        C = cfg.dim_feat
        self.joints_embed = nn.Linear(cfg.dim_in, C)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_joints, C))
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.maxlen, 1, C))
        dpr = torch.linspace(0, cfg.drop_path_rate, cfg.depth).tolist()
        self.blocks_st = nn.ModuleList(Block(cfg, "st", dpr[i]) for i in range(cfg.depth))
        self.blocks_ts = nn.ModuleList(Block(cfg, "ts", dpr[i]) for i in range(cfg.depth))
        if cfg.att_fuse:
            self.ts_attn = nn.ModuleList(nn.Linear(2 * C, 2) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(C, eps=cfg.norm_eps)
        self.pre_logits = PreLogits(C, cfg.dim_rep)
        self.head = nn.Linear(cfg.dim_rep, cfg.dim_out)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-2.0, b=2.0)
        nn.init.trunc_normal_(self.temp_embed, std=0.02, a=-2.0, b=2.0)
        if self.config.att_fuse:
            for m in self.ts_attn:
                lin = cast(nn.Linear, m)
                nn.init.zeros_(lin.weight)
                nn.init.constant_(lin.bias, 0.5)

    def _fuse(self, i: int, x_st: torch.Tensor, x_ts: torch.Tensor) -> torch.Tensor:
        if not self.config.att_fuse:
            return (x_st + x_ts) * 0.5
        lin = cast(nn.Linear, self.ts_attn[i])
        C = x_st.shape[-1]
        w = lin.weight[0] - lin.weight[1]  # softmax over two logits == sigmoid of their difference
        logit = x_st @ w[:C] + x_ts @ w[C:] + (lin.bias[0] - lin.bias[1])  # (B, T, J)
        a_st = torch.sigmoid(logit).unsqueeze(-1)
        return x_ts + a_st * (x_st - x_ts)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        B, T, J, _ = x.shape
        if T > self.config.maxlen:
            raise ValueError(f"sequence of {T} frames is longer than the model's maxlen {self.config.maxlen}")
        if J != self.config.num_joints:
            raise ValueError(f"expected {self.config.num_joints} joints, got {J}")
        x = self.joints_embed(x) + self.pos_embed + self.temp_embed[:, :T]  # (B, T, J, C)
        if self.config.drop_rate and self.training:
            x = F.dropout(x, self.config.drop_rate, True)
        for i, (blk_st, blk_ts) in enumerate(zip(self.blocks_st, self.blocks_ts)):
            x = self._fuse(i, blk_st(x), blk_ts(x))
        return self.pre_logits(self.norm(x))  # (B, T, J, dim_rep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.representation(x))  # (B, T, J, dim_out)
