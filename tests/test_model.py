"""DSTformer: parameter counts of the published configs, equality with a naive implementation, checkpoints."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch

from mbcli.errors import WeightsError
from mbcli.model import DSTformer, load_model, preset, save_checkpoint
from mbcli.model.config import DSTformerConfig

sys.path.insert(0, str(Path(__file__).parent))
from reference_dstformer import reference_forward  # noqa: E402


def _random_fusion(m: DSTformer) -> DSTformer:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for lin in m.ts_attn:  # away from the 0.5/0.5 initialisation, so the fusion is exercised
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * 0.05)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g))
    return m


@pytest.mark.parametrize("name,count", [("base", 42_466_317), ("lite", 16_001_549)])
def test_published_configs_have_published_parameter_counts(name, count):
    m = DSTformer(preset(name))
    assert sum(p.numel() for p in m.parameters()) == count


def test_fast_forward_equals_naive_reference():
    torch.manual_seed(0)
    cfg = preset("tiny")
    m = _random_fusion(DSTformer(cfg)).eval()
    x = torch.randn(2, 40, 17, 3)
    with torch.inference_mode():
        y = m(x)
    y_ref = reference_forward(m.state_dict(), x, cfg.depth, cfg.num_heads, cfg.norm_eps)
    assert y.shape == (2, 40, 17, 3)
    assert torch.allclose(y, y_ref, atol=1e-5), (y - y_ref).abs().max()


def test_lite_width_forward_equals_reference_on_short_clip():
    torch.manual_seed(0)
    cfg = DSTformerConfig(dim_feat=256, mlp_ratio=4.0, depth=1)
    m = _random_fusion(DSTformer(cfg)).eval()
    x = torch.randn(1, 16, 17, 3)
    with torch.inference_mode():
        y = m(x)
    y_ref = reference_forward(m.state_dict(), x, cfg.depth, cfg.num_heads, cfg.norm_eps)
    assert (y - y_ref).abs().max() < 1e-4


def test_sequence_longer_than_maxlen_is_rejected():
    m = DSTformer(preset("tiny")).eval()
    with pytest.raises(ValueError, match="maxlen"):
        m(torch.zeros(1, 82, 17, 3))


def _official_layout(m: DSTformer) -> dict:
    """Our weights saved the way MotionBERT's train.py saves them (DataParallel prefix, model_pos key)."""
    return {"epoch": 3, "lr": 1e-4, "optimizer": {}, "min_loss": 1.0,
            "model_pos": {"module." + k: v.clone() for k, v in m.state_dict().items()}}


def test_motionbert_checkpoint_loads_strictly_and_matches(tmp_path):
    torch.manual_seed(0)
    cfg = preset("lite", depth=2, output_units="normalized")
    m = _random_fusion(DSTformer(cfg)).eval()
    path = tmp_path / "best_epoch.bin"
    torch.save(_official_layout(m), path)
    loaded = load_model(path, config=DSTformerConfig(**{**cfg.to_dict()}))
    inferred = load_model(path)  # architecture inferred from the tensor shapes
    x = torch.randn(1, 30, 17, 3)
    with torch.inference_mode():
        assert torch.equal(loaded(x), m(x))
        assert torch.equal(inferred(x), m(x))
    assert loaded.meta["source_format"] == "motionbert"
    assert inferred.config.output_units == "normalized"


def test_motionbert_checkpoint_with_official_preset_name(tmp_path):
    m = DSTformer(preset("lite", output_units="normalized")).eval()
    path = tmp_path / "lite.bin"
    torch.save(_official_layout(m), path)
    loaded = load_model(path, config="lite")
    x = torch.randn(1, 8, 17, 3)
    with torch.inference_mode():
        assert torch.equal(loaded(x), m(x))
    with pytest.raises(WeightsError, match="missing|shape mismatch"):
        load_model(path, config="base")


def test_missing_and_unexpected_keys_are_named(tmp_path):
    m = DSTformer(preset("tiny"))
    sd = _official_layout(m)
    del sd["model_pos"]["module.head.weight"]
    sd["model_pos"]["module.extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.bin"
    torch.save(sd, path)
    with pytest.raises(WeightsError) as e:
        load_model(path, config=preset("tiny"))
    msg = str(e.value)
    assert "missing 1: head.weight" in msg and "unexpected 1: extra.weight" in msg
    assert "\n" not in msg


def test_our_checkpoint_round_trip_in_half_precision(tmp_path):
    torch.manual_seed(0)
    m = DSTformer(preset("tiny")).eval()
    path = save_checkpoint(tmp_path / "ours.pt", m, meta={"note": "x"}, half=True)
    loaded = load_model(path)
    assert loaded.config == m.config and loaded.meta["note"] == "x"
    x = torch.randn(1, 10, 17, 3)
    with torch.inference_mode():
        assert (loaded(x) - m(x)).abs().max() < 1e-2  # fp16 storage
        assert all(p.dtype == torch.float32 for p in loaded.parameters())


@pytest.mark.parametrize(("content", "why"), [(b"", "cannot read checkpoint"),
                                             (b"not a checkpoint at all", "not a PyTorch checkpoint"),
                                             (b"PK\x03\x04garbage", "truncated or corrupt")])
def test_corrupt_checkpoint_is_a_weights_error(tmp_path, content, why):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=why) as e:
        load_model(path)
    assert "weights_only" not in str(e.value) and len(str(e.value).splitlines()) == 1


class _Custom:  # a pickled object that a weights-only load refuses
    pass


def test_checkpoint_with_python_objects_is_refused_in_our_words(tmp_path):
    path = tmp_path / "objects.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "extra": _Custom()}, path)
    with pytest.raises(WeightsError, match="never runs a checkpoint's code"):
        load_model(path)


def test_truncated_checkpoint_is_a_weights_error(tmp_path):
    buf = io.BytesIO()
    torch.save({"format": "mbcli.checkpoint"}, buf)
    path = tmp_path / "trunc.pt"
    path.write_bytes(buf.getvalue()[:-20])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_model(path)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="no model named|manifest"):
        load_model("no-such-model-name")
