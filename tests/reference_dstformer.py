"""A deliberately naive DSTformer forward pass, written from the equations in REFERENCE.md section 1.

Explicit softmax(QK^T / sqrt(d)) V per head, explicit concatenation and two-way softmax in the fusion, token
layout (B*T, J, C) as in the paper's description. It takes the weights of a ``mbcli.model.dstformer.DSTformer``
(by state-dict name) and serves as the yardstick that the fast implementation must match.
"""

from __future__ import annotations

import math

import torch


def _ln(x, sd, name, eps):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], eps)


def _lin(x, sd, name):
    return x @ sd[name + ".weight"].T + sd[name + ".bias"]


def _attn(x, sd, name, heads, T, axis):
    BT, J, C = x.shape
    d = C // heads
    qkv = _lin(x, sd, name + ".qkv").reshape(BT, J, 3, heads, d).permute(2, 0, 3, 1, 4)  # (3, BT, H, J, d)
    q, k, v = qkv[0], qkv[1], qkv[2]
    if axis == "temporal":  # regroup to (B, H, J, T, d)
        q, k, v = (t.reshape(-1, T, heads, J, d).permute(0, 2, 3, 1, 4) for t in (q, k, v))
    a = (q @ k.transpose(-2, -1)) / math.sqrt(d)
    out = a.softmax(-1) @ v
    if axis == "temporal":
        out = out.permute(0, 3, 2, 1, 4).reshape(BT, J, C)
    else:
        out = out.transpose(1, 2).reshape(BT, J, C)
    return _lin(out, sd, name + ".proj")


def _mlp(x, sd, name):
    return _lin(torch.nn.functional.gelu(_lin(x, sd, name + ".fc1")), sd, name + ".fc2")


def _block(x, sd, name, heads, T, order, eps):
    steps = [("s", "spatial"), ("t", "temporal")]
    if order == "ts":
        steps.reverse()
    for tag, axis in steps:
        x = x + _attn(_ln(x, sd, f"{name}.norm1_{tag}", eps), sd, f"{name}.attn_{tag}", heads, T, axis)
        x = x + _mlp(_ln(x, sd, f"{name}.norm2_{tag}", eps), sd, f"{name}.mlp_{tag}")
    return x


@torch.no_grad()
def reference_forward(sd: dict, x: torch.Tensor, depth: int, heads: int, eps: float = 1e-6) -> torch.Tensor:
    B, T, J, Cin = x.shape
    h = _lin(x.reshape(B * T, J, Cin), sd, "joints_embed") + sd["pos_embed"]
    C = h.shape[-1]
    h = (h.reshape(B, T, J, C) + sd["temp_embed"][:, :T]).reshape(B * T, J, C)
    for i in range(depth):
        x_st = _block(h, sd, f"blocks_st.{i}", heads, T, "st", eps)
        x_ts = _block(h, sd, f"blocks_ts.{i}", heads, T, "ts", eps)
        alpha = _lin(torch.cat([x_st, x_ts], -1), sd, f"ts_attn.{i}").softmax(-1)
        h = x_st * alpha[..., 0:1] + x_ts * alpha[..., 1:2]
    h = torch.tanh(_lin(_ln(h, sd, "norm", eps), sd, "pre_logits.fc"))
    return _lin(h, sd, "head").reshape(B, T, J, -1)
