"""Contract: every registered task runs end to end through the runner with full-ft on a tiny model."""

from __future__ import annotations

import dataclasses

import pytest

from bench.registry import METHODS, TASKS
from bench.spec import expand

# Generation tasks have their own contract (tests/test_generation_cells.py).
ALL_TASKS = [name for name in TASKS.names() if TASKS.get(name).kind != "generation"]


def metric_keys(task) -> set[str]:
    """Every metric key a task's record must hold: f'{metric}_{suffix}' for suffixed splits."""
    return {f"{name}_{suffix}" if suffix else name for suffix in task.eval_splits for name in task.metrics}


def only_cell(spec: dict):
    cells = expand(spec)
    assert len(cells) == 1
    return cells[0]


def test_every_glue_task_is_registered():
    # The contract below runs over TASKS.names(); make sure it is not vacuous.
    assert {"glue-cola", "glue-sst2", "glue-mrpc", "glue-stsb", "glue-qqp", "glue-mnli",
            "glue-qnli", "glue-rte", "glue-wnli"} <= set(ALL_TASKS)


@pytest.mark.parametrize("task_name", ALL_TASKS)
def test_full_ft_cell_of_every_task(task_name, fast_spec, tiny_glue_dir):
    from bench.runner import run_cell

    task = TASKS.get(task_name).obj
    cell = only_cell(fast_spec(tasks=[task_name]))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))

    assert record["status"] == "success" and record["error"] is None
    # Accuracy: the task's official metric keys, with a primary one.
    assert set(record["metrics"]) == metric_keys(task)
    primary = [f"{task.metric}_{s}" if s else task.metric for s in task.eval_splits]
    for key in primary:
        value = record["metrics"][key]
        assert isinstance(value, float) and value == value, (key, value)  # a number, not NaN
    if task_name == "glue-mnli":
        assert {"accuracy_m", "accuracy_mm"} <= set(record["metrics"])
        assert set(record["evaluated"]) == {"dev_matched", "dev_mismatched"}
    for split, info in record["evaluated"].items():
        assert (info["examples"], info["limited"]) == (8, False), split
        assert info["examples_per_s"] == pytest.approx(8 / info["wall_s"])
        # What a model that learned nothing scores on this split, kept for the sanity table.
        assert task.metric in info["trivial"] and 0.0 <= info["trivial"][task.metric] <= 1.0
    assert record["task_meta"] == {"metric": task.metric, "higher_is_better": task.higher_is_better,
                                   "kind": task.kind}
    # Parameters: full fine-tuning trains everything.
    params = record["params"]
    assert params["total"] == params["trainable"] > 0
    assert params["trainable_pct"] == pytest.approx(100.0)
    # FLOPs at batch 1 and the measured sequence length.
    assert record["flops"]["flops"] > 0
    assert (record["flops"]["batch_size"], record["flops"]["seq_len"]) == (1, 16)
    # Latency: the quick preset at (1, 16).
    assert set(record["latency"]) == {"b1_s16"}
    latency = record["latency"]["b1_s16"]
    assert latency["p50"] > 0 and latency["n"] >= 5 and len(latency["samples_ms"]) == latency["n"]
    assert latency["preset"] == "quick"
    # Memory: training and inference peaks kept apart.
    assert record["memory"]["train_peak_rss_bytes"] > 0
    assert record["memory"]["inference_peak_rss_bytes"] > 0
    assert record["size"]["model_bytes"] > 0
    # Training: the budget's max_steps.
    assert len(record["training"]) == 1
    training = record["training"][0]
    assert training["steps"] == 2 and training["examples"] == 2 * 4
    assert training["final_loss"] == training["final_loss"]  # not NaN
    assert record["determinism"]["accuracy"] is True
    assert record["durations"]["total_s"] > 0


def test_full_ft_changes_the_weights(stage_inputs):
    import torch

    model, ctx = stage_inputs("glue-sst2")
    entry = METHODS.get("full-ft")
    # Freeze something first: full-ft must unfreeze it again.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    options = entry.meta.options()
    out = entry.obj(model, options, ctx)

    after = dict(out.named_parameters())
    assert all(p.requires_grad for p in after.values())
    changed = [name for name, p in after.items() if not torch.equal(before[name], p.detach())]
    for name in ("classifier.weight", "bert.encoder.layer.0.attention.self.query.weight",
                 "bert.embeddings.word_embeddings.weight"):
        assert name in changed, name
    assert [t["steps"] for t in ctx.records["training"]] == [2]


def test_same_seed_gives_identical_metrics(fast_spec, tiny_glue_dir, tmp_path, monkeypatch):
    from bench.runner import run_cell

    def fresh_run(cell, cache: str) -> dict:
        monkeypatch.setenv("BENCH_CACHE", str(tmp_path / cache))  # train for real, not from the cache
        record = run_cell(cell, data_dir=str(tiny_glue_dir))
        assert [t["from_cache"] for t in record["training"]] == [False]
        return record

    # STS-B: continuous predictions, so any numeric difference shows in Pearson.
    cell = only_cell(fast_spec(tasks=["glue-stsb"], seeds=[3]))
    first, second = fresh_run(cell, "one"), fresh_run(cell, "two")
    assert first["metrics"] == second["metrics"]
    assert first["training"][0]["final_loss"] == second["training"][0]["final_loss"]
    other = fresh_run(dataclasses.replace(cell, seed=4), "three")
    assert other["training"][0]["final_loss"] != first["training"][0]["final_loss"]


def test_trained_prefix_is_reused_from_the_cache(fast_spec, tiny_glue_dir, tmp_path, monkeypatch):
    from bench.runner import run_cell

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    cell = only_cell(fast_spec(tasks=["glue-rte"], seeds=[5]))
    first = run_cell(cell, data_dir=str(tiny_glue_dir))
    again = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert [t["from_cache"] for t in first["training"]] == [False]
    assert [t["from_cache"] for t in again["training"]] == [True]
    assert again["metrics"] == first["metrics"] and again["training"][0]["steps"] == 2
    # evaluation settings are not part of the training key (the seed is: see the test above)
    other_measure = dataclasses.replace(cell, measure=dataclasses.replace(cell.measure, seq_len=8))
    assert run_cell(other_measure, data_dir=str(tiny_glue_dir))["training"][0]["from_cache"] is True


def test_arch_only_cell_measures_without_training(fast_spec):
    from bench.runner import run_cell

    cell = only_cell(fast_spec(tasks=["glue-mnli"], methods=[], arch_only=True))
    assert cell.arch_only and cell.chain == ()
    record = run_cell(cell)  # no data directory: arch-only cells read no data
    assert record["status"] == "success"
    assert not record["training"] and record["memory"]["train_peak_rss_bytes"] is None
    assert record["metrics"] == {} and record["evaluated"] == {}
    assert record["params"]["total"] > 0 and record["flops"]["flops"] > 0
    assert record["latency"]["b1_s16"]["n"] >= 5
    assert record["determinism"]["accuracy"] is False
    assert cell.chain_label == "none"


def test_architecture_only_source_builds_the_task_head_without_weights():
    from bench.errors import UsageError
    from bench.measure.params import count_parameters
    from bench.modeling.load import load_model, load_tokenizer
    from bench.modeling.source import ModelSource

    config = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=20, max_position_embeddings=64)
    source = ModelSource(name="unregistered-tiny", config=config, pretrained=False)
    model = load_model(source, TASKS.get("glue-mnli").obj)
    assert model.config.num_labels == 3 and model.config.num_hidden_layers == 1
    emb = 50 * 16 + 64 * 16 + 2 * 16 + 2 * 16  # words, positions, token types, LayerNorm
    layer = 4 * (16 * 16 + 16) + 2 * 16 + (16 * 20 + 20) + (20 * 16 + 16) + 2 * 16
    assert count_parameters(model).total == emb + layer + (16 * 16 + 16) + (16 * 3 + 3)
    regression = load_model(source, TASKS.get("glue-stsb").obj)
    assert regression.config.num_labels == 1 and regression.config.problem_type == "regression"
    with pytest.raises(UsageError, match="architecture-only"):
        load_tokenizer(source)
