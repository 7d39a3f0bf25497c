"""Shared fixtures: a tiny random BERT with its tokenizer, a tiny GLUE download, fast settings.

Everything here is offline and small, so the harness tests run the real code paths (model
loading, training, evaluation, measurement, records) in seconds.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import random
import shutil
from pathlib import Path

import pytest

from tests.glue_files import write_split

# Set before anything imports transformers or datasets (also inherited by cell processes).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the", "a", "an", "cat", "dog", "man", "woman", "child", "horse", "bird", "runs", "sits",
    "eats", "sleeps", "sings", "is", "was", "not", "very", "happy", "sad", "big", "small",
    "red", "blue", "green", "house", "car", "tree", "park", "river", "in", "on", "with",
    "and", "but", "it", "rains", "good", "bad", "movie", "film", "great", "boring", "why",
    "how", "what", "where", "who", "did", "does", "do", "you", "he", "she", "they", "we",
    "today", "yesterday", "always", "never", "cook", "play", "read", "book", "music",
]
PUNCTUATION = [".", ",", "?", "!", "'"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
# Unique tokens in order ("a" is both a word and a letter).
VOCAB = list(dict.fromkeys(SPECIAL_TOKENS + WORDS + PUNCTUATION + LETTERS + [f"##{c}" for c in LETTERS]))

GLUE_TASK_NAMES = (
    "glue-cola", "glue-sst2", "glue-mrpc", "glue-stsb", "glue-qqp",
    "glue-mnli", "glue-qnli", "glue-rte", "glue-wnli",
)
TRAIN_ROWS, DEV_ROWS = 16, 8
PLUE_FOLDERS = ("SST-2", "MRPC", "RTE")

# Task -> (folder, pair task?, labels as written in the file; None: STS-B float scores).
TASK_FILES = {
    "glue-cola": ("CoLA", False, ["0", "1"]),
    "glue-sst2": ("SST-2", False, ["0", "1"]),
    "glue-mrpc": ("MRPC", True, ["0", "1"]),
    "glue-stsb": ("STS-B", True, None),
    "glue-qqp": ("QQP", True, ["0", "1"]),
    "glue-mnli": ("MNLI", True, ["entailment", "neutral", "contradiction"]),
    "glue-qnli": ("QNLI", True, ["entailment", "not_entailment"]),
    "glue-rte": ("RTE", True, ["entailment", "not_entailment"]),
    "glue-wnli": ("WNLI", True, ["0", "1"]),
}


def sentence(rng: random.Random) -> str:
    """A lowercase sentence of 3-9 vocabulary words, so lengths (and padding) vary."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + " ."


def write_tiny_glue(root: Path, train_rows: int = TRAIN_ROWS, dev_rows: int = DEV_ROWS) -> Path:
    """root/glue/<Folder>/<split>.tsv for all nine tasks, every class in every split."""
    for task_name, (folder, pair, labels) in TASK_FILES.items():
        splits = {"train": train_rows}
        splits.update({"dev_matched": dev_rows, "dev_mismatched": dev_rows} if folder == "MNLI" else {"dev": dev_rows})
        for split, count in splits.items():
            rng = random.Random(f"{task_name}/{split}")
            rows = []
            for i in range(count):
                label = f"{rng.uniform(0, 5):.3f}" if labels is None else labels[i % len(labels)]
                rows.append((sentence(rng), sentence(rng) if pair else None, label))
            write_split(root / "glue" / folder / f"{split}.tsv", folder, rows)
    for folder in PLUE_FOLDERS:  # Portuguese GLUE has the same layout (here: the same rows)
        shutil.copytree(root / "glue" / folder, root / "plue" / folder, dirs_exist_ok=True)
    write_tiny_multi30k(root)
    return root


# English-German pairs for the translation tasks: a handful, repeated, so a tiny model can learn some.
PAIRS = [("a man sleeps .", "ein mann schläft ."), ("two dogs run in the park .", "zwei hunde rennen im park ."),
         ("the cat is red .", "die katze ist rot ."), ("a woman reads a book .", "eine frau liest ein buch ."),
         ("the child plays .", "das kind spielt .")]


def write_tiny_multi30k(root: Path) -> Path:
    """root/multi30k/{train,val,test_2016_flickr}.{en,de}: parallel lines, as Multi30k ships them."""
    folder = root / "multi30k"
    folder.mkdir(parents=True, exist_ok=True)
    for stem, repeat in (("train", 4), ("val", 1), ("test_2016_flickr", 1)):
        (folder / f"{stem}.en").write_text("".join(f"{en}\n" for en, _ in PAIRS) * repeat, encoding="utf-8")
        (folder / f"{stem}.de").write_text("".join(f"{de}\n" for _, de in PAIRS) * repeat, encoding="utf-8")
    return folder


def write_tiny_model(directory: Path) -> Path:
    """A random-init 2-layer BERT (hidden 32) and a WordPiece tokenizer over VOCAB."""
    import torch
    import transformers

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("".join(f"{token}\n" for token in VOCAB), encoding="utf-8")

    tokenizer_class = transformers.BertTokenizerFast
    if "vocab" in inspect.signature(tokenizer_class.__init__).parameters:  # transformers >= 5
        vocab = {token: i for i, token in enumerate(VOCAB)}
        tokenizer = tokenizer_class(vocab=vocab, do_lower_case=True)
    else:
        tokenizer = tokenizer_class(vocab_file=str(vocab_file), do_lower_case=True)
    assert len(tokenizer) == len(VOCAB)
    tokenizer.save_pretrained(str(directory))

    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(directory))  # no head: tasks add theirs
    return directory


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Trained weights are cached by content key (bench/storage/cache.py): keep the tests' out of ~/.cache."""
    previous = os.environ.get("BENCH_CACHE")
    os.environ["BENCH_CACHE"] = str(tmp_path_factory.mktemp("bench-cache"))
    yield Path(os.environ["BENCH_CACHE"])
    if previous is None:
        os.environ.pop("BENCH_CACHE", None)
    else:
        os.environ["BENCH_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-bert") / "model")


@pytest.fixture(scope="session")
def tiny_causal_lm_dir(tmp_path_factory) -> Path:
    from tests.reasoning_files import write_tiny_causal_lm

    return write_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def tiny_gsm8k_dir(tmp_path_factory) -> Path:
    from tests.reasoning_files import write_tiny_gsm8k

    return write_tiny_gsm8k(tmp_path_factory.mktemp("tiny-gsm8k"))


@pytest.fixture(scope="session")
def tiny_glue_dir(tmp_path_factory) -> Path:
    return write_tiny_glue(tmp_path_factory.mktemp("tiny-glue"))


@pytest.fixture(scope="session")
def fast_budget():
    from bench.cell import Budget

    return Budget(max_steps=2, batch_size=4, max_seq_len=32)


@pytest.fixture(scope="session")
def fast_measure():
    from bench.cell import MeasureSettings

    return MeasureSettings(latency="quick", batch_sizes=(1,), seq_len=16)


@pytest.fixture(scope="session")
def fast_spec(tiny_model_dir, fast_budget, fast_measure):
    """spec(**overrides): a spec dict for bench.spec.expand with the tiny model and fast settings."""

    def spec(**overrides) -> dict:
        data = {
            "tasks": ["glue-rte"],
            "methods": ["full-ft"],
            "models": [str(tiny_model_dir)],
            "seeds": [0],
            "device": "cpu",
            "budget": dataclasses.asdict(fast_budget),
            "measure": dict(dataclasses.asdict(fast_measure), batch_sizes=list(fast_measure.batch_sizes)),
        }
        data.update(overrides)
        return data

    return spec


@pytest.fixture(scope="session")
def stage_inputs(fast_spec, tiny_glue_dir):
    """stage_inputs(task, method) -> (model, ctx): a loaded tiny model and the context a stage gets."""

    def make(task_name: str = "glue-sst2", method: str = "full-ft"):
        from bench.data import encode
        from bench.method import StageContext
        from bench.modeling.load import load_model, load_tokenizer, resolve
        from bench.registry import TASKS
        from bench.spec import expand

        (cell,) = expand(fast_spec(tasks=[task_name], methods=[method]))
        task = TASKS.get(task_name).obj
        source = resolve(cell.model)
        tokenizer = load_tokenizer(source)
        features = encode(tokenizer, task.load(task.train_split, str(tiny_glue_dir)), cell.budget.max_seq_len)
        ctx = StageContext(cell=cell, task=task, tokenizer=tokenizer, device="cpu", train_features=features)
        return load_model(source, task), ctx

    return make
