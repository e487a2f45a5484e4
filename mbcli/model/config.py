"""DSTformer configuration: a dataclass saved inside every mbcli checkpoint.

The two published configurations (MotionBERT, ICCV 2023; REFERENCE.md section 1):
- base: dim_feat 512, mlp_ratio 2, depth 5, 8 heads, dim_rep 512, maxlen 243 (42.47 M parameters)
- lite: dim_feat 256, mlp_ratio 4, depth 5, 8 heads, dim_rep 512, maxlen 243 (16.00 M parameters)
Smaller configurations ("small", "tiny") exist for CPU training and tests; they are the same architecture.
``output_units`` says what the regression head predicts: "m" (our checkpoints: root-relative metres, camera frame)
or "normalized" (MotionBERT's checkpoints: the input's normalised image units).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from mbcli.errors import ConfigError


@dataclass(frozen=True)
class DSTformerConfig:
    dim_in: int = 3
    dim_out: int = 3
    dim_feat: int = 512
    dim_rep: int = 512
    depth: int = 5
    num_heads: int = 8
    mlp_ratio: float = 2.0
    num_joints: int = 17
    maxlen: int = 243
    att_fuse: bool = True
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    output_units: str = "m"

    def __post_init__(self) -> None:
        if self.dim_feat % self.num_heads:
            raise ConfigError(f"dim_feat {self.dim_feat} is not divisible by num_heads {self.num_heads}")
        if self.output_units not in ("m", "normalized"):
            raise ConfigError(f"output_units must be 'm' or 'normalized', got {self.output_units!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def forward_flops(self, frames: int) -> int:
        """Floating-point operations (2 per multiply-add) of one forward pass over a ``frames``-frame clip: every
        Linear layer plus the attention products (QK^T and AV) of the spatial (J x J per frame) and temporal (T x T
        per joint) attentions; norms, activations and softmax are left out (they are not matrix work). Training
        costs about 3x this (forward + backward)."""
        T, J, C = frames, self.num_joints, self.dim_feat
        hidden = int(C * self.mlp_ratio)
        per_token_block = 2 * (4 * C * C) + 2 * (2 * C * hidden)  # two attentions (qkv + proj), two MLPs
        linear = T * J * (self.depth * 2 * per_token_block + self.dim_in * C + C * self.dim_rep
                          + self.dim_rep * self.dim_out + self.depth * 2 * C * 2)  # + fusion logits
        attention = self.depth * 2 * (T * J * J * C * 2 + J * T * T * C * 2)  # both streams, QK^T and AV
        return 2 * (linear + attention)

    @classmethod
    def from_dict(cls, d: dict) -> DSTformerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model config key(s): {', '.join(unknown)}")
        return cls(**d)


PRESETS: dict[str, DSTformerConfig] = {
    "base": DSTformerConfig(dim_feat=512, mlp_ratio=2.0),
    "lite": DSTformerConfig(dim_feat=256, mlp_ratio=4.0),
    "small": DSTformerConfig(dim_feat=128, mlp_ratio=2.0, dim_rep=256, depth=4),
    "tiny": DSTformerConfig(dim_feat=32, mlp_ratio=2.0, dim_rep=32, depth=2, num_heads=4, maxlen=81),
}


def preset(name: str, **overrides) -> DSTformerConfig:
    try:
        base = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model config {name!r}; choose one of: {', '.join(PRESETS)}") from None
    return DSTformerConfig.from_dict({**base.to_dict(), **overrides})
