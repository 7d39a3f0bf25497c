"""Embedding gradients into a buffer kept across steps: the same numbers as torch's backward,
one allocation for the run, and torch's own path wherever that sameness could not hold."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from bench.modeling import embedding_grad  # noqa: E402
from bench.modeling.embedding_grad import eligible_embeddings, persistent_embedding_grads  # noqa: E402


def tiny_bert(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, num_labels=2,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return transformers.BertForSequenceClassification(config)


def padded_batch(seed: int) -> dict:
    """Token ids with repeats (rows summed) and padding (id 0, no gradient), as real batches have."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (4, 12), generator=generator)  # a small range: many repeated ids
    mask = torch.ones_like(ids)
    ids[1, 8:], mask[1, 8:] = 0, 0
    ids[3, 5:], mask[3, 5:] = 0, 0
    ids[0, 3] = 0  # the padding id attended to: its row would get a gradient, which torch's backward drops
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 1, 0])}


def train_steps(model, steps: int = 3) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for step in range(steps):
        model(**padded_batch(step)).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def test_training_with_the_kept_buffer_gives_bit_identical_weights():
    reference, model = tiny_bert(), tiny_bert()
    train_steps(reference)
    with persistent_embedding_grads(model) as modules:
        assert len(modules) == 3  # word, position and token-type tables
        train_steps(model)
    for (name, a), b in zip(reference.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_gradient_is_one_buffer_for_the_run_and_the_padding_row_gets_none():
    model = tiny_bert()
    word = model.bert.embeddings.word_embeddings
    pointers = []
    with persistent_embedding_grads(model):
        for step in range(2):
            model(**padded_batch(step)).loss.backward()
            pointers.append(word.weight.grad.data_ptr())
            assert torch.count_nonzero(word.weight.grad[0]) == 0  # id 0 is the padding id
            assert torch.count_nonzero(word.weight.grad[1:40].abs().sum(1)) > 0
            model.zero_grad(set_to_none=True)
    assert pointers[0] == pointers[1]


def test_the_forward_is_restored_and_the_buffer_released_after_the_block():
    model = tiny_bert()
    with persistent_embedding_grads(model) as modules:
        assert all("forward" in m.__dict__ for m in modules)
        model(**padded_batch(0)).loss.backward()
    assert all("forward" not in m.__dict__ and "_grad_buffer" not in m.__dict__ for m in modules)


def test_the_lookup_takes_its_input_by_name_as_nn_embedding_does():
    model = tiny_bert()
    word = model.bert.embeddings.word_embeddings
    ids = padded_batch(0)["input_ids"]
    with persistent_embedding_grads(model):
        assert torch.equal(word(input=ids), torch.nn.functional.embedding(ids, word.weight, word.padding_idx))


def test_without_grad_the_lookup_is_torchs_own():
    model = tiny_bert().eval()
    batch = {k: v for k, v in padded_batch(0).items() if k != "labels"}
    with torch.no_grad():
        expected = model(**batch).logits
        with persistent_embedding_grads(model):
            assert torch.equal(model(**batch).logits, expected)


def test_tables_that_could_sum_in_another_order_keep_torchs_backward():
    model = tiny_bert()
    model.bert.embeddings.token_type_embeddings.weight.requires_grad_(False)  # frozen: no gradient at all
    model.bert.embeddings.position_embeddings.max_norm = 1.0  # renormalised lookups
    tied = torch.nn.Linear(32, 500, bias=False)
    tied.weight = model.bert.embeddings.word_embeddings.weight  # an output layer sharing the input table
    model.tied_head = tied
    assert eligible_embeddings(model) == []


def test_embedding_subclasses_with_a_forward_of_their_own_are_left_alone():
    class Positions(torch.nn.Embedding):  # as Marian's sinusoidal positions: called with a shape
        def forward(self, shape):
            return super().forward(torch.arange(shape[-1]))

    model = torch.nn.ModuleDict({"positions": Positions(16, 4), "words": torch.nn.Embedding(10, 4)})
    assert eligible_embeddings(model) == [model["words"]]
    with persistent_embedding_grads(tiny_bert(), grad_accum=2) as modules:
        assert modules == []  # a sum over several batches would be rounded in another order


def test_a_training_cell_uses_it_and_keeps_its_numbers(monkeypatch, tmp_path, tiny_model_dir, tiny_glue_dir, fast_spec):
    """Two full-ft cells, one with torch's embedding backward: the same trained weights, to the bit."""
    from bench.runner import run_cell
    from bench.spec import expand

    spec = fast_spec(tasks=["glue-sst2"], methods=["full-ft"])
    (cell,) = expand(spec)
    kept = []
    real = embedding_grad.eligible_embeddings
    monkeypatch.setattr(embedding_grad, "eligible_embeddings", lambda model: kept.extend(real(model)) or real(model))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "one"))  # each run trains: no cached weights
    with_buffer = run_cell(copy.deepcopy(cell), data_dir=str(tiny_glue_dir))
    assert len(kept) == 3  # the cell's training used it: word, position and token-type tables
    monkeypatch.setattr(embedding_grad, "eligible_embeddings", lambda model: [])
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "two"))
    without = run_cell(copy.deepcopy(cell), data_dir=str(tiny_glue_dir))
    assert with_buffer["status"] == without["status"] == "success", (with_buffer["error"], without["error"])
    assert with_buffer["metrics"] == without["metrics"]
    (trained,), (reference,) = with_buffer["training"], without["training"]
    assert trained["steps"] == reference["steps"] > 1 and not trained["from_cache"] and not reference["from_cache"]
    assert trained["final_loss"] == reference["final_loss"]
