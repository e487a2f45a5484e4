"""The one training loop for the lifter: sample clips, corrupt, regress metric 3D, checkpoint, resume.

- AdamW with weight decay; a linear warm-up over ``warmup_steps``, then either the learning rate is multiplied by
  ``lr_decay`` every ``epoch_steps`` steps (MotionBERT decays 0.99 per epoch) or it follows a cosine to ``min_lr``
  at ``steps`` (``lr_schedule: cosine``; best when the budget is known in advance).
- bf16 autocast on CPU and CUDA when ``amp: bf16`` (weights and optimizer stay float32).
- Data: Human3.6M clips (projected ground truth with corruption, or the SH detections) and, with ``cmu_fraction``
  > 0, CMU mocap clips seen through virtual cameras (train/cmu.py) mixed in at that rate.
- Clips are drawn on a background thread ``prefetch`` batches ahead (same order, same result as without it).
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
  (mbcli/text.py) into a label bank, an alignment head (model/action.py) maps the pooled motion representation
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
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from mbcli.errors import ConfigError
from mbcli.fsutil import atomic_path
from mbcli.model import DSTformer, preset, resolve_device, save_checkpoint
from mbcli.model.action import ActionHead, ActionHeadConfig, text_alignment_loss
from mbcli.model.checkpoint import build_model, load_checkpoint
from mbcli.train.augment import ClipSampler
from mbcli.train.data import ACTION_SENTENCES, H36M_ACTIONS, TEST_SUBJECTS, load_h36m
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
    """Unit text embeddings (K,E) of the label sentences (all-MiniLM-L6-v2, mbcli/text.py)."""
    from mbcli.text import load_text_encoder

    if not labels:
        raise ConfigError("text_align needs labelled training sequences (H36M actions or CMU descriptions)")
    return torch.from_numpy(np.asarray(load_text_encoder(text_model).encode(labels), dtype=np.float32))


NTU_PEOPLE = 2  # people per NTU sample the model sees (absent ones all zeros)


def _load_ntu_data(recipe: Recipe) -> tuple[list, list, tuple[str, ...]]:
    """(train samples, test samples, class names) of a dataset ntu* recipe; one-line errors for an unusable source."""
    from mbcli.train.ntu import LABEL_SETS, load_ntu

    path = ntu_data_path(recipe)
    if not path.exists():
        raise ConfigError(f"ntu_data {path} does not exist (pyskl's {recipe.dataset}_hrnet.pkl or a folder of "
                          f".skeleton files)")
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


def _lr_at(recipe: Recipe, step: int) -> float:
    warm = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    if recipe.lr_schedule == "cosine":
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


def _quick_val(net: torch.nn.Module, val: ClipSampler | NtuClipSampler, device: torch.device, action: bool = False,
               batches: int = 4, pose: bool = True) -> dict[str, float]:
    """Training-time signals on fixed clean-GT clips of the test subjects (not the benchmark): MPJPE (mm) and, for
    the action task, the classifier's clip-level top-1 accuracy (%). ``net`` is the lifter, or the lifter with its
    head (which returns (pose, embedding, logits)); one forward pass per batch serves both. ``pose=False`` (NTU:
    no 3D) reports the top-1 alone."""
    state = val.state()
    errs = []
    hits, n = 0, 0
    net.eval()
    with torch.inference_mode():
        for _ in range(batches):
            drawn = val.batch(16)
            out = net(torch.from_numpy(drawn[0]).to(device))
            if pose:
                pred = out[0] if isinstance(out, tuple) else out
                p = pred.float().cpu().numpy()
                p = p - p[:, :, :1]
                errs.append(np.linalg.norm(p - drawn[1], axis=-1).mean())
            if action:
                ids = torch.from_numpy(drawn[2])
                keep = ids >= 0
                hits += int((out[2].float().cpu().argmax(-1)[keep] == ids[keep]).sum())
                n += int(keep.sum())
    val.set_state(state)
    net.train()
    res = {"val_mpjpe_mm_gt2d": float(np.mean(errs) * 1000)} if pose else {}
    if action:
        res["val_action_top1"] = 100.0 * hits / max(n, 1)
    return res


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


def train(recipe: Recipe, out_dir: str | Path, device: str = "auto", resume: bool = False,
          on_progress: ProgressFn | None = None, max_steps: int | None = None) -> Path:
    """Run (or resume) a recipe; returns the path of the final checkpoint ``last.pt``."""
    out = Path(out_dir)
    ctx = _Dist(device)
    dev = ctx.device
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
    if recipe.batch_size % ctx.world:
        raise ConfigError(f"batch_size {recipe.batch_size} does not split over {ctx.world} processes")
    local_batch = recipe.batch_size // ctx.world
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed + ctx.rank)
    cfg = preset(recipe.model.preset, **{**recipe.model.overrides, "output_units": "m"})
    L = min(recipe.clip_len, cfg.maxlen)
    seed = recipe.seed + 1000 * ctx.rank
    sampler: ClipSampler | MixedSampler | NtuClipSampler
    val: ClipSampler | NtuClipSampler
    align = recipe.text_align > 0
    ntu = recipe.dataset != "h36m"
    classes: tuple[str, ...] = ()
    if ntu:
        ntu_train, ntu_test, classes = _load_ntu_data(recipe)
    h36m_seqs = (load_h36m(recipe.data_dir, tuple(recipe.subjects), with_sh=recipe.use_sh)
                 if recipe.cmu_fraction < 1 and not ntu else [])
    cmu_seqs: list = []
    if recipe.cmu_fraction > 0:
        from mbcli.train.cmu import cmu_subjects, load_cmu

        held = cmu_subjects(recipe.cmu_holdout)
        cmu_seqs = [s for s in load_cmu(recipe.cmu_dir, seed=recipe.seed) if s.subject not in held]
        if not cmu_seqs:
            raise ConfigError(f"cmu_holdout {list(recipe.cmu_holdout)} leaves no CMU trials to train on")
    action = recipe.task == "action"
    labels: list[str] = []
    bank, index = None, None
    if ntu:
        labels = list(classes)  # class i is sentence i: the batches' label ids index both
    elif align or action:
        labels = label_sentences(h36m_seqs + cmu_seqs, recipe.task)
        index = {t: i for i, t in enumerate(labels)}
    if align:
        bank = embed_labels(labels).to(dev)
    if ntu:
        sampler = NtuClipSampler(ntu_train, L, recipe.corruption, seed=seed)
        val = NtuClipSampler(ntu_test, L, recipe.corruption, seed=1234, clean=True)
    elif recipe.cmu_fraction > 0:
        cmu = ClipSampler(cmu_seqs, L, recipe.corruption, seed=seed + 1, label_index=index)
        if recipe.cmu_fraction >= 1:
            sampler = cmu
        else:
            h36m = ClipSampler(h36m_seqs, L, recipe.corruption, seed=seed, label_index=index)
            sampler = MixedSampler(h36m, cmu, recipe.cmu_fraction, seed)
    else:
        sampler = ClipSampler(h36m_seqs, L, recipe.corruption, seed=seed, label_index=index)
    if not ntu:
        val_seqs = load_h36m(recipe.data_dir, TEST_SUBJECTS, with_sh=False, cameras=(0,))
        val = ClipSampler(val_seqs, L, recipe.corruption, seed=1234, clean=True,
                          label_index=index if action else None)

    model = DSTformer(cfg)
    if recipe.init_from:
        model = load_checkpoint(recipe.init_from)[0]
        if model.config != cfg:
            raise ConfigError(f"init_from {recipe.init_from}: its model config differs from the recipe's")
    step = 0
    elapsed_before = 0.0
    ckpt = out / "last.pt"
    obj = None
    if resume and ckpt.is_file():
        obj = torch.load(ckpt, map_location="cpu", weights_only=False)
        model = build_model(obj["model"], cfg, str(ckpt))
        step = int(obj["step"])
        elapsed_before = float(obj.get("meta", {}).get("train_seconds", 0.0))
    head = None
    head_cfg = None
    trainable: torch.nn.Module = model
    num_classes = len(classes) if ntu else len(H36M_ACTIONS)
    if align or action:
        head_cfg = ActionHeadConfig(num_classes=num_classes if action else 0,
                                    embed_dim=int(bank.shape[1]) if bank is not None else 0,
                                    hidden=recipe.text_hidden, dropout=recipe.head_dropout)
        head = ActionHead(cfg.num_joints, cfg.dim_rep, head_cfg)
        if obj is not None and "action_head" in obj:
            head.load_state_dict(obj["action_head"])
        trainable = _PoseAndHead(model, head)
    trainable = trainable.to(dev).train()
    opt = torch.optim.AdamW(trainable.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if obj is not None:
        opt.load_state_dict(obj["optimizer"])
        states = obj.get("sampler_states") or [obj["sampler_state"]]
        if len(states) == ctx.world:
            sampler.set_state(states[ctx.rank])
        rngs = obj.get("rng_states") or [{"torch": obj["torch_rng"]}]
        if len(rngs) == ctx.world:
            _set_rng_state(rngs[ctx.rank], dev)
        if ctx.main:
            _truncate_log(out / "metrics.jsonl", step)
    feed = Prefetcher(sampler, local_batch, recipe.prefetch) if recipe.prefetch else None
    net: torch.nn.Module = trainable
    if ctx.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(trainable,
                                                        device_ids=[dev.index] if dev.type == "cuda" else None,
                                                        find_unused_parameters=ntu or (action and not recipe.w_pose))
    total = recipe.steps if max_steps is None else min(recipe.steps, max_steps)
    log = open(out / "metrics.jsonl", "a") if ctx.main else None
    t_start = time.monotonic()
    t_ckpt = t_start

    def save() -> None:
        samplers = ctx.gather(feed.state() if feed else sampler.state())
        rngs = ctx.gather(_rng_state(dev))
        if not ctx.main:
            return
        meta = {"recipe": recipe.name, "step": step, "train_seconds": elapsed_before + time.monotonic() - t_start,
                "device": str(dev), "world_size": ctx.world, "output_units": "m", "frame": "camera",
                "root_relative": True, "cmu_fraction": recipe.cmu_fraction,
                "cmu_holdout": list(recipe.cmu_holdout)}
        if ntu:
            meta.update(dataset=recipe.dataset, ntu_protocol=recipe.ntu_protocol, num_people=NTU_PEOPLE)
        extra = {}
        if head is not None and head_cfg is not None:
            extra = {"action_head": head.state_dict(), "head_config": dataclasses.asdict(head_cfg),
                     "label_bank": labels,
                     "classes": (list(classes) if ntu else list(H36M_ACTIONS)) if action else [],
                     "text_bank": bank.detach().cpu().half() if bank is not None else None}
        save_checkpoint(ckpt, model, meta=meta, optimizer=opt.state_dict(), step=step,
                        sampler_states=samplers, rng_states=rngs, **extra)

    amp = recipe.amp == "bf16"
    try:
        while step < total:
            lr = _lr_at(recipe, step)
            for g in opt.param_groups:
                g["lr"] = lr
            drawn = feed.batch() if feed else sampler.batch(local_batch)
            xt = torch.from_numpy(drawn[0]).to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                pred = net(xt)
            emb = logits = None
            if head is not None:
                pred, emb, logits = pred
            if ntu:  # no 3D: the action terms alone
                loss, parts = torch.zeros((), device=dev), {}
            else:
                yt = torch.from_numpy(drawn[1]).to(dev, non_blocking=True)
                pred = pred.float()
                pred = pred - pred[:, :, :1]
                ramp = recipe.loss.velocity_ramp_steps
                w_vel = recipe.loss.w_velocity * (min(1.0, step / ramp) if ramp else 1.0)
                loss, parts = lifter_loss(pred, yt, recipe.loss.w_scale, w_vel)
                loss = recipe.w_pose * loss
            if action:
                assert logits is not None
                cls = torch.from_numpy(drawn[2]).to(dev)
                cls = torch.where(cls < num_classes, cls, -1)  # CMU sentences carry no class
                l_act = torch.nn.functional.cross_entropy(logits.float(), cls, ignore_index=-1)
                loss = loss + recipe.w_action * l_act
                parts["action"] = float(l_act.detach())
            if align:
                assert head is not None and bank is not None and emb is not None
                ids = torch.from_numpy(drawn[2]).to(dev)
                l_text, acc = text_alignment_loss(head, emb.float(), ids, bank)
                loss = loss + recipe.text_align * l_text
                parts["text"] = float(l_text.detach())
                parts["text_top1"] = acc
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"loss became {float(loss)} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip:
                torch.nn.utils.clip_grad_norm_(trainable.parameters(), recipe.grad_clip)
            opt.step()
            step += 1
            metrics = {"step": step, "loss": ctx.mean(float(loss.detach())), "lr": lr,
                       **{k: ctx.mean(v) for k, v in parts.items()}}
            if ctx.main and (step % recipe.eval_every == 0 or step == total):
                metrics.update(_quick_val(trainable, val, dev, action, pose=not ntu))
            if log and (step % recipe.log_every == 0 or "val_mpjpe_mm_gt2d" in metrics or "val_action_top1" in metrics):
                metrics["elapsed_s"] = round(elapsed_before + time.monotonic() - t_start, 1)
                log.write(json.dumps(metrics) + "\n")
                log.flush()
            if on_progress and ctx.main:
                on_progress(step, total, metrics)
            now = time.monotonic()
            stop = bool(recipe.max_minutes and (now - t_start) > recipe.max_minutes * 60)
            flag = ctx.agree(2 if stop else 1 if now - t_ckpt > recipe.checkpoint_minutes * 60 else 0)
            if flag == 1:
                save()
                t_ckpt = now
            if flag == 2:
                break
    finally:
        if feed:
            feed.close()
        if log:
            log.close()
    save()
    if ctx.world > 1:
        dist.barrier()
    return ckpt
