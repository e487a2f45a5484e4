"""The one training loop for the lifter: sample clips, corrupt, regress metric 3D, checkpoint, resume.

- AdamW with weight decay (the fused kernel with ``fused_adamw``); a linear warm-up over ``warmup_steps``, then
  either the learning rate is multiplied by ``lr_decay`` every ``epoch_steps`` steps (MotionBERT decays 0.99 per
  epoch), or it follows a cosine to ``min_lr`` at ``steps`` (``lr_schedule: cosine``) or at the end of the
  wall-clock budget ``max_minutes`` of this invocation (``cosine-time``: a GPU window, whatever the step rate;
  one process only).
- bf16 autocast on CPU and CUDA when ``amp: bf16`` (weights and optimizer stay float32); ``compile: true`` runs
  the network through torch.compile (eagerly, with a warning, if the first compiled step fails).
- Data: Human3.6M clips (projected ground truth with corruption, or the SH detections) and, with ``cmu_fraction``
  > 0, CMU mocap clips seen through virtual cameras (train/cmu.py) mixed in at that rate. ``sampler: device``
  (default) keeps every training array on the training device and draws, projects and corrupts whole batches
  there (train/device_sampler.py); ``sampler: numpy`` draws clip by clip (train/augment.py) on a background thread
  ``prefetch`` batches ahead (same order, same result as without it). The two have the same distributions.
- No host synchronisation inside a lifter step: the loss and its parts stay on the device and are read back every
  ``log_every`` steps (the row logged is that step's), at evaluations and before checkpoints (text alignment,
  ``text_align`` > 0, still reads its accuracy back every step).
- Health (train/health.py, recipe ``guard``): every ``eval_every`` steps and before every checkpoint the fixed
  validation clips are lifted; a non-finite loss, a collapsed skeleton (bones under ``min_bone_ratio`` of their
  length after ``after_steps``) or ``stall_evals`` evaluations without a new best stop the run with a one-line
  TrainingError. A diverged or collapsed model is never checkpointed (the last good ``last.pt`` stays); a stalled
  one is saved first.
- Multi-GPU: run under ``torchrun --nproc_per_node N -m mbcli train ...``; the loop detects the torchrun
  environment, joins the process group (NCCL on CUDA, Gloo on CPU) and wraps the model in
  DistributedDataParallel. ``batch_size`` is the global batch (split evenly over the ranks); each rank draws its
  own clips from its own seeded sampler; only rank 0 logs, reports progress and writes checkpoints.
- Every ``checkpoint_minutes`` (and at the end) ``last.pt`` is written atomically with the model config, weights,
  optimizer, step, every rank's sampler state and the RNG states, so ``resume=True`` continues exactly where a
  killed run stopped: the steps after the checkpoint are recomputed identically, and metrics.jsonl rows written
  after the checkpoint are dropped on resume so the log stays one row per step.
- ActionPose-style text alignment (``text_align`` > 0): every training sequence carries a label sentence (H36M:
  its action, CMU: the trial's description); the sentences are embedded once with the frozen text encoder
  (mbcli/text/) into a label bank, an alignment head (model/action.py) maps the pooled motion representation
  into that space, and ``text_align`` times the motion-to-text InfoNCE over the bank is added to the lifter loss.
  The checkpoint stays a plain lifter checkpoint; the head and the label sentences travel in it as extras.
- NTU RGB+D (``dataset: ntu60 | ntu120``, task action only): clips of both people of a sample under one crop
  (train/ntu_sampler.py), input (B,2,L,17,3); the classes and the text label bank are the NTU class names; there is
  no 3D, so the lifter loss and the validation MPJPE are skipped (the pose head is left as it was) and the quick
  validation reports the top-1 of fixed clips of the protocol's test split. The checkpoint meta adds
  ``dataset``, ``ntu_protocol`` and ``num_people`` (2), which ``mbcli action`` uses to pad a single track.
- Progress is reported through ``on_progress(step, total, metrics)``; nothing is printed here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, cast

import numpy as np
import torch
import torch.distributed as dist

from mbcli.errors import ConfigError, TrainingError
from mbcli.fsutil import atomic_path, nearest_existing, writable
from mbcli.labels import ACTION_SENTENCES, H36M_ACTIONS, LABEL_SETS
from mbcli.model import DSTformer, DSTformerConfig, preset, resolve_device, save_checkpoint
from mbcli.model.action import ActionHead, ActionHeadConfig, text_alignment_loss
from mbcli.model.checkpoint import build_model, load_checkpoint
from mbcli.train.augment import ClipSampler
from mbcli.train.data import TEST_SUBJECTS, h36m_dir, load_h36m
from mbcli.train.device_sampler import DeviceClipSampler
from mbcli.train.health import Guard, Verdict, bone_ratio
from mbcli.train.losses import lifter_loss
from mbcli.train.ntu_sampler import NtuClipSampler
from mbcli.train.recipe import Recipe, ntu_data_path

ProgressFn = Callable[[int, int, dict], None]


class _PoseAndHead(torch.nn.Module):
    """The lifter and its action / text-alignment head as one module (one backbone pass; DDP syncs both)."""

    def __init__(self, model: DSTformer, head: ActionHead) -> None:
        super().__init__()
        self.model, self.align = model, head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        if x.dim() == 5:  # (B,M,T,J,3): several people per sample (NTU); no 3D is trained, so no pose output
            B, M = x.shape[:2]
            rep = self.model.representation(x.flatten(0, 1))
            out = self.align(rep.reshape(B, M, *rep.shape[1:]))
            return None, out.embedding, out.logits
        rep = self.model.representation(x)
        out = self.align(rep)
        return self.model.head(rep), out.embedding, out.logits


def label_sentences(seqs: list, task: str) -> list[str]:
    """The label vocabulary: for the action task the 15 H36M action sentences first (class i = sentence i), then
    any other sentences (CMU descriptions) sorted; for pose, every sentence of ``seqs`` sorted."""
    found = sorted({s.label for s in seqs if s.label})
    if task != "action":
        return found
    first = [ACTION_SENTENCES[a] for a in H36M_ACTIONS]
    return first + [t for t in found if t not in first]


def embed_labels(labels: list[str], text_model: str | None = None) -> torch.Tensor:
    """Unit text embeddings (K,E) of the label sentences (all-MiniLM-L6-v2, mbcli/text/)."""
    from mbcli.text import load_text_encoder

    if not labels:
        raise ConfigError("text_align needs labelled training sequences (H36M actions or CMU descriptions)")
    return torch.from_numpy(np.asarray(load_text_encoder(text_model).encode(labels), dtype=np.float32))


NTU_PEOPLE = 2  # people per NTU sample the model sees (absent ones all zeros)


def _ntu_source(recipe: Recipe) -> Path:
    """The recipe's NTU source; ConfigError when it is not given or does not exist."""
    path = ntu_data_path(recipe)
    if not path.exists():
        raise ConfigError(f"ntu_data {path} does not exist (pyskl's {recipe.dataset}_hrnet.pkl or a folder of "
                          f".skeleton files)")
    return path


def _load_ntu_data(recipe: Recipe) -> tuple[list, list, tuple[str, ...]]:
    """(train samples, test samples, class names) of a dataset ntu* recipe; one-line errors for an unusable source."""
    from mbcli.train.ntu_files import load_ntu

    path = _ntu_source(recipe)
    classes = LABEL_SETS[recipe.dataset]
    train_s, test_s = load_ntu(path, recipe.ntu_protocol, num_people=NTU_PEOPLE)
    for part, samples in (("training", train_s), ("test", test_s)):
        if not samples:
            raise ConfigError(f"ntu_data {path} has no {part} samples under protocol {recipe.ntu_protocol}")
        if any(s.xy is None for s in samples[:1]):
            raise ConfigError(f"ntu_data {path} holds 3D joints only; the action model needs 2D keypoints "
                              f"(pyskl's {recipe.dataset}_hrnet.pkl or the .skeleton files)")
    top = max(s.label for s in train_s + test_s)
    if top >= len(classes):
        raise ConfigError(f"ntu_data {path} holds action A{top + 1:03d}, beyond {recipe.dataset}'s {len(classes)} "
                          f"classes (use dataset: ntu120)")
    return train_s, test_s, classes


def _lr_at(recipe: Recipe, step: int, elapsed_s: float = 0.0) -> float:
    """The learning rate of ``step`` (``elapsed_s``: training seconds so far, for the cosine-time schedule)."""
    warm = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    if recipe.lr_schedule in ("cosine", "cosine-time"):
        if recipe.lr_schedule == "cosine-time":
            t = min(1.0, elapsed_s / (60.0 * (recipe.max_minutes or 1.0)))
        else:
            t = min(1.0, step / max(1, recipe.steps))
        return warm * (recipe.min_lr + (recipe.lr - recipe.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t)))
    return warm * recipe.lr * recipe.lr_decay ** (step // max(1, recipe.epoch_steps))


class MixedSampler:
    """Draws each clip of a batch from ``b`` with probability ``frac_b``, else from ``a`` (one seeded stream)."""

    def __init__(self, a: ClipSampler, b: ClipSampler, frac_b: float, seed: int) -> None:
        self.a, self.b, self.frac_b = a, b, frac_b
        self.rng = np.random.default_rng(seed + 7919)

    def batch(self, batch_size: int) -> tuple[np.ndarray, ...]:
        nb = int(self.rng.binomial(batch_size, self.frac_b))
        parts = [s.batch(n) for s, n in ((self.a, batch_size - nb), (self.b, nb)) if n > 0]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))

    def state(self) -> dict:
        return {"mix": self.rng.bit_generator.state, "a": self.a.state(), "b": self.b.state()}

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["mix"]
        self.a.set_state(state["a"])
        self.b.set_state(state["b"])


class Prefetcher:
    """Draws batches on a background thread, in the sampler's own order, ``depth`` ahead of the training step.

    Each batch travels with the sampler state right after it was drawn, so ``state()`` is the state after the last
    batch *consumed*: a checkpoint never skips the batches that were drawn but not yet trained on.
    """

    def __init__(self, sampler: ClipSampler | MixedSampler | NtuClipSampler, batch_size: int, depth: int) -> None:
        import queue
        import threading

        self.sampler, self.batch_size = sampler, batch_size
        self._state = sampler.state()
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item: tuple[tuple[np.ndarray, ...] | None, dict | None, Exception | None]  # (batch, state, error)
            try:
                item = (self.sampler.batch(self.batch_size), self.sampler.state(), None)
            except Exception as e:  # handed to the training thread
                item = (None, None, e)
            while not self._stop.is_set():
                try:
                    self._q.put(item, timeout=0.1)
                    break
                except Exception:
                    continue
            if item[2] is not None:
                return

    def batch(self) -> tuple[np.ndarray, ...]:
        b, state, err = self._q.get()
        if err is not None:
            raise err
        self._state = state
        return b

    def state(self) -> dict:
        return self._state

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Dist:
    """The torchrun environment, or a single process."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        dev = resolve_device(device)
        if self.world > 1:
            if dev.type == "cuda":
                dev = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        self.device = dev

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, obj: object) -> list:
        if self.world == 1:
            return [obj]
        out: list = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def agree(self, flag: int) -> int:
        """Rank 0's decision, broadcast (checkpoint/stop timing must be the same on every rank)."""
        if self.world == 1:
            return flag
        t = torch.tensor([flag], dtype=torch.int64, device=self.device)
        dist.broadcast(t, 0)
        return int(t.item())

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world


def _truncate_log(path: Path, step: int) -> None:
    """Drop metric rows written after the checkpoint we resume from (they will be recomputed)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
    with atomic_path(path) as tmp:
        tmp.write_text("".join(s + "\n" for s in keep))


def _rng_state(dev: torch.device) -> dict:
    st = {"torch": torch.get_rng_state()}
    if dev.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(dev)
    return st


def _set_rng_state(st: dict, dev: torch.device) -> None:
    torch.set_rng_state(st["torch"])
    if dev.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], dev)




# ------------------------------------------------------------------------------------------------ data


@dataclasses.dataclass
class _Data:
    """What a run trains and validates on."""

    sampler: DeviceClipSampler | ClipSampler | MixedSampler | NtuClipSampler
    val: list[tuple[torch.Tensor, ...]]  # fixed clean clips (inputs, targets[, label ids]) on the device
    labels: list[str]  # the label vocabulary (action task / text alignment), else []
    classes: tuple[str, ...]  # NTU class names, else ()
    ntu: bool


def _load_data(recipe: Recipe, L: int, seed: int, dev: torch.device, with_labels: bool) -> _Data:
    """Samplers for the training clips (device or numpy, H36M and/or CMU, or NTU) and the fixed validation clips."""
    ntu = recipe.dataset != "h36m"
    classes: tuple[str, ...] = ()
    if ntu:
        ntu_train, ntu_test, classes = _load_ntu_data(recipe)
        val_ntu = NtuClipSampler(ntu_test, L, recipe.corruption, seed=1234, clean=True)
        n = max(1, math.ceil(recipe.val_clips / 16))
        val = [tuple(torch.from_numpy(a).to(dev) for a in val_ntu.batch(16)) for _ in range(n)]
        return _Data(NtuClipSampler(ntu_train, L, recipe.corruption, seed=seed), val, list(classes), classes, True)
    h36m_seqs = (load_h36m(recipe.data_dir, tuple(recipe.subjects), with_sh=recipe.use_sh)
                 if recipe.cmu_fraction < 1 else [])
    cmu_seqs: list = []
    if recipe.cmu_fraction > 0:
        from mbcli.train.cmu import cmu_subjects, load_cmu

        held = cmu_subjects(recipe.cmu_holdout)
        cmu_seqs = [s for s in load_cmu(recipe.cmu_dir, seed=recipe.seed) if s.subject not in held]
        if not cmu_seqs:
            raise ConfigError(f"cmu_holdout {list(recipe.cmu_holdout)} leaves no CMU trials to train on")
    labels = label_sentences(h36m_seqs + cmu_seqs, recipe.task) if with_labels else []
    index = {t: i for i, t in enumerate(labels)} if with_labels else None
    sampler: DeviceClipSampler | ClipSampler | MixedSampler
    frac = min(1.0, max(0.0, recipe.cmu_fraction))
    if recipe.sampler == "device":
        pools = [(h36m_seqs, 1.0 - frac), (cmu_seqs, frac)]
        sampler = DeviceClipSampler(pools, L, recipe.corruption, seed=seed, device=dev, label_index=index)
    elif recipe.cmu_fraction > 0:
        cmu = ClipSampler(cmu_seqs, L, recipe.corruption, seed=seed + 1, label_index=index)
        sampler = cmu if recipe.cmu_fraction >= 1 else MixedSampler(
            ClipSampler(h36m_seqs, L, recipe.corruption, seed=seed, label_index=index), cmu, frac, seed)
    else:
        sampler = ClipSampler(h36m_seqs, L, recipe.corruption, seed=seed, label_index=index)
    val_seqs = load_h36m(recipe.data_dir, TEST_SUBJECTS, with_sh=False, cameras=(0,))
    val_sampler = DeviceClipSampler(val_seqs, L, recipe.corruption, seed=1234, device=dev, clean=True,
                                    label_index=index if recipe.task == "action" else None)
    val = [val_sampler.batch(min(64, recipe.val_clips - i)) for i in range(0, recipe.val_clips, 64)]
    return _Data(sampler, val, labels, (), False)


def _batch_on(drawn: tuple, dev: torch.device) -> tuple[torch.Tensor, ...]:
    """A batch as device tensors (the device sampler's already are)."""
    return tuple(d if isinstance(d, torch.Tensor) else torch.from_numpy(d).to(dev, non_blocking=True) for d in drawn)


def _quick_val(net: torch.nn.Module, val: list[tuple[torch.Tensor, ...]], action: bool = False,
               pose: bool = True) -> dict[str, float]:
    """Training-time signals on the fixed clean-GT clips of the test subjects (not the benchmark): MPJPE (mm), the
    predicted/true bone-length ratio (health.bone_ratio: near 0 when the output collapses) and, for the action
    task, the classifier's clip-level top-1 accuracy (%). ``net`` is the lifter, or the lifter with its head (which
    returns (pose, embedding, logits)); one forward pass per batch serves all. ``pose=False`` (NTU: no 3D) reports
    the top-1 alone. One host synchronisation at the end."""
    err, bones, hits, n = [], [], [], []
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        for drawn in val:
            out = net(drawn[0])
            if pose:
                pred = (out[0] if isinstance(out, tuple) else out).float()
                pred = pred - pred[:, :, :1]
                err.append(torch.linalg.vector_norm(pred - drawn[1], dim=-1).mean())
                bones.append(bone_ratio(pred, drawn[1]))
            if action:
                ids = drawn[2]
                keep = ids >= 0
                hits.append(((out[2].float().argmax(-1) == ids) & keep).sum())
                n.append(keep.sum())
    net.train(was_training)
    res: dict[str, float] = {}
    if pose:
        mm, ratio = torch.stack(err).mean() * 1000.0, torch.stack(bones).mean()
        res["val_mpjpe_mm_gt2d"], res["val_bone_ratio"] = (float(v) for v in torch.stack([mm, ratio]).tolist())
    if action:
        h, c = torch.stack(hits).sum(), torch.stack(n).sum()
        res["val_action_top1"] = 100.0 * float(h) / max(float(c), 1.0)
    return res


# ------------------------------------------------------------------------------------------------ step


@dataclasses.dataclass
class StepModel:
    """The network a recipe trains (the lifter, with its action / alignment head when the task needs one), its
    optimiser, and one optimisation step. ``net`` is what the step calls (DDP- and/or torch.compile-wrapped);
    ``trainable`` the plain module (validation, checkpoints). With ``compile``, the first step runs compiled inside a
    guard: if compiling its forward or backward fails, the step is redone eagerly and training goes on eagerly, with
    a warning (a compiler problem on some machine costs speed, not the run)."""

    recipe: Recipe
    model: DSTformer
    head: ActionHead | None
    head_cfg: ActionHeadConfig | None
    trainable: torch.nn.Module
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    bank: torch.Tensor | None
    num_classes: int
    ntu: bool
    eager: torch.nn.Module | None = None  # the uncompiled net while the first compiled step is on trial

    @classmethod
    def build(cls, recipe: Recipe, model: DSTformer, dev: torch.device, world: int = 1,
              classes: tuple[str, ...] = (), bank: torch.Tensor | None = None, obj: dict | None = None) -> StepModel:
        """``classes``: NTU's (else the 15 H36M actions); ``bank``: the text label bank (text_align > 0); ``obj``: a
        training checkpoint being resumed (head and optimizer state)."""
        ntu = recipe.dataset != "h36m"
        action = recipe.task == "action"
        num_classes = len(classes) if ntu else len(H36M_ACTIONS)
        head = head_cfg = None
        trainable: torch.nn.Module = model
        if recipe.text_align > 0 or action:
            head_cfg = ActionHeadConfig(num_classes=num_classes if action else 0,
                                        embed_dim=int(bank.shape[1]) if bank is not None else 0,
                                        hidden=recipe.text_hidden, dropout=recipe.head_dropout)
            head = ActionHead(model.config.num_joints, model.config.dim_rep, head_cfg)
            if obj is not None and "action_head" in obj:
                head.load_state_dict(obj["action_head"])
            trainable = _PoseAndHead(model, head)
        trainable = trainable.to(dev).train()
        fused = recipe.fused_adamw and dev.type in ("cuda", "cpu")
        opt = torch.optim.AdamW(trainable.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay,
                                fused=True if fused else None)  # None: AdamW's own default
        if obj is not None:
            opt.load_state_dict(obj["optimizer"])
        net: torch.nn.Module = trainable
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                trainable, device_ids=[dev.index] if dev.type == "cuda" else None,
                find_unused_parameters=ntu or (action and not recipe.w_pose))
        eager = None
        if recipe.compile:
            # typed as returning a callable; given a module, torch.compile returns a module wrapping it
            eager, net = net, cast(torch.nn.Module, torch.compile(net))
        return cls(recipe, model, head, head_cfg, trainable, net, opt, bank, num_classes, ntu, eager)

    def step(self, drawn: tuple[torch.Tensor, ...], step: int) -> tuple[torch.Tensor, dict]:
        """One optimisation step on a device batch (inputs, targets[, label ids]) at the learning rate already set
        in the optimiser; returns (loss, parts) as device tensors, without waiting for them."""
        if self.eager is None:
            return self._step(drawn, step)
        try:
            out = self._step(drawn, step)
        except Exception as e:  # noqa: BLE001 - a compiler failure; a genuine error recurs eagerly below
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            logging.getLogger(__name__).warning("torch.compile failed (%s); training eagerly", first)
            self.net = self.eager
            self.opt.zero_grad(set_to_none=True)
            out = self._step(drawn, step)
        self.eager = None
        return out

    def _step(self, drawn: tuple[torch.Tensor, ...], step: int) -> tuple[torch.Tensor, dict]:
        recipe, dev = self.recipe, drawn[0].device
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=recipe.amp == "bf16"):
            pred = self.net(drawn[0])
        emb = logits = None
        if self.head is not None:
            pred, emb, logits = pred
        parts: dict[str, torch.Tensor | float] = {}
        if self.ntu:  # no 3D: the action terms alone
            loss = torch.zeros((), device=dev)
        else:
            pred = pred.float()
            pred = pred - pred[:, :, :1]
            ramp = recipe.loss.velocity_ramp_steps
            w_vel = recipe.loss.w_velocity * (min(1.0, step / ramp) if ramp else 1.0)
            loss, lparts = lifter_loss(pred, drawn[1], recipe.loss.w_scale, w_vel)
            parts.update(lparts)
            loss = recipe.w_pose * loss
        if recipe.task == "action":
            assert logits is not None
            cls = torch.where(drawn[2] < self.num_classes, drawn[2], -1)  # CMU sentences carry no class
            l_act = torch.nn.functional.cross_entropy(logits.float(), cls, ignore_index=-1)
            loss = loss + recipe.w_action * l_act
            parts["action"] = l_act.detach()
        if recipe.text_align > 0:
            assert self.head is not None and self.bank is not None and emb is not None
            l_text, acc = text_alignment_loss(self.head, emb.float(), drawn[2], self.bank)
            loss = loss + recipe.text_align * l_text
            parts["text"] = l_text.detach()
            parts["text_top1"] = acc
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.trainable.parameters(), recipe.grad_clip)
        self.opt.step()
        return loss, parts


# ------------------------------------------------------------------------------------------------ loop


def train(recipe: Recipe, out_dir: str | Path, device: str = "auto", resume: bool = False,
          on_progress: ProgressFn | None = None, max_steps: int | None = None,
          on_save: Callable[[Path], None] | None = None) -> Path:
    """Run (or resume) a recipe; returns the path of the final checkpoint ``last.pt``. Raises TrainingError (after
    keeping the last good checkpoint) when the run diverges, collapses or stalls (train/health.py). ``on_save(path)``
    is called on rank 0 after every checkpoint (the campaign exports fp16 weights from it)."""
    out = Path(out_dir)
    preflight(out, resume, max_steps, recipe)
    ctx = _Dist(device)
    local_batch = _set_up_process(recipe, out, ctx)
    run = _open_run(recipe, out, ctx, local_batch, resume, on_save)
    total = _total_steps(recipe, max_steps)  # (a finished run: preflight)
    try:
        loss = _train_steps(run, total, on_progress)
        if run.saved_step != run.step:
            run.save_checked(loss)
    finally:
        run.close()
    if ctx.world > 1:
        dist.barrier()
    return run.ckpt


def preflight(out: Path, resume: bool, max_steps: int | None, recipe: Recipe | None = None) -> int:
    """What can be refused before any data loads: a step limit under 1, a run folder that is a file or not
    writable, --resume without a checkpoint to continue, and (given the recipe) a missing data source or init_from
    file, or a run to resume that already reached its last step (``train`` calls it; the CLI too, before its
    progress bar and before the run folder is made). Returns the step a resumed run continues from (given the
    recipe), else 0."""
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps must be at least 1, got {max_steps}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a run folder")
    folder = nearest_existing(out)
    if not writable(folder):
        raise ConfigError(f"--out {out}: {folder} is not writable")
    if resume and not (out / "last.pt").is_file():
        raise ConfigError(f"--resume: there is no {out / 'last.pt'} to continue (leave out --resume to start a run)")
    if recipe is None:
        return 0
    _check_sources(recipe)
    if not resume:
        return 0
    total = _total_steps(recipe, max_steps)
    step = resume_step(out)
    if step >= total:
        raise ConfigError(f"--resume: the run in {out} already reached step {step} of {total}; nothing to train "
                          f"(raise the recipe's steps, e.g. --set steps=N, to continue it)")
    return step


def _total_steps(recipe: Recipe, max_steps: int | None) -> int:
    """The step a run stops at: the recipe's steps, or --max-steps when fewer."""
    return recipe.steps if max_steps is None else min(recipe.steps, max_steps)


def resume_step(out: Path) -> int:
    """The step ``out/last.pt`` was saved at (read without loading its tensors: the file is memory-mapped)."""
    ckpt = out / "last.pt"
    try:
        obj = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
        return int(obj["step"])
    except Exception as e:  # a damaged checkpoint: our own sentence, as load_checkpoint gives
        raise ConfigError(f"--resume: cannot read {ckpt} ({type(e).__name__}); start a new run without --resume, or "
                          f"into another --out") from None


def _check_sources(recipe: Recipe) -> None:
    """The files a recipe will read exist: its NTU source or its Human3.6M folder, and its init_from checkpoint."""
    if recipe.init_from and not Path(recipe.init_from).is_file():
        raise ConfigError(f"init_from {recipe.init_from}: no such checkpoint file (--init or the recipe's init_from)")
    if recipe.dataset != "h36m":
        _ntu_source(recipe)
    else:
        h36m_dir(recipe.data_dir)  # the training clips' source and, whatever cmu_fraction is, the validation clips'


def _set_up_process(recipe: Recipe, out: Path, ctx: _Dist) -> int:
    """Create the run folder (rank 0), refuse what cannot run in this process layout (a batch that does not split,
    cosine-time under torchrun), then threads, TF32 and the seed; returns this rank's batch size."""
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
    if recipe.batch_size % ctx.world:
        raise ConfigError(f"batch_size {recipe.batch_size} does not split over {ctx.world} processes")
    if recipe.lr_schedule == "cosine-time" and ctx.world > 1:
        raise ConfigError("lr_schedule cosine-time runs in one process (each rank's clock would give its own learning "
                          "rate); use cosine with a step count under torchrun")
    local_batch = recipe.batch_size // ctx.world
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    if ctx.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 matrix products (amp off) on the tensor cores
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(recipe.seed + ctx.rank)
    return local_batch


@dataclasses.dataclass
class _Resumed:
    """A training checkpoint being resumed: the file's contents, its lifter, its step and training seconds."""

    obj: dict[str, Any]
    model: DSTformer
    step: int
    train_seconds: float


def _load_resumed(ckpt: Path, cfg: DSTformerConfig) -> _Resumed:
    obj = torch.load(ckpt, map_location="cpu", weights_only=False)
    model = build_model(obj["model"], cfg, str(ckpt))
    return _Resumed(obj, model, int(obj["step"]), float(obj.get("meta", {}).get("train_seconds", 0.0)))


def _initial_model(recipe: Recipe, cfg: DSTformerConfig) -> DSTformer:
    """A freshly initialised lifter (drawn from the seeded RNG even when init_from then replaces it), or
    ``init_from``'s, which must have the recipe's config."""
    model = DSTformer(cfg)
    if recipe.init_from:
        model = load_checkpoint(recipe.init_from)[0]
        if model.config != cfg:
            raise ConfigError(f"init_from {recipe.init_from}: its model config differs from the recipe's")
    return model


def _open_run(recipe: Recipe, out: Path, ctx: _Dist, local_batch: int, resume: bool,
              on_save: Callable[[Path], None] | None) -> _Run:
    """Build the run: model config -> data (and the text label bank) -> lifter (fresh, ``init_from``'s, or the
    resumed checkpoint's) -> network and optimiser -> guard; a resumed run then gets its samplers', RNGs' and guard's
    states back. Last the batch feed and the metrics log open and the clocks start."""
    dev = ctx.device
    cfg = preset(recipe.model.preset, **{**recipe.model.overrides, "output_units": "m"})
    L = min(recipe.clip_len, cfg.maxlen)
    align = recipe.text_align > 0
    data = _load_data(recipe, L, recipe.seed + 1000 * ctx.rank, dev, with_labels=align or recipe.task == "action")
    bank = embed_labels(data.labels).to(dev) if align else None
    model = _initial_model(recipe, cfg)
    ckpt = out / "last.pt"
    resumed = _load_resumed(ckpt, cfg) if resume and ckpt.is_file() else None
    if resumed is not None:
        model = resumed.model
    trainer = StepModel.build(recipe, model, dev, ctx.world, data.classes, bank,
                              resumed.obj if resumed is not None else None)
    g = recipe.guard
    guard = Guard(g.after_steps, g.min_bone_ratio, g.stall_evals, g.min_improvement)
    run = _Run(recipe, ctx, out, data, bank, trainer, guard, local_batch, on_save)
    if resumed is not None:
        run.step, run.saved_step, run.elapsed_before = resumed.step, resumed.step, resumed.train_seconds
        _restore_states(run, resumed.obj)
    if recipe.prefetch and not isinstance(data.sampler, DeviceClipSampler):
        run.feed = Prefetcher(data.sampler, local_batch, recipe.prefetch)
    run.log = open(out / "metrics.jsonl", "a") if ctx.main else None
    run.t_start = run.t_ckpt = time.monotonic()
    return run


def _restore_states(run: _Run, obj: dict[str, Any]) -> None:
    """Put a resumed checkpoint's sampler, RNG and guard states back (one-line errors where the sampler does not
    fit this run) and drop the metric rows written after it."""
    ctx, ckpt = run.ctx, run.ckpt
    states = obj.get("sampler_states") or [obj["sampler_state"]]
    was = obj.get("meta", {}).get("sampler", "numpy")
    if was != run.recipe.sampler:
        raise ConfigError(f"{ckpt} was trained with sampler: {was}; resume it with --set sampler={was}")
    if len(states) == ctx.world:
        try:
            run.data.sampler.set_state(states[ctx.rank])
        except (RuntimeError, TypeError, ValueError, KeyError) as e:
            raise ConfigError(f"{ckpt}: its sampler state does not fit this run ({type(e).__name__}: "
                              f"{str(e)[:80]}); resume on the device type it was trained on") from None
    rngs = obj.get("rng_states") or [{"torch": obj["torch_rng"]}]
    if len(rngs) == ctx.world:
        _set_rng_state(rngs[ctx.rank], ctx.device)
    if "guard_state" in obj:
        run.guard.set_state(obj["guard_state"])
    if ctx.main:
        _truncate_log(run.out / "metrics.jsonl", run.step)


def _train_steps(run: _Run, total: int, on_progress: ProgressFn | None) -> torch.Tensor:
    """Optimisation steps up to ``total`` (or until ``max_minutes`` of this invocation are spent), the log rows,
    evaluations and checkpoints at their intervals; returns the last step's loss (zero when no step ran)."""
    recipe, ctx = run.recipe, run.ctx
    last: dict = {}
    loss = torch.zeros((), device=ctx.device)
    while run.step < total:
        lr = _lr_at(recipe, run.step, run.elapsed() - run.elapsed_before)  # cosine-time: over this invocation's budget
        for group in run.trainer.opt.param_groups:
            group["lr"] = lr
        drawn = _batch_on(run.feed.batch() if run.feed else run.data.sampler.batch(run.local_batch), ctx.device)
        loss, parts = run.trainer.step(drawn, run.step)
        run.step += 1
        evaluate = run.step % recipe.eval_every == 0 or run.step == total
        if run.step % recipe.log_every == 0 or evaluate:  # the only host synchronisation between evaluations
            last = _log_step(run, lr, loss, parts, evaluate)
        if on_progress and ctx.main:
            on_progress(run.step, total, last)
        if _at_interval(run, loss):
            break
    return loss


def _log_step(run: _Run, lr: float, loss: torch.Tensor, parts: dict, evaluate: bool) -> dict:
    """Read the step's loss and parts back (means over the ranks), validate when ``evaluate`` (the guard may stop
    the run; a non-finite loss stops it in any case) and write the row; returns the logged values."""
    names = ["loss", *parts]
    vals = torch.stack([loss.detach().float(), *(torch.as_tensor(parts[k], dtype=torch.float32,
                                                                  device=run.ctx.device) for k in parts)])
    last = {"step": run.step, "lr": lr, **{k: run.ctx.mean(v) for k, v in zip(names, vals.tolist())}}
    row = dict(last)
    if evaluate:
        vm, verdict = run.health(loss, count_eval=True)
        row.update(vm)
        if verdict:
            raise run.stop(verdict, row)
        run.checked_step = run.step
    elif not math.isfinite(last["loss"]):
        raise run.stop(Verdict("diverged", f"training diverged at step {run.step}: loss {last['loss']:.4g}"), row)
    run.write_row(row)
    return last


def _at_interval(run: _Run, loss: torch.Tensor) -> bool:
    """Checkpoint when ``checkpoint_minutes`` have passed since the last one; True when the ``max_minutes`` budget
    is spent. The ranks decide together (rank 0's clock), so under torchrun only every ``log_every`` steps."""
    recipe, ctx = run.recipe, run.ctx
    now = time.monotonic()
    if not (ctx.world == 1 or run.step % recipe.log_every == 0):
        return False
    over = bool(recipe.max_minutes and run.elapsed() - run.elapsed_before > recipe.max_minutes * 60)
    flag = ctx.agree(2 if over else 1 if now - run.t_ckpt > recipe.checkpoint_minutes * 60 else 0)
    if flag == 1:
        run.save_checked(loss)
        run.t_ckpt = now
    return flag == 2


@dataclasses.dataclass
class _Run:
    """One invocation of a recipe: what it trains with (data, text label bank, network and optimiser, guard, the
    batch feed), where it writes (``out``: last.pt, metrics.jsonl) and the loop's state: ``step`` done,
    ``saved_step`` (of the last checkpoint written or resumed from; None when there is none), ``checked_step`` (the
    last step the guard passed) and the clocks."""

    recipe: Recipe
    ctx: _Dist
    out: Path
    data: _Data
    bank: torch.Tensor | None
    trainer: StepModel
    guard: Guard
    local_batch: int
    on_save: Callable[[Path], None] | None
    step: int = 0
    saved_step: int | None = None
    checked_step: int = -1
    elapsed_before: float = 0.0  # training seconds of the invocations before this one (resume)
    feed: Prefetcher | None = None
    log: TextIO | None = None
    t_start: float = 0.0
    t_ckpt: float = 0.0

    @property
    def ckpt(self) -> Path:
        return self.out / "last.pt"

    def elapsed(self) -> float:
        """Training seconds, this invocation's and those before it."""
        return self.elapsed_before + time.monotonic() - self.t_start

    def save(self) -> None:
        """Write last.pt (rank 0) with every rank's sampler and RNG state; then ``on_save``."""
        recipe, ctx, data, trainer = self.recipe, self.ctx, self.data, self.trainer
        samplers = ctx.gather(self.feed.state() if self.feed else data.sampler.state())
        rngs = ctx.gather(_rng_state(ctx.device))
        self.saved_step = self.step  # on every rank: they must agree on whether a final save is due
        if not ctx.main:
            return
        meta = {"recipe": recipe.name, "step": self.step, "train_seconds": self.elapsed(),
                "device": str(ctx.device), "world_size": ctx.world, "output_units": "m", "frame": "camera",
                "root_relative": True, "cmu_fraction": recipe.cmu_fraction,
                "cmu_holdout": list(recipe.cmu_holdout), "sampler": recipe.sampler}
        if data.ntu:
            meta.update(dataset=recipe.dataset, ntu_protocol=recipe.ntu_protocol, num_people=NTU_PEOPLE)
        extra: dict[str, Any] = {}
        if trainer.head is not None and trainer.head_cfg is not None:
            extra = {"action_head": trainer.head.state_dict(), "head_config": dataclasses.asdict(trainer.head_cfg),
                     "label_bank": data.labels,
                     "classes": ((list(data.classes) if data.ntu else list(H36M_ACTIONS))
                                 if recipe.task == "action" else []),
                     "text_bank": self.bank.detach().cpu().half() if self.bank is not None else None}
        save_checkpoint(self.ckpt, trainer.model, meta=meta, optimizer=trainer.opt.state_dict(), step=self.step,
                        sampler_states=samplers, rng_states=rngs, guard_state=self.guard.state(), **extra)
        if self.on_save:
            self.on_save(self.ckpt)

    def save_checked(self, loss: torch.Tensor) -> None:
        """Checkpoint once the guard has passed the model at this step (a broken model is never checkpointed)."""
        if self.checked_step != self.step:
            _, verdict = self.health(loss, count_eval=False)
            if verdict:
                raise self.stop(verdict, {"step": self.step})
            self.checked_step = self.step
        self.save()

    def write_row(self, row: dict) -> None:
        if self.log:
            row["elapsed_s"] = round(self.elapsed(), 1)
            self.log.write(json.dumps(row) + "\n")
            self.log.flush()

    def health(self, loss: torch.Tensor, count_eval: bool) -> tuple[dict[str, float], Verdict | None]:
        """Rank 0 validates and judges; every rank gets the verdict's kind (they must stop together)."""
        vm: dict[str, float] = {}
        verdict = None
        if self.ctx.main:
            vm = _quick_val(self.trainer.trainable, self.data.val, self.recipe.task == "action",
                            pose=not self.data.ntu)
            verdict = self.guard.check(self.step, float(loss.detach()), vm.get("val_mpjpe_mm_gt2d"),
                                       vm.get("val_bone_ratio"), count_eval)
        kinds = ("diverged", "collapsed", "stalled")
        code = self.ctx.agree(kinds.index(verdict.kind) + 1 if verdict else 0)
        if code and verdict is None:
            verdict = Verdict(kinds[code - 1], f"training {kinds[code - 1]} (rank 0 says why)")
        return vm, verdict

    def stop(self, verdict: Verdict, row: dict) -> TrainingError:
        """Log the stopping row and build the one-line error (a stalled model is saved first)."""
        self.write_row({**row, "stopped": verdict.kind})
        if verdict.kind == "stalled":
            self.save()
            return TrainingError(f"{verdict.message}; stopped at step {self.step}, the model is saved in {self.ckpt}",
                                 "stalled")
        kept = (f"the last good checkpoint, {self.ckpt} (step {self.saved_step}), is kept"
                if self.saved_step is not None else "no checkpoint was written")
        return TrainingError(f"{verdict.message}; {kept}", verdict.kind)

    def close(self) -> None:
        if self.feed:
            self.feed.close()
        if self.log:
            self.log.close()
