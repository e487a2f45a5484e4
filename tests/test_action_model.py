"""The action head and text alignment (mbcli/model/action.py), ActionPose's structured masks and labelled clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbcli.labels import ACTION_SENTENCES, H36M_ACTIONS
from mbcli.model import DSTformer, preset
from mbcli.model.action import ActionHead, ActionHeadConfig, ActionModel, text_alignment_loss
from mbcli.skeletons import H36M17
from mbcli.train.augment import BODY_PARTS, ClipSampler, CorruptionConfig, structured_mask
from mbcli.train.data import Sequence


@pytest.fixture(scope="module")
def backbone() -> DSTformer:
    torch.manual_seed(0)
    return DSTformer(preset("small", depth=1, dim_feat=16, dim_rep=8, num_heads=2, maxlen=16)).eval()


def test_head_shapes_and_unit_embeddings(backbone, one_thread):
    m = ActionModel(backbone, ActionHeadConfig(num_classes=15, embed_dim=24, hidden=32)).eval()
    x = torch.randn(3, 16, 17, 3)
    out = m(x)
    assert out.logits.shape == (3, 15) and out.embedding.shape == (3, 24)
    assert torch.allclose(out.embedding.norm(dim=-1), torch.ones(3), atol=1e-5)
    both = m.pose(x)
    assert torch.allclose(both.pose, backbone(x), atol=1e-6)  # the lifter's own 3D from the same pass
    assert torch.allclose(both.embedding, out.embedding, atol=1e-6)


def test_people_are_averaged_after_time_pooling(backbone, one_thread):
    m = ActionModel(backbone, ActionHeadConfig(num_classes=4, embed_dim=0, hidden=8)).eval()
    a, b = torch.randn(1, 16, 17, 3), torch.randn(1, 16, 17, 3)
    rep = torch.stack([backbone.representation(a), backbone.representation(b)], dim=1)  # (1,2,T,J,D)
    pooled = ActionHead.pool(rep)
    expect = 0.5 * (ActionHead.pool(backbone.representation(a)) + ActionHead.pool(backbone.representation(b)))
    assert torch.allclose(pooled, expect, atol=1e-6)
    two = m(torch.stack([a[0], b[0]])[None])  # (1,2,T,J,3)
    assert two.logits.shape == (1, 4) and two.embedding is None


def test_head_config_needs_an_output():
    with pytest.raises(ValueError):
        ActionHeadConfig(num_classes=0, embed_dim=0)


def test_text_alignment_loss_prefers_the_right_sentence():
    torch.manual_seed(1)
    head = ActionHead(17, 8, ActionHeadConfig(num_classes=0, embed_dim=6, hidden=8))
    bank = torch.nn.functional.normalize(torch.randn(5, 6), dim=-1)
    labels = torch.tensor([0, 3, -1])
    right = torch.stack([bank[0], bank[3], bank[1]])
    wrong = torch.stack([bank[1], bank[0], bank[1]])
    l_right, acc_right = text_alignment_loss(head, right, labels, bank)
    l_wrong, acc_wrong = text_alignment_loss(head, wrong, labels, bank)
    assert l_right < l_wrong and acc_right == 1.0 and acc_wrong == 0.0
    # unlabelled clips (-1) do not count; a batch without labels gives a zero loss with a gradient path
    emb = torch.randn(2, 6, requires_grad=True)
    loss, acc = text_alignment_loss(head, emb, torch.tensor([-1, -1]), bank)
    assert float(loss.detach()) == 0.0 and np.isnan(acc)
    loss.backward()
    # the temperature is learned and clamped at 100
    with torch.no_grad():
        head.logit_scale.fill_(10.0)
    assert float(head.text_logits(bank[:1], bank).max().detach()) == pytest.approx(100.0, rel=1e-5)


def test_structured_masks():
    rng = np.random.default_rng(0)
    off = CorruptionConfig()
    assert structured_mask(27, rng, off).all()  # off by default: existing recipes are unchanged
    parts = CorruptionConfig(mask_part_prob=1.0)
    seen = set()
    for _ in range(50):
        keep = structured_mask(27, rng, parts)
        hidden = tuple(sorted(H36M17.joints[j] for j in np.flatnonzero(keep.min(axis=0) == 0)))
        assert (keep == keep[:1]).all()  # the whole clip
        assert hidden in {tuple(sorted(v)) for v in BODY_PARTS.values()}
        seen.add(hidden)
    assert len(seen) == len(BODY_PARTS)
    win = CorruptionConfig(mask_window_prob=1.0)
    for _ in range(50):
        keep = structured_mask(40, rng, win)
        rows = np.flatnonzero(keep.max(axis=1) == 0)
        assert 4 <= len(rows) <= 12 and np.all(np.diff(rows) == 1)  # one window of 10-30% of the clip
        assert (keep[rows] == 0).all() and (np.delete(keep, rows, axis=0) == 1).all()


def _seq(label: str | None, T: int = 40) -> Sequence:
    rng = np.random.default_rng(0)
    xyz = rng.normal(0, 0.2, (T, 17, 3)).astype(np.float32) + [0, 0, 4]
    xy = (xyz[..., :2] / xyz[..., 2:] * 1000 + 500).astype(np.float32)
    return Sequence("S1", "Walking", "c0", xyz, xy, (1000, 1000), None, label)


def test_sampler_carries_label_ids():
    seqs = [_seq("walking"), _seq("eating"), _seq(None)]
    index = {"walking": 0, "eating": 1}
    s = ClipSampler(seqs, 9, CorruptionConfig(), seed=0, label_index=index)
    x, y, ids = s.batch(64)
    assert x.shape == (64, 9, 17, 3) and ids.shape == (64,) and ids.dtype == np.int64
    assert set(ids.tolist()) == {0, 1, -1}
    plain = ClipSampler(seqs, 9, CorruptionConfig(), seed=0)
    assert len(plain.batch(4)) == 2  # without a label index the batches are as before


def test_h36m_action_sentences_cover_the_15_actions():
    assert len(H36M_ACTIONS) == 15 and set(ACTION_SENTENCES) == set(H36M_ACTIONS)
    assert len(set(ACTION_SENTENCES.values())) == 15


def test_action_windows_cover_the_sequence():
    from mbcli.train.evaluate_action import action_windows

    xy = np.random.default_rng(0).uniform(100, 900, (100, 17, 2)).astype(np.float32)
    w = action_windows(xy, 27, step=2)
    assert w.shape == (3, 27, 17, 3)  # span 53 frames, a new window every 27 (0, 27) and one ending at frame 99 (47)
    assert np.abs(w[..., :2]).max() <= 1.0 + 1e-6 and (w[..., 2] == 1).all()
    assert action_windows(xy[:10], 27).shape == (1, 27, 17, 3)  # shorter than one window: stretched


def test_action_evaluation_counts_a_constant_classifier_exactly(backbone, h36m, one_thread):
    """A model that always ranks classes 3, 1, 4, 0, 2 first scores exactly the share of test sequences of class 3
    (top-1) and of those five classes (top-5)."""
    from mbcli.train.data import TEST_SUBJECTS, base_action, load_h36m
    from mbcli.train.evaluate_action import evaluate_action

    m = ActionModel(backbone, ActionHeadConfig(num_classes=15, embed_dim=0, hidden=8)).eval()
    last = m.head.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([7.0, 9.0, 6.0, 10.0, 8.0] + [0.0] * 10))
    res = evaluate_action(m, input="sh", data_dir=str(h36m))
    seqs = load_h36m(str(h36m), TEST_SUBJECTS, with_sh=True)
    cls = [H36M_ACTIONS.index(base_action(s.action)) for s in seqs]
    assert res.sequences == len(seqs) > 0
    assert res.top1 == pytest.approx(100.0 * np.mean([c == 3 for c in cls]))
    assert res.top5 == pytest.approx(100.0 * np.mean([c in (3, 1, 4, 0, 2) for c in cls]))
    from mbcli.train.evaluate_action import action_windows

    nwin = [len(action_windows(s.xy_sh, 16)) for s in seqs]  # the test backbone's window is 16 frames
    assert res.windows == sum(nwin)
    assert res.window_top1 == pytest.approx(100.0 * sum(n for n, c in zip(nwin, cls) if c == 3) / sum(nwin))
    d = res.to_dict()
    assert set(d) >= {"top1_percent", "top5_percent", "window_top1_percent", "per_action_top1_percent"}


@pytest.mark.slow
def test_zero_shot_cmu_scores_a_constant_embedding_exactly(backbone, one_thread):
    """A model whose motion embedding is always the text embedding of "jump" ranks "jump" first for every held-out
    sequence: top-1 is exactly the share of subject 13's sequences described as "jump"; a model without a text
    head and a holdout without trials are clear errors."""
    from mbcli.errors import ConfigError, DependencyError
    from mbcli.text import load_text_encoder
    from mbcli.train import cmu as C
    from mbcli.train.evaluate_action import evaluate_zero_shot_cmu

    cmu_dir = C.default_cmu_dir()
    if not (cmu_dir / "bvh").is_dir():
        pytest.skip(f"CMU BVH data not found in {cmu_dir}")
    try:
        enc = load_text_encoder()
    except DependencyError as e:
        pytest.skip(f"text model not installed ({e})")
    m = ActionModel(backbone, ActionHeadConfig(num_classes=0, embed_dim=384, hidden=8)).eval()
    last = m.head.embed[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.from_numpy(np.asarray(enc.encode(["jump"]), np.float32)[0]))
    res = evaluate_zero_shot_cmu(m, ("13",))
    seqs = [s for s in C.load_cmu(cmu_dir) if s.subject == "CMU13"]
    assert res.sequences == len(seqs) > 0 and res.holdout == ("13",)
    assert "jump" in res.labels and "walk" in res.labels and len(res.labels) == len(set(res.labels))
    assert res.top1 == pytest.approx(100.0 * np.mean([s.label == "jump" for s in seqs]))
    assert res.per_label_top1["jump"] == 100.0 and res.per_label_top1["forward jump"] == 0.0
    assert res.confusions["forward jump"] == {"jump": sum(s.label == "forward jump" for s in seqs)}
    assert res.top5 >= res.top1
    d = res.to_dict()
    assert d["chance_top1_percent"] == pytest.approx(100.0 / len(res.labels), abs=0.01)
    split = evaluate_zero_shot_cmu(m, ("13",), seen_labels=["jump", "walk"]).by_label_novelty
    assert split["seen"] == {"sequences": sum(s.label == "jump" for s in seqs), "labels": ["jump"],
                             "top1_percent": 100.0, "top5_percent": 100.0}
    assert split["unseen"]["sequences"] == len(seqs) - split["seen"]["sequences"]
    assert split["unseen"]["top1_percent"] == 0.0 and "forward jump" in split["unseen"]["labels"]
    with pytest.raises(ConfigError, match="no CMU trials"):
        evaluate_zero_shot_cmu(m, ("99",))
    with pytest.raises(ConfigError, match="subject numbers"):
        evaluate_zero_shot_cmu(m, ("thirteen",))
    no_text = ActionModel(backbone, ActionHeadConfig(num_classes=15, embed_dim=0, hidden=8)).eval()
    with pytest.raises(ConfigError, match="text-space embedding"):
        evaluate_zero_shot_cmu(no_text, ("13",))
