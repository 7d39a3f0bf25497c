"""Subword tokenizers: trained once per text and settings, reused from the cache, and
lossless on their training sentences."""

from __future__ import annotations

import pytest

from bench.generation import subword
from bench.generation.subword import SubwordSettings, subword_tokenizer, tokenizer_key

SOURCES = ["The cat sat on the mat.", "A dog runs in the park, doesn't it?", "It rains  today: 3.5 mm!"]
TARGETS = ["Die Katze saß auf der Matte.", "Ein Hund läuft im Park, nicht wahr?", "Es regnet heute: 3,5 mm!"]
TEXT = (SOURCES + TARGETS) * 4


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("model", ["bpe", "unigram"])
def test_round_trip_and_special_tokens(cache, model):
    tokenizer = subword_tokenizer(TEXT, SubwordSettings(vocab_size=90, model=model))
    specials = [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id]
    assert specials == [0, 1, 2, 3]
    assert 40 < len(tokenizer) <= 90
    encoded = tokenizer(SOURCES + TARGETS)["input_ids"]
    assert all(ids[-1] == tokenizer.eos_token_id for ids in encoded)  # sources and labels end with </s>
    assert all(tokenizer.unk_token_id not in ids for ids in encoded)
    # Spaces (double ones too), umlauts and digits come back.
    assert tokenizer.batch_decode(encoded, skip_special_tokens=True) == SOURCES + TARGETS
    assert any(len(ids) < len(text) for ids, text in zip(encoded, SOURCES + TARGETS, strict=False))  # merges happened
    padded = tokenizer(SOURCES, padding=True, return_tensors="pt")
    assert padded["input_ids"].shape[0] == 3 and (padded["input_ids"] == 0).any()


def test_same_text_reuses_the_entry_without_training(cache, monkeypatch):
    settings = SubwordSettings(vocab_size=80)
    first = subword_tokenizer(TEXT, settings)
    entry = subword.tokenizer_directory(tokenizer_key(TEXT, settings))
    assert first.name_or_path == str(entry) and (entry / "tokenizer.json").is_file()
    stamp = (entry / "tokenizer.json").stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the entry was cached")

    monkeypatch.setattr(subword, "_train", no_training)
    again = subword_tokenizer(iter(TEXT), settings)  # any iterable; same content, same key
    assert again.get_vocab() == first.get_vocab()
    assert (entry / "tokenizer.json").stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [entry.name]


def test_different_text_or_settings_make_new_entries(cache):
    settings = SubwordSettings(vocab_size=80)
    keys = {
        tokenizer_key(TEXT, settings),
        tokenizer_key(TEXT[:-1], settings),
        tokenizer_key(TEXT[:-1] + [TEXT[-1] + "!"], settings),
        tokenizer_key(["ab", "c"], settings),
        tokenizer_key(["a", "bc"], settings),  # same characters, other boundaries
        tokenizer_key(TEXT, SubwordSettings(vocab_size=81)),
        tokenizer_key(TEXT, SubwordSettings(vocab_size=80, model="unigram")),
        tokenizer_key(TEXT, SubwordSettings(vocab_size=80, lowercase=True)),
    }
    assert len(keys) == 8
    subword_tokenizer(TEXT, settings)
    subword_tokenizer(TEXT[:6], settings)
    assert len(list(cache.glob("tokenizer-*"))) == 2


def test_refuses_empty_text(cache):
    with pytest.raises(ValueError, match="no text"):
        subword_tokenizer([], SubwordSettings())


def test_an_unwritable_cache_still_gives_a_tokenizer(cache, monkeypatch):
    import bench.storage.cache

    monkeypatch.setattr(bench.storage.cache, "store_entry", lambda directory, write: None)  # as after a full disk
    tokenizer = subword_tokenizer(TEXT, SubwordSettings(vocab_size=80))
    assert tokenizer.decode(tokenizer(SOURCES[0])["input_ids"], skip_special_tokens=True) == SOURCES[0]
    assert not list(cache.glob("tokenizer-*"))
