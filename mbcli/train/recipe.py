"""Training recipes: small YAML files loaded strictly into dataclasses.

``load_recipe("pose-h36m-cpu")`` finds a built-in recipe in mbcli/train/recipes/; a path to a .yaml file works too.
Unknown keys anywhere raise ConfigError naming the key, so a typo never silently falls back to a default.
Relative ``init_from`` and ``ntu_data`` paths are read from the recipe file's folder. ``dataset`` picks the training
data: Human3.6M (+ CMU), or NTU RGB+D 60/120 (``ntu_data``, ``ntu_protocol``; action task only, no lifter loss).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from mbcli.errors import ConfigError
from mbcli.train.augment import CorruptionConfig
from mbcli.train.ntu import PROTOCOLS

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"


@dataclass(frozen=True)
class ModelSpec:
    preset: str = "small"
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LossSpec:
    w_scale: float = 0.5
    w_velocity: float = 20.0
    # The velocity term is ramped in linearly over this many steps: from a random start, the full weight makes
    # predicting zero motion (and so zero size) the easiest descent and the output collapses (measured).
    velocity_ramp_steps: int = 0


@dataclass(frozen=True)
class GuardSpec:
    """When training stops with an error instead of going on silently (train/health.py). Checked on the fixed
    training-time validation clips at every evaluation and before every checkpoint."""

    after_steps: int = 300  # no collapse or stall verdict before this step (a fresh model starts near zero size)
    min_bone_ratio: float = 0.5  # collapsed: predicted bones shorter than this fraction of the true ones
    stall_evals: int = 12  # stalled: this many evaluations in a row without a new best validation MPJPE (0: off)
    min_improvement: float = 0.005  # a new best must beat the old one by this fraction


@dataclass(frozen=True)
class Recipe:
    name: str = "recipe"
    model: ModelSpec = field(default_factory=ModelSpec)
    data_dir: str | None = None
    subjects: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
    use_sh: bool = True
    cmu_fraction: float = 0.0  # share of clips drawn from the CMU mocap through virtual cameras (1.0: CMU only)
    cmu_dir: str | None = None  # default: ../shared/data/cmu
    cmu_holdout: tuple[str, ...] = ()  # CMU subjects left out of training ("08", "13"): the zero-shot test set
    clip_len: int = 81
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    # "exp": times lr_decay every epoch_steps; "cosine": to min_lr at `steps`; "cosine-time": to min_lr at the end of
    # the wall-clock budget max_minutes of this invocation (a GPU window; one process; a resumed run restarts it)
    lr_schedule: str = "exp"
    lr_decay: float = 0.99  # multiplied once per epoch_steps
    min_lr: float = 0.0  # floor of the cosine schedule
    warmup_steps: int = 0  # linear warm-up from 0
    epoch_steps: int = 200
    steps: int = 10000
    max_minutes: float | None = None
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    eval_every: int = 500
    seed: int = 0
    amp: str = "bf16"  # "bf16" autocast (CPU and CUDA) or "none"
    grad_clip: float = 1.0
    threads: int | None = None
    prefetch: int = 2  # batches drawn ahead on a background thread (0: draw in the training thread)
    init_from: str | None = None  # start from these weights (a checkpoint path; relative paths are from the recipe)
    task: str = "pose"  # "pose": the lifter; "action": + a classifier over the 15 Human3.6M actions
    w_pose: float = 1.0  # weight of the lifter loss (an auxiliary term in the action task)
    w_action: float = 1.0  # weight of the action cross-entropy (task: action)
    text_align: float = 0.0  # ActionPose: weight of the motion-to-text alignment loss (0: off)
    text_hidden: int = 512  # hidden width of the action / alignment head
    head_dropout: float = 0.1  # dropout before the head's MLPs (MotionBERT's action head: 0.5)
    dataset: str = "h36m"  # "h36m" (+ CMU via cmu_fraction) or NTU RGB+D action data: "ntu60" | "ntu120"
    ntu_data: str | None = None  # dataset ntu*: pyskl pickle or folder of .skeleton files (relative: from the recipe)
    ntu_protocol: str = "xsub"  # dataset ntu*: xsub | xview | xset (the split trained on; its test part validates)
    sampler: str = "device"  # "device": clips drawn in torch on the training device; "numpy": augment.ClipSampler
    compile: bool = False  # torch.compile the model and loss (pays on a GPU; measure with mbcli bench --train)
    fused_adamw: bool = True  # AdamW's fused kernel (one launch for all parameters)
    val_clips: int = 64  # fixed clean-GT clips of S9/S11 for the training-time validation and the guard
    loss: LossSpec = field(default_factory=LossSpec)
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)
    guard: GuardSpec = field(default_factory=GuardSpec)

    def __post_init__(self) -> None:
        if self.sampler not in ("device", "numpy"):
            raise ConfigError(f"sampler must be device or numpy, got {self.sampler!r}")
        if self.lr_schedule == "cosine-time" and not self.max_minutes:
            raise ConfigError("lr_schedule cosine-time needs max_minutes (the wall-clock budget it spans)")
        if self.val_clips < 1:
            raise ConfigError(f"val_clips must be at least 1, got {self.val_clips}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.ntu_protocol not in PROTOCOLS:
            raise ConfigError(f"ntu_protocol must be one of {', '.join(PROTOCOLS)}, got {self.ntu_protocol!r}")
        if self.dataset != "h36m":
            if self.task != "action":
                raise ConfigError(f"dataset {self.dataset} needs task: action (NTU has no 3D to train a lifter on), "
                                  f"got task: {self.task}")
            if self.cmu_fraction:
                raise ConfigError(f"cmu_fraction must be 0 with dataset {self.dataset} (CMU clips carry no NTU "
                                  f"class), got {self.cmu_fraction}")


DATASETS = ("h36m", "ntu60", "ntu120")


def ntu_data_path(recipe: Recipe) -> Path:
    """The recipe's NTU source (pyskl pickle or .skeleton folder); ConfigError when a dataset ntu* recipe has none."""
    if not recipe.ntu_data:
        raise ConfigError(f"dataset {recipe.dataset} needs ntu_data: the path of pyskl's {recipe.dataset}_hrnet.pkl "
                          f"or of a folder of .skeleton files "
                          "(mbcli train --ntu-data PATH, or set it in a copy of the recipe)")
    return Path(recipe.ntu_data)


def _build(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'recipe'} must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown recipe key {where + '.' if where else ''}{unknown[0]}"
                          f" (valid: {', '.join(sorted(names))})")
    kwargs = {}
    for k, v in data.items():
        t = hints[k]
        if isinstance(t, type) and is_dataclass(t):
            kwargs[k] = _build(t, v, f"{where}.{k}" if where else k)
        elif isinstance(v, list):
            kwargs[k] = tuple(v)
        else:
            kwargs[k] = v
    if cls is Recipe and kwargs.get("lr_schedule", "exp") not in ("exp", "cosine", "cosine-time"):
        raise ConfigError(f"lr_schedule must be exp, cosine or cosine-time, got {kwargs['lr_schedule']!r}")
    if cls is Recipe and kwargs.get("task", "pose") not in ("pose", "action"):
        raise ConfigError(f"task must be pose or action, got {kwargs['task']!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad recipe value in {where or 'recipe'}: {e}") from None


def load_recipe(name_or_path: str) -> Recipe:
    p = Path(name_or_path)
    if not p.is_file():
        p = RECIPE_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = ", ".join(sorted(f.stem for f in RECIPE_DIR.glob("*.yaml")))
        raise ConfigError(f"no recipe {name_or_path!r}: not a file and not a built-in recipe ({known})")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"recipe {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:  # an empty file would silently be the 10,000-step default recipe
        raise ConfigError(f"recipe {p} is empty: name at least the values that differ from the defaults")
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {p} must be a mapping of keys to values, got {type(data).__name__}")
    data.setdefault("name", p.stem)
    for key in ("init_from", "ntu_data"):
        value = data.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            data[key] = str((p.parent / value).resolve())
    return _build(Recipe, data, "")


def with_overrides(recipe: Recipe, assignments: list[str] | tuple[str, ...]) -> Recipe:
    """``recipe`` with ``KEY=VALUE`` assignments applied (``mbcli train/bench --set``): dotted keys reach nested
    blocks (``loss.w_velocity=0``, ``model.overrides.dim_feat=128``), values are YAML (``compile=true``,
    ``corruption.strides=[1,2]``); checked as strictly as a recipe file."""
    data = asdict(recipe)
    for a in assignments:
        key, sep, text = a.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE, got {a!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: {text!r} is not a YAML value") from None
        node = data
        *path, last = key.strip().split(".")
        for k in path:
            if not isinstance(node.get(k), dict):
                raise ConfigError(f"unknown recipe key {key.strip()} (--set)")
            node = node[k]
        if not (last in node or (path and path[-1] == "overrides")):
            raise ConfigError(f"unknown recipe key {key.strip()} (--set)")
        node[last] = value
    return _build(Recipe, data, "")


def prepare_recipe(recipe: Recipe, assignments: list[str] | tuple[str, ...] = (), *,
                   init: str | os.PathLike | None = None, ntu_data: str | os.PathLike | None = None) -> Recipe:
    """``mbcli train``'s recipe: ``--set`` assignments applied, then ``--init`` and ``--ntu-data`` (which override
    the recipe's init_from and ntu_data); an NTU recipe without data fails here, before anything is loaded."""
    recipe = with_overrides(recipe, assignments)
    if init is not None:
        recipe = dataclasses.replace(recipe, init_from=str(init))
    if ntu_data is not None:
        recipe = dataclasses.replace(recipe, ntu_data=str(ntu_data))
    if recipe.dataset != "h36m":
        ntu_data_path(recipe)
    return recipe
