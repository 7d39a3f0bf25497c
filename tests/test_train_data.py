"""Batching, padding, step counting and the shared training loop."""

from __future__ import annotations

import dataclasses

import pytest

from bench.cell import Budget
from bench.data import collate, encode, length_grouped_batches, sorted_batches
from bench.method import TrainOptions
from bench.task import Example
from bench.train import optimizer_steps

LENGTHS = [(i * 37) % 23 + 1 for i in range(203)]


# --- batching -------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size, group", [(8, 50), (8, 2), (7, 3), (1, 50), (300, 50)])
def test_length_grouped_batches_cover_every_index_once(batch_size, group):
    batches = length_grouped_batches(LENGTHS, batch_size, seed=0, group=group)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert all(1 <= len(batch) <= batch_size for batch in batches)
    # Only the last batch of each mega-batch may be short.
    assert sum(len(batch) < batch_size for batch in batches) <= -(-len(LENGTHS) // (batch_size * group))


def test_length_grouped_batches_are_deterministic_per_seed_and_differ_across_seeds():
    first = length_grouped_batches(LENGTHS, 8, seed=3, group=4)
    assert first == length_grouped_batches(LENGTHS, 8, seed=3, group=4)
    assert first != length_grouped_batches(LENGTHS, 8, seed=4, group=4)


def test_length_grouped_batches_group_similar_lengths():
    # Within one mega-batch the batches are cut from a length-sorted run: little padding.
    batches = length_grouped_batches(LENGTHS, 8, seed=0, group=len(LENGTHS))
    padding = sum(max(LENGTHS[i] for i in b) * len(b) - sum(LENGTHS[i] for i in b) for b in batches)
    random_order = [list(range(i, min(i + 8, len(LENGTHS)))) for i in range(0, len(LENGTHS), 8)]
    padding_random = sum(max(LENGTHS[i] for i in b) * len(b) - sum(LENGTHS[i] for i in b) for b in random_order)
    assert padding < padding_random / 4


def test_sorted_batches_are_in_length_order():
    batches = sorted_batches(LENGTHS, 16)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS)
    assert all(len(b) == 16 for b in batches[:-1])


def test_empty_input_gives_no_batches():
    assert length_grouped_batches([], 4, seed=0) == []
    assert sorted_batches([], 4) == []


# --- step counting --------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, budget, expected",
    [
        (100, Budget(max_steps=7), 7),
        (100, Budget(max_steps=7, epochs=10, grad_accum=4), 7),  # max_steps wins
        (100, Budget(epochs=1, batch_size=16), 7),  # ceil(100 / 16)
        (100, Budget(epochs=3, batch_size=16), 21),
        (100, Budget(epochs=1, batch_size=16, grad_accum=2), 4),  # ceil(100 / 32)
        (100, Budget(epochs=0.5, batch_size=10), 5),
        (100, Budget(epochs=0.25, batch_size=16, grad_accum=2), 1),  # ceil(4 * 0.25)
        (3, Budget(epochs=0.01, batch_size=16), 1),  # never zero steps
    ],
)
def test_optimizer_steps(n, budget, expected):
    assert optimizer_steps(n, budget) == expected


# --- encoding and padding ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from bench.modeling.load import load_tokenizer, resolve

    return load_tokenizer(resolve(str(tiny_model_dir)))


def test_encode_truncates_and_keeps_labels(tokenizer):
    examples = [Example("the cat runs", None, 1), Example(" ".join(["dog"] * 50), None, 0)]
    features = encode(tokenizer, examples, max_len=10)
    assert [f["labels"] for f in features] == [1, 0]
    assert len(features[0]["input_ids"]) == 5  # [CLS] the cat runs [SEP]
    assert len(features[1]["input_ids"]) == 10
    assert "labels" not in encode(tokenizer, examples, max_len=10, with_labels=False)[0]
    pairs = encode(tokenizer, [Example("the cat", "a dog", 2)], max_len=32)
    assert pairs[0]["input_ids"].count(tokenizer.sep_token_id) == 2


def test_collate_pads_to_the_longest_in_the_batch(tokenizer):
    import torch

    examples = [Example("the cat", None, 1), Example("the big red dog sleeps in the house", None, 0),
                Example("why", None, 1)]
    features = encode(tokenizer, examples, max_len=64)
    lengths = [len(f["input_ids"]) for f in features]
    batch = collate(tokenizer, features)
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0, 1]
    for row, n in zip(batch["input_ids"].tolist(), lengths, strict=False):
        assert row[n:] == [tokenizer.pad_token_id] * (max(lengths) - n)
    # a batch without its longest member is padded less: padding is per batch
    assert collate(tokenizer, [features[0], features[2]])["input_ids"].shape == (2, max(lengths[0], lengths[2]))


def test_collate_gives_float_labels_for_regression(tokenizer):
    import torch

    features = encode(tokenizer, [Example("a man", "a man dances", 4.2), Example("a cat", "a dog", 0.0)], 32)
    batch = collate(tokenizer, features)
    assert batch["labels"].dtype == torch.float32
    assert batch["labels"].tolist() == pytest.approx([4.2, 0.0])
    unlabelled = collate(tokenizer, encode(tokenizer, [Example("a cat", None, None)], 32))
    assert "labels" not in unlabelled


# --- the training loop --------------------------------------------------------------------


@pytest.fixture
def train_setup(tiny_model_dir, tiny_glue_dir, tokenizer):
    from bench.modeling.load import load_model, resolve
    from bench.registry import TASKS

    task = TASKS.get("glue-sst2").obj
    features = encode(tokenizer, task.load("train", str(tiny_glue_dir)), 32)
    model = load_model(resolve(str(tiny_model_dir)), task)
    return model, features


def counting_loss(calls: list):
    def loss(model, batch):
        calls.append(len(batch["input_ids"]))
        return model(**batch).loss

    return loss


@pytest.mark.parametrize(
    "rows, budget, steps, forwards",
    [
        (16, Budget(epochs=1, batch_size=4, grad_accum=2), 2, 4),
        (16, Budget(epochs=2, batch_size=4, grad_accum=2), 4, 8),
        (10, Budget(epochs=1, batch_size=4, grad_accum=2), 2, 3),  # batches 4+4 then 2 alone
        (16, Budget(max_steps=3, batch_size=4, grad_accum=2), 3, 6),  # runs into a second epoch
    ],
)
def test_train_loop_counts_optimizer_steps_with_grad_accum(train_setup, tokenizer, monkeypatch, rows, budget,
                                                          steps, forwards):
    import torch

    from bench.train import train

    model, features = train_setup
    features = features[:rows]
    optimizer_calls = []
    original_step = torch.optim.AdamW.step

    def counting_step(self, *args, **kwargs):
        optimizer_calls.append(1)
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counting_step)
    calls: list = []
    stats = train(model, tokenizer, features, budget=budget, options=TrainOptions(lr=1e-3), seed=0,
                  device="cpu", compute_loss=counting_loss(calls))
    assert stats.steps == steps == len(optimizer_calls) == optimizer_steps(rows, budget)
    assert len(calls) == forwards and stats.examples == sum(calls)
    assert stats.epochs == pytest.approx(stats.examples / rows)
    assert stats.final_loss == stats.final_loss and stats.wall_s > 0 and stats.peak_rss_bytes > 0
    assert not model.training  # handed back in eval mode


def test_train_loop_refuses_a_fully_frozen_model(train_setup, tokenizer):
    from bench.train import train

    model, features = train_setup
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter requires grad"):
        train(model, tokenizer, features, budget=Budget(max_steps=1, batch_size=4), options=TrainOptions(),
              seed=0, device="cpu")


def test_train_loop_only_updates_trainable_parameters(train_setup, tokenizer):
    import torch

    from bench.train import train

    model, features = train_setup
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("classifier."))
    frozen = model.bert.encoder.layer[0].attention.self.query.weight.detach().clone()
    head = model.classifier.weight.detach().clone()
    train(model, tokenizer, features, budget=Budget(max_steps=2, batch_size=4), options=TrainOptions(lr=1e-2),
          seed=0, device="cpu")
    assert torch.equal(frozen, model.bert.encoder.layer[0].attention.self.query.weight)
    assert not torch.equal(head, model.classifier.weight)


def test_train_loop_with_no_examples_fails_clearly(train_setup, tokenizer, monkeypatch):
    import bench.data
    from bench.train import train

    model, _ = train_setup
    real = bench.data.length_grouped_batches
    epochs = []

    def guarded(*args, **kwargs):
        epochs.append(1)
        if len(epochs) > 3:  # the loop is spinning: stop it so the test can fail instead of hanging
            raise RuntimeError("training loop made no progress over 3 epochs")
        return real(*args, **kwargs)

    monkeypatch.setattr(bench.data, "length_grouped_batches", guarded)
    with pytest.raises(ValueError, match="(?i)no training"):
        train(model, tokenizer, [], budget=Budget(max_steps=2, batch_size=4), options=TrainOptions(),
              seed=0, device="cpu")


def test_train_options_defaults_are_documented_in_one_dataclass():
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    assert fields == {"lr", "weight_decay", "warmup_ratio", "max_grad_norm"}


def test_train_loop_reports_each_step_with_its_loss(train_setup, tokenizer):
    """The progress line's source: on_step(step, steps, loss) after every optimiser step."""
    from bench.train import train

    model, features = train_setup
    seen = []
    stats = train(model, tokenizer, features, budget=Budget(max_steps=3, batch_size=4), options=TrainOptions(),
                  seed=0, device="cpu", on_step=lambda step, steps, loss: seen.append((step, steps, loss)))
    assert [(step, steps) for step, steps, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[-1][2] == stats.final_loss
