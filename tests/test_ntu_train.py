"""Action training and evaluation on NTU RGB+D (train/ntu_sampler.py, the loop's ``dataset: ntu60``,
evaluate_action_ntu, ``mbcli eval --task action --ntu``, ActionRecognizer's padding) on tiny synthetic files in the
real layouts (tests/ntu_fixture.py): a pyskl 2D pickle and a folder of .skeleton files. Seconds, no shared data."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import assert_one_line_error
from ntu_fixture import pyskl_2d, write_pyskl_dataset, write_skeleton_folder
from typer.testing import CliRunner

from mbcli.cli.main import app
from mbcli.errors import ConfigError
from mbcli.inference.action import ActionRecognizer, window_starts
from mbcli.labels import NTU60_CLASSES
from mbcli.model import DSTformer, preset, save_checkpoint
from mbcli.model.action import ActionHeadConfig, ActionModel, load_action_model
from mbcli.normalize import crop_params, encode
from mbcli.skeletons import H36M17
from mbcli.train.augment import CorruptionConfig
from mbcli.train.evaluate_action import evaluate_action_ntu
from mbcli.train.loop import train
from mbcli.train.ntu import NtuH36M
from mbcli.train.ntu_files import load_ntu
from mbcli.train.ntu_sampler import NtuClipSampler, ntu_windows
from mbcli.train.recipe import ModelSpec, load_recipe
from mbcli.types import Keypoints2D

pytestmark = pytest.mark.usefixtures("one_thread")
L = 27
MODEL = ModelSpec(preset="tiny", overrides={"maxlen": L})  # the action model's window is its maxlen
runner = CliRunner()


class _FakeEncoder:
    """A stand-in text encoder (12-d unit vectors from each sentence's hash)."""

    def encode(self, sentences):
        out = np.stack([np.random.default_rng(abs(hash(s)) % 2**32).normal(size=12) for s in sentences])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _recipe(data: Path, **kw):
    base = dict(task="action", dataset="ntu60", ntu_data=str(data), model=MODEL, clip_len=L, steps=3,
                batch_size=4, checkpoint_minutes=0.0, log_every=1, eval_every=3, text_hidden=8, threads=1)
    return dataclasses.replace(load_recipe("smoke"), **{**base, **kw})


def _rows(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pkl(tmp_path_factory) -> Path:
    return write_pyskl_dataset(tmp_path_factory.mktemp("ntu") / "ntu60_hrnet.pkl")


@pytest.fixture(scope="module")
def trained(pkl, tmp_path_factory) -> tuple[Path, Path, dict]:
    """3 steps with text alignment (fake encoder) from a saved tiny lifter: (checkpoint, run folder, initial
    weights)."""
    import mbcli.text

    root = tmp_path_factory.mktemp("ntu_run")
    torch.manual_seed(0)
    init = DSTformer(preset("tiny", maxlen=L, output_units="m"))
    save_checkpoint(root / "init.pt", init)
    with pytest.MonkeyPatch.context() as mp, torch.random.fork_rng():
        mp.setattr(mbcli.text, "load_text_encoder", lambda path=None: _FakeEncoder())
        torch.set_num_threads(1)
        ckpt = train(_recipe(pkl, text_align=0.5, init_from=str(root / "init.pt")), root / "run", device="cpu")
    return ckpt, root / "run", {k: v.clone() for k, v in init.state_dict().items()}


# ------------------------------------------------------------------------------------------------- training


def test_trains_on_a_pyskl_pickle_without_a_lifter_loss(trained):
    ckpt, run, init = trained
    rows = _rows(run)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(np.isfinite(r["action"]) and np.isfinite(r["text"]) for r in rows)
    assert 0.0 <= rows[2]["val_action_top1"] <= 100.0
    assert not any("val_mpjpe_mm_gt2d" in r for r in rows)  # no 3D on NTU
    obj = torch.load(ckpt, weights_only=False)
    meta = obj["meta"]
    assert (meta["dataset"], meta["ntu_protocol"], meta["num_people"]) == ("ntu60", "xsub", 2)
    assert obj["classes"] == list(NTU60_CLASSES) and obj["label_bank"] == list(NTU60_CLASSES)
    assert obj["text_bank"].shape == (60, 12)
    # the pose head got no gradient (not even weight decay); the backbone did train
    assert torch.equal(obj["model"]["head.weight"], init["head.weight"])
    assert any(not torch.equal(obj["model"][k], init[k]) for k in init if k != "head.weight")
    model, m = load_action_model(ckpt)
    assert model.head.config.num_classes == 60 and m["classes"] == list(NTU60_CLASSES)
    out = model(torch.zeros(2, 2, L, 17, 3))
    assert out.logits.shape == (2, 60) and out.embedding.shape == (2, 12)


@pytest.mark.slow
def test_trains_on_a_skeleton_folder_and_resumes_exactly(tmp_path):
    write_skeleton_folder(tmp_path / "skel")
    text = ("task: action\ndataset: ntu60\nntu_data: skel\nntu_protocol: xsub\nmodel: {preset: tiny, overrides: "
            f"{{maxlen: {L}}}}}\nclip_len: {L}\nbatch_size: 4\nsteps: 4\nlog_every: 1\neval_every: 2\n"
            "checkpoint_minutes: 0.0\namp: none\nthreads: 1\ntext_hidden: 8\n")
    (tmp_path / "r.yaml").write_text(text)
    r = load_recipe(str(tmp_path / "r.yaml"))
    assert r.ntu_data == str((tmp_path / "skel").resolve())  # relative to the recipe, like init_from
    full = train(r, tmp_path / "full", device="cpu")
    train(r, tmp_path / "part", device="cpu", max_steps=2)
    train(r, tmp_path / "part", device="cpu", resume=True)
    a, b = _rows(tmp_path / "full"), _rows(tmp_path / "part")
    assert [x["step"] for x in b] == [1, 2, 3, 4]
    assert [x["loss"] for x in a] == [x["loss"] for x in b]
    assert a[1]["val_action_top1"] == b[1]["val_action_top1"] and "val_action_top1" in a[3]
    model, meta = load_action_model(full)
    assert model.head.config.num_classes == 60 and meta["num_people"] == 2


# ------------------------------------------------------------------------------------------------- sampler


def _two_people(T: int = L, second: bool = True) -> NtuH36M:
    """Person 0 in x 100..300 px, person 1 (or nobody) in x 1500..1700 px; y 400..600."""
    rng = np.random.default_rng(3)
    xy = np.zeros((2, T, 17, 2), np.float32)
    xy[0] = rng.uniform([100, 400], [300, 600], (T, 17, 2))
    xy[1] = rng.uniform([1500, 400], [1700, 600], (T, 17, 2))
    sc = np.ones((2, T, 17), np.float32)
    if not second:
        xy[1], sc[1] = 0, 0
    return NtuH36M("S001C001P001R001A050", 49, xy, sc, None, (1920, 1080))


def test_sampler_shapes_determinism_and_state(pkl):
    train_s, _ = load_ntu(pkl, "xsub")
    assert {s.num_frames for s in train_s} >= {20, 40, 60}  # 20 < L: stretched
    s = NtuClipSampler(train_s, L, CorruptionConfig(), seed=3)
    x, y, labels = s.batch(6)
    assert x.shape == (6, 2, L, 17, 3) and x.dtype == np.float32
    assert y.shape == (6, L, 17, 3) and not y.any() and labels.shape == (6,) and labels.dtype == np.int64
    assert set(labels.tolist()) <= {t.label for t in train_s} and np.isfinite(x).all()
    again = NtuClipSampler(train_s, L, CorruptionConfig(), seed=3).batch(6)
    assert all(np.array_equal(p, q) for p, q in zip((x, y, labels), again))
    st = s.state()
    nxt = s.batch(6)
    s.set_state(st)
    assert all(np.array_equal(p, q) for p, q in zip(nxt, s.batch(6)))
    assert not np.array_equal(NtuClipSampler(train_s, L, CorruptionConfig(), seed=4).batch(6)[0], x)


def test_one_common_crop_keeps_the_people_apart():
    sample = _two_people()
    x = NtuClipSampler([sample], L, CorruptionConfig(strides=(1,)), seed=0, clean=True).batch(1)[0][0]
    p = crop_params(sample.xy, sample.scores)  # over both people and every frame
    assert p.center_xy[0] == pytest.approx(900, abs=100) and p.scale_px > 600
    np.testing.assert_allclose(x, encode(sample.xy, sample.scores, p), atol=1e-6)
    assert x[0, ..., 0].max() < -0.5 and x[1, ..., 0].min() > 0.5  # left stays left, right stays right
    # one person: the absent second person is all zeros, the first is cropped on its own
    alone = _two_people(second=False)
    x1 = NtuClipSampler([alone], L, CorruptionConfig(strides=(1,)), seed=0, clean=True).batch(1)[0][0]
    assert not x1[1].any()
    np.testing.assert_allclose(x1[0], encode(alone.xy[0], alone.scores[0], crop_params(alone.xy[0], alone.scores[0])),
                               atol=1e-6)


def test_flip_mirrors_both_people_and_swaps_sides():
    sample = _two_people()
    still = dict(strides=(1,), mask_joint_prob=0.0, mask_frame_prob=0.0, scale_jitter=(1.0, 1.0), center_jitter=0.0)
    plain = NtuClipSampler([sample], L, CorruptionConfig(flip_prob=0.0, **still), seed=5).batch(1)[0][0]
    flip = NtuClipSampler([sample], L, CorruptionConfig(flip_prob=1.0, **still), seed=5).batch(1)[0][0]
    perm = H36M17.flip_permutation
    assert perm[H36M17.idx("left_wrist")] == H36M17.idx("right_wrist")
    np.testing.assert_allclose(flip[..., 0], -plain[..., perm, 0], atol=1e-6)
    np.testing.assert_allclose(flip[..., 1:], plain[..., perm, 1:], atol=1e-6)
    assert flip[0, ..., 0].min() > 0.5 and flip[1, ..., 0].max() < -0.5  # the left person is now on the right


def test_ntu_windows_are_the_action_windows():
    sample = _two_people(T=60)
    w = ntu_windows(sample, L, 1)
    starts = window_starts(60, L, 1)
    assert starts == [0, 13, 26, 33] and w.shape == (4, 2, L, 17, 3)
    ix = starts[2] + np.arange(L)
    xy, sc = sample.xy[:, ix], sample.scores[:, ix]
    np.testing.assert_allclose(w[2], encode(xy, sc, crop_params(xy, sc)), atol=1e-6)
    assert ntu_windows(_two_people(T=10), L).shape == (1, 2, L, 17, 3)  # short: one stretched window


# ------------------------------------------------------------------------------------------------ evaluation


@pytest.fixture(scope="module")
def backbone() -> DSTformer:
    torch.manual_seed(0)
    return DSTformer(preset("tiny", maxlen=L)).eval()


def test_evaluation_counts_a_constant_classifier_exactly(pkl, backbone):
    """A model that always ranks classes c0..c4 first scores exactly the share of test samples of class c0 (top-1)
    and of those five classes (top-5)."""
    _, test = load_ntu(pkl, "xsub")
    y = [s.label for s in test]
    first = [y[0], y[1], 59, 58, 57]
    m = ActionModel(backbone, ActionHeadConfig(num_classes=60, embed_dim=0, hidden=8)).eval()
    with torch.no_grad():
        m.head.classifier[-1].weight.zero_()
        m.head.classifier[-1].bias.zero_()
        for rank, c in enumerate(first):
            m.head.classifier[-1].bias[c] = 10.0 - rank
    calls = []
    res = evaluate_action_ntu(m, pkl, "xsub", on_progress=lambda d, t: calls.append(d), batch_size=5)
    assert res.samples == len(test) == 6 and calls == list(range(1, 7))
    assert res.top1 == pytest.approx(100.0 * np.mean([c == first[0] for c in y]))
    assert res.top5 == pytest.approx(100.0 * np.mean([c in first for c in y]))
    nwin = [len(ntu_windows(s, L)) for s in test]
    assert res.windows == sum(nwin)
    assert res.window_top1 == pytest.approx(100.0 * sum(n for n, c in zip(nwin, y) if c == first[0]) / sum(nwin))
    assert res.per_class_top1[NTU60_CLASSES[first[0]]] == 100.0 and res.per_class_top1[NTU60_CLASSES[y[2]]] == 0.0
    assert set(res.per_class_top1) == {NTU60_CLASSES[c] for c in y}
    d = res.to_dict()
    assert (d["dataset"], d["protocol"], d["samples"]) == ("ntu60", "xsub", 6)
    json.dumps(d)


def test_evaluation_of_a_trained_model_and_errors(trained, pkl, backbone, tmp_path):
    model, _ = load_action_model(trained[0])
    res = evaluate_action_ntu(model, pkl, "xview")
    _, test = load_ntu(pkl, "xview")
    assert res.samples == len(test) > 0 and 0.0 <= res.top1 <= res.top5 <= 100.0 and res.windows >= res.samples
    folder = write_skeleton_folder(tmp_path / "skel")
    res = evaluate_action_ntu(model, folder, "xsub")
    assert res.samples == len(load_ntu(folder, "xsub")[1]) and 0.0 <= res.top1 <= res.top5 <= 100.0
    no_cls = ActionModel(backbone, ActionHeadConfig(num_classes=0, embed_dim=4, hidden=8))
    with pytest.raises(ConfigError, match="no action classifier"):
        evaluate_action_ntu(no_cls, pkl)
    h36m_like = ActionModel(backbone, ActionHeadConfig(num_classes=15, embed_dim=0, hidden=8))
    with pytest.raises(ConfigError, match="15 classes"):
        evaluate_action_ntu(h36m_like, pkl)
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate_action_ntu(model, tmp_path / "missing.pkl")


def _cli(args: list[str]):
    return runner.invoke(app, ["eval", *args], catch_exceptions=False)


def test_cli_eval_action_on_ntu(trained, pkl, tmp_path):
    ckpt = str(trained[0])
    out = tmp_path / "ntu.json"
    r = _cli(["--task", "action", "--weights", ckpt, "--ntu", str(pkl), "--json", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert (d["protocol"], d["samples"], d["num_classes"]) == ("xsub", len(load_ntu(pkl, "xsub")[1]), 60)
    assert 0 <= d["top1_percent"] <= d["top5_percent"] <= 100 and "top-5" in r.output
    r = _cli(["--task", "action", "--weights", ckpt, "--ntu", str(pkl), "--protocol", "xview", "--device", "cpu"])
    assert r.exit_code == 0 and "trained on the xsub split" in " ".join(r.output.split()), r.output
    assert_one_line_error(_cli(["--task", "action", "--weights", ckpt, "--ntu", str(pkl), "--protocol", "xcam"]),
                    "--protocol must be xsub, xview or xset")
    assert_one_line_error(_cli(["--weights", ckpt, "--ntu", str(pkl)]), "--ntu goes with --task action")
    assert_one_line_error(_cli(["--task", "action", "--weights", ckpt, "--protocol", "xsub"]), "--protocol needs --ntu")


# ------------------------------------------------------------------------------------------------ recipes


@pytest.mark.parametrize("text, pattern", [
    ("task: action\ndataset: ntu60\nntu_data: a.pkl\nntu_protocol: xcam\n", "ntu_protocol must be one of"),
    ("dataset: ntu60\nntu_data: a.pkl\n", "needs task: action"),
    ("task: action\ndataset: kinetics\n", "dataset must be one of h36m, ntu60, ntu120"),
    ("task: action\ndataset: ntu120\nntu_data: a.pkl\ncmu_fraction: 0.2\n", "cmu_fraction must be 0"),
])
def test_recipe_errors_are_one_line(tmp_path, text, pattern):
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(ConfigError, match=pattern) as e:
        load_recipe(str(tmp_path / "r.yaml"))
    assert "\n" not in str(e.value)


def test_ntu_data_must_be_given_and_usable(tmp_path):
    (tmp_path / "r.yaml").write_text("task: action\ndataset: ntu60\n")
    with pytest.raises(ConfigError, match="needs ntu_data") as e:
        train(load_recipe(str(tmp_path / "r.yaml")), tmp_path / "run", device="cpu")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="does not exist"):
        train(_recipe(tmp_path / "nothing.pkl"), tmp_path / "run", device="cpu")
    data = pyskl_2d()
    data.pop("split")
    ann = data["annotations"][0]
    ann["frame_dir"], ann["label"] = "S001C001P001R001A061", 60  # an NTU-120 action
    (tmp_path / "ntu120.pkl").write_bytes(pickle.dumps(data))
    with pytest.raises(ConfigError, match="use dataset: ntu120"):
        train(_recipe(tmp_path / "ntu120.pkl"), tmp_path / "run", device="cpu")


def test_builtin_ntu60_recipe_matches_the_shipped_lifter(tmp_path):
    from mbcli.model.checkpoint import load_checkpoint

    r = load_recipe("action-ntu60")
    assert (r.task, r.dataset, r.ntu_protocol, r.w_pose, r.text_align) == ("action", "ntu60", "xsub", 0.0, 0.5)
    assert r.clip_len == preset(r.model.preset, **r.model.overrides).maxlen  # training clips = inference windows
    with pytest.raises(ConfigError, match="needs ntu_data"):
        train(r, tmp_path / "run", device="cpu")
    shipped = Path(__file__).resolve().parents[1] / "weights" / "lifter_small_h36m.pt"
    if not shipped.is_file():
        pytest.skip(f"{shipped} not present")
    cfg = preset(r.model.preset, **{**r.model.overrides, "output_units": "m"})
    assert load_checkpoint(shipped)[0].config == cfg  # --init weights/lifter_small_h36m.pt fits


# ------------------------------------------------------------------------------------------------ inference


def test_action_recognizer_pads_a_single_track_for_a_two_person_model(trained):
    model, meta = load_action_model(trained[0])
    rec = ActionRecognizer(model, meta)
    assert rec.num_people == 2 and rec.labels == list(NTU60_CLASSES)
    rng = np.random.default_rng(0)
    kp = Keypoints2D(rng.uniform(300, 900, (60, 17, 2)), np.ones((60, 17)), np.arange(60), "h36m17", (1920, 1080),
                     30.0)
    seen: list[tuple[int, ...]] = []
    hook = model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    try:
        res = rec.recognize(kp)
    finally:
        hook.remove()
    assert seen and all(len(s) == 5 and s[1] == 2 and s[3:] == (17, 3) for s in seen)  # (W,M=2,L,J,3): padded
    assert res.overall.probs.shape == (60,) and res.overall.probs.sum() == pytest.approx(1.0, abs=1e-5)
    x, _ = rec.windows(kp, 1)
    padded = np.concatenate([x[:, None], np.zeros_like(x)[:, None]], axis=1)
    with torch.inference_mode():
        want = torch.softmax(model(torch.from_numpy(padded)).logits, -1).mean(0).numpy()
    np.testing.assert_allclose(res.overall.probs, want, atol=1e-6)  # the second person is all zeros
    bank = _FakeEncoder().encode(["drink water", "hand waving"])
    open_vocab = ActionRecognizer(model, meta, labels=["drink water", "hand waving"], text_bank=bank)
    assert open_vocab.recognize(kp).overall.probs.shape == (2,)


def test_cli_passes_ntu_data_to_the_builtin_recipe(pkl, tmp_path, monkeypatch):
    """The shipped action-ntu60 recipe runs once --ntu-data names the data (the training itself is the real loop of
    the tests above; here it is captured: one step of the full recipe takes about a minute on 2 CPU cores); without
    it, a one-line error before anything starts."""
    import mbcli.train.loop

    r = runner.invoke(app, ["train", "--config", "action-ntu60", "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert r.exit_code == 1 and "--ntu-data" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    seen = []
    monkeypatch.setattr(mbcli.train.loop, "train", lambda recipe, out, **kw: seen.append(recipe) or out / "last.pt")
    r = runner.invoke(app, ["train", "--config", "action-ntu60", "--ntu-data", str(pkl), "--max-steps", "1",
                            "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert seen == [dataclasses.replace(load_recipe("action-ntu60"), ntu_data=str(pkl))]
    assert seen[0].dataset == "ntu60" and seen[0].task == "action"
