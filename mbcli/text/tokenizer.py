"""BERT's uncased WordPiece tokeniser (WordPieceTokenizer) and the Unicode character classes it uses; the package
docstring (mbcli/text/__init__.py, "Tokeniser") gives the rules."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mbcli.errors import ConfigError, InputError, WeightsError
from mbcli.text.files import read_json

MAX_CHARS_PER_WORD = 100


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
        tcfg = read_json(folder / "tokenizer_config.json", dict) or {}
        scfg = read_json(folder / "sentence_bert_config.json", dict) or {}
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
        texts = check_sentences(texts)
        encoded = [self.encode(t) for t in texts]
        length = max((len(e) for e in encoded), default=2)
        ids = np.full((len(encoded), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encoded), length), dtype=np.int64)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = e
            mask[i, : len(e)] = 1
        return ids, mask


def check_sentences(sentences: Sequence[str]) -> list[str]:
    """The sentences as a list; InputError for a bare string or a non-string item."""
    if isinstance(sentences, str):
        raise InputError("pass a list of sentences, not a single string (wrap it: [sentence])")
    out = list(sentences)
    for s in out:
        if not isinstance(s, str):
            raise InputError(f"sentences must be strings, got {type(s).__name__}: {s!r:.60}")
    return out
