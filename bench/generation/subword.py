"""Subword tokenizers trained on a cell's training text, cached by content.

The seq-KD rows train their models from scratch, so their vocabulary comes from their data:
a BPE (or Unigram) model over source and target text jointly, with SentencePiece-style
word boundaries ("▁") so decoding gives back the text's spaces, and wrapped as a
`PreTrainedTokenizerFast` so the harness tokenises, pads and decodes with it like any
tokenizer. Sources and targets both end with </s>, as Marian's do.

Training is cached (DESIGN principle 7): the key is the sha256 of the text, the settings and
the tokenizers version; the entry is built aside and renamed into place (bench/storage/cache.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from bench.typed import option

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]  # ids 0, 1, 2, 3 in every vocabulary
TRAINING_INFO = "subword.json"


@dataclass(frozen=True)
class SubwordSettings:
    vocab_size: int = option(32000, "vocabulary size, special tokens included", at_least=len(SPECIAL_TOKENS) + 1)
    model: Literal["bpe", "unigram"] = option("bpe", "BPE merges (Sennrich et al.) or a SentencePiece-style unigram LM")
    lowercase: bool = option(False, "lowercase before training and encoding")
    min_frequency: int = option(2, "BPE: a pair is merged only when seen this often", at_least=1)


def tokenizer_key(texts: Iterable[str], settings: SubwordSettings) -> str:
    """Content key: the text (each piece length-prefixed, so boundaries count), the settings
    and the tokenizers version (its trainers' output can change between releases)."""
    import tokenizers

    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    versioned = {"settings": asdict(settings), "tokenizers": tokenizers.__version__}
    digest.update(json.dumps(versioned, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def tokenizer_directory(key: str) -> Path:
    from bench.storage.cache import cache_root

    return cache_root() / f"tokenizer-{key}"


def subword_tokenizer(texts: Iterable[str], settings: SubwordSettings):
    """A PreTrainedTokenizerFast trained on `texts` (sources and targets together), from the
    cache when this text and these settings were seen before. Its `name_or_path` is the entry."""
    from transformers import PreTrainedTokenizerFast

    from bench.storage.cache import open_entry, store_entry

    texts = list(texts)
    if not texts:
        raise ValueError("no text to train a subword tokenizer on")
    directory = tokenizer_directory(tokenizer_key(texts, settings))
    if open_entry(directory) is not None:
        return PreTrainedTokenizerFast.from_pretrained(str(directory))
    trained = []

    def write(folder: Path) -> None:
        started = time.perf_counter()
        trained.append(_wrap(_train(texts, settings)))
        trained[0].save_pretrained(str(folder))
        info = {"settings": asdict(settings), "sentences": len(texts), "characters": sum(map(len, texts)),
                "vocab_size": len(trained[0]), "train_s": time.perf_counter() - started}
        (folder / TRAINING_INFO).write_text(json.dumps(info, indent=1))

    store_entry(directory, write)
    if open_entry(directory) is None:  # the cache could not be written (store_entry warned): go on uncached
        return trained[0] if trained else _wrap(_train(texts, settings))
    return PreTrainedTokenizerFast.from_pretrained(str(directory))


def _train(texts: list[str], settings: SubwordSettings):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    if settings.model == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=settings.vocab_size, min_frequency=settings.min_frequency,
                                      special_tokens=SPECIAL_TOKENS, show_progress=False)
    else:
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=settings.vocab_size, special_tokens=SPECIAL_TOKENS,
                                          unk_token=UNK, show_progress=False)
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if settings.lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(texts, trainer)
    eos = tokenizer.token_to_id(EOS)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}",
                                                             special_tokens=[(EOS, eos)])
    return tokenizer


def _wrap(tokenizer):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   unk_token=UNK, model_max_length=1024)
