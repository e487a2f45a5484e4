"""BERT's encoder stack in plain torch (BertConfig from config.json, BertModel with Hugging Face parameter names):
absolute position embeddings, token type 0 everywhere, post-LayerNorm blocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mbcli.errors import WeightsError
from mbcli.text.files import read_json


@dataclass(frozen=True)
class BertConfig:
    """The architecture fields of a Hugging Face BERT config.json that the encoder uses."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        cfg = read_json(path, dict) or {}
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise WeightsError(f"{path}: only absolute position embeddings are supported, "
                               f"not {cfg['position_embedding_type']!r}")
        if cfg.get("hidden_act", "gelu") not in _ACTIVATIONS:
            raise WeightsError(f"{path}: unsupported hidden_act {cfg['hidden_act']!r} "
                               f"(supported: {', '.join(_ACTIVATIONS)})")
        return cls(**{k: type(getattr(cls, k))(cfg[k]) for k in cls.__dataclass_fields__ if k in cfg})


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu, "relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh")}


class _SelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.heads = c.num_attention_heads

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                             attn_mask=keep)
        return out.transpose(1, 2).reshape(b, n, d)


class _AddNorm(nn.Module):
    """Projection, residual add and LayerNorm (BERT's post-LN "output" sub-block)."""

    def __init__(self, d_in: int, d_out: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _AddNorm(c.hidden_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, keep), x)


class _Intermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = _ACTIVATIONS[c.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _AddNorm(c.intermediate_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


class _Embeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _Encoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class BertModel(nn.Module):
    """BERT's encoder stack; parameter names follow Hugging Face BERT checkpoints (pooler omitted)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise WeightsError(f"hidden_size {config.hidden_size} is not a multiple of "
                               f"num_attention_heads {config.num_attention_heads}")
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (B, L, hidden) of token ids (B, L) with attention mask (B, L) (1 = real token)."""
        keep = mask.bool()[:, None, None, :]  # every query attends to the real keys of its sequence
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return x

    def load_weights(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        """Assign a checkpoint's tensors (optionally prefixed "bert."); unused ones (pooler, position_ids) are
        ignored, a missing or misshapen one raises WeightsError."""
        own = self.state_dict()
        state = {}
        for name, t in tensors.items():
            key = name.removeprefix("bert.")
            if key in own:
                if t.shape != own[key].shape:
                    raise WeightsError(f"{source}: tensor {name} has shape {tuple(t.shape)}, the config implies "
                                       f"{tuple(own[key].shape)}")
                state[key] = t.float()
        missing = sorted(set(own) - set(state))
        if missing:
            raise WeightsError(f"{source} lacks {len(missing)} encoder tensors, e.g. {missing[0]}: "
                               "not a BERT checkpoint matching its config.json")
        self.load_state_dict(state, assign=True)
