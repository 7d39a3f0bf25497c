"""Contract: every KD method runs as a cell on a tiny random teacher and student, and the
teacher is trained once and run once: later cells are served from the caches."""

from __future__ import annotations

import shutil

import pytest

from bench.spec import expand

# Lists need the mapping form of a method item (the string form splits options at commas).
KD_METHODS = ["kd-soft", "kd-hard", "kd-feature", "kd-online", {"name": "kd-multi-teacher", "teacher_seeds": [0, 1]},
              "student-only"]


def only_cell(spec: dict):
    (cell,) = expand(spec)
    return cell


def run(fast_spec, tiny_glue_dir, method, task="glue-rte", **overrides):
    from bench.runner import run_cell

    record = run_cell(only_cell(fast_spec(tasks=[task], methods=[method], **overrides)), data_dir=str(tiny_glue_dir))
    assert record["status"] == "success", record.get("error")
    return record


def with_student(method, student: str):
    return dict(method, student=student) if isinstance(method, dict) else f"{method}(student={student})"


def method_id(method) -> str:
    return method["name"] if isinstance(method, dict) else method


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache, so a test sees teachers trained and run for the first time."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("method", KD_METHODS, ids=method_id)
def test_every_kd_method_runs_as_a_cell(method, fast_spec, tiny_glue_dir, fresh_cache):
    # The "teacher" is the tiny 2-layer model fine-tuned; the student keeps one of its layers.
    record = run(fast_spec, tiny_glue_dir, with_student(method, "truncate:1"))
    assert record["params"]["total"] < record["params"]["base_total"]  # smaller than the teacher
    assert record["stages"]["student"] == {"student": "truncate:1", "kept_layers": [0]}
    assert record["training"][-1]["steps"] == 2 and record["training"][-1]["final_loss"] == record["training"][-1]["final_loss"]
    assert record["flops"]["flops"] > 0 and record["latency"]["b1_s16"]["p50"] > 0
    assert isinstance(record["metrics"]["accuracy"], float)
    method = method_id(method)
    if method == "student-only":
        assert "distillation" not in record["stages"]
        return
    kd = record["stages"]["distillation"]
    assert kd["teacher_forward_passes_in_training"] == (2 if method == "kd-online" else 0)
    if method != "kd-online":  # offline: teachers trained here (empty cache) and run once over the data
        assert kd["teacher_forward_passes"] > 0 and kd["targets_cache_bytes"] > 0
        assert all(t["trained_in_this_cell"] and t["train_wall_s"] > 0 for t in kd["teachers"])
        assert len(kd["teachers"]) == (2 if method.startswith("kd-multi") else 1)


def test_second_kd_cell_on_the_same_teacher_runs_no_teacher(fast_spec, tiny_glue_dir, fresh_cache):
    first = run(fast_spec, tiny_glue_dir, "kd-soft(student=truncate:1)")["stages"]["distillation"]
    assert first["teacher_forward_passes"] > 0 and first["teachers"][0]["trained_in_this_cell"]
    # Another student of the same teacher (one teacher, several students): outputs come from the cache.
    second = run(fast_spec, tiny_glue_dir, "kd-soft(student=lstm)")["stages"]["distillation"]
    assert second["teacher_forward_passes"] == 0 and second["teacher_forward_examples"] == 0
    assert second["targets"][0]["from_cache"] and not second["teachers"][0]["trained_in_this_cell"]
    assert second["teachers"][0]["key"] == first["teachers"][0]["key"]
    assert second["targets_cache_bytes"] == first["targets_cache_bytes"]
    assert second["teachers"][0]["train_wall_s"] == first["teachers"][0]["train_wall_s"]  # the cost paid once


def test_teacher_is_the_full_ft_cell_of_the_same_seed(fast_spec, tiny_glue_dir, fresh_cache):
    teacher_row = run(fast_spec, tiny_glue_dir, "full-ft", seeds=[2])
    kd = run(fast_spec, tiny_glue_dir, "kd-hard(student=truncate:1)", seeds=[2])["stages"]["distillation"]
    assert not kd["teachers"][0]["trained_in_this_cell"]
    assert kd["teachers"][0]["train_wall_s"] == teacher_row["training"][0]["wall_s"]
    other_seed = run(fast_spec, tiny_glue_dir, "kd-hard(student=truncate:1)", seeds=[3])["stages"]["distillation"]
    assert other_seed["teachers"][0]["trained_in_this_cell"]


def test_teacher_trained_in_a_kd_cell_equals_the_full_ft_teacher(fast_spec, tiny_glue_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    keys = []
    for name, order in (("a", ["kd-soft(student=truncate:1)", "full-ft"]), ("b", ["full-ft"])):
        monkeypatch.setenv("BENCH_CACHE", str(tmp_path / name))
        for method in order:
            record = run(fast_spec, tiny_glue_dir, method)
        keys.append(record["stages"].get("distillation", {}).get("teachers", [{}])[0].get("key"))
    # Cache a: the KD cell trained the teacher; cache b: the full-ft cell did. Same weights.
    (key,) = [p.name for p in (tmp_path / "b").iterdir() if p.name.startswith("train-")]
    a, b = (load_file(str(tmp_path / name / key / "model.safetensors")) for name in ("a", "b"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_a_cached_student_needs_no_teacher(fast_spec, tiny_glue_dir, fresh_cache):
    run(fast_spec, tiny_glue_dir, "kd-soft(student=truncate:1)")
    again = run(fast_spec, tiny_glue_dir, "kd-soft(student=truncate:1)")
    assert again["training"][0]["from_cache"]
    assert again["stages"]["distillation"]["student_from_cache"]
    assert again["stages"]["distillation"]["teacher_forward_passes"] == 0


def test_unlabelled_training_text_is_labelled_by_the_teacher(fast_spec, tiny_glue_dir, fresh_cache):
    budget = dict(fast_spec()["budget"], train_limit=8)  # the tiny split has 16 rows: 8 are left unlabelled
    kd = run(fast_spec, tiny_glue_dir, "kd-hard(student=truncate:1, unlabelled=train)", budget=budget)
    assert kd["stages"]["distillation"]["labelled_examples"] == 8
    assert kd["stages"]["distillation"]["unlabelled_examples"] == 8
    other = run(fast_spec, tiny_glue_dir, "kd-soft(student=truncate:1, unlabelled=glue-qqp, unlabelled_limit=5)",
                task="glue-mrpc")
    assert other["stages"]["distillation"]["unlabelled_examples"] == 5


def test_unlabelled_text_must_fit_the_task(fast_spec, tiny_glue_dir, fresh_cache):
    from bench.errors import UsageError
    from bench.runner import run_cell

    with pytest.raises(UsageError, match="takes single sentences"):
        run_cell(only_cell(fast_spec(tasks=["glue-sst2"], methods=["kd-soft(unlabelled=glue-qqp, student=truncate:1)"])),
                 data_dir=str(tiny_glue_dir))
    with pytest.raises(UsageError, match="train_limit"):
        run_cell(only_cell(fast_spec(methods=["kd-soft(unlabelled=train, student=truncate:1)"])), data_dir=str(tiny_glue_dir))


def test_regression_task_distils_by_mse(fast_spec, tiny_glue_dir, fresh_cache):
    record = run(fast_spec, tiny_glue_dir, "kd-soft(student=lstm)", task="glue-stsb")
    assert set(record["metrics"]) == {"pearson", "spearman"}
    assert record["stages"]["student"]["student"] == "lstm"


@pytest.fixture(scope="module")
def narrow_model_dir(tiny_model_dir, tmp_path_factory):
    """A 1-layer BERT of width 16 with the tiny model's tokenizer: a student narrower than the teacher."""
    import torch
    import transformers

    directory = tmp_path_factory.mktemp("narrow") / "model"
    shutil.copytree(tiny_model_dir, directory)
    (directory / "model.safetensors").unlink()
    config = transformers.BertConfig.from_pretrained(str(tiny_model_dir))
    config.update(dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=1, intermediate_size=20))
    torch.manual_seed(1)
    transformers.BertModel(config).save_pretrained(str(directory))
    return directory


def test_feature_kd_learns_a_projection_where_widths_differ(fast_spec, tiny_glue_dir, narrow_model_dir, fresh_cache):
    record = run(fast_spec, tiny_glue_dir, f"kd-feature(student={narrow_model_dir})")
    kd = record["stages"]["distillation"]
    # One student layer learns from the teacher's last (2 of 2); layer 0 is the embeddings.
    assert kd["teacher_outputs"] == ["logits", "hidden-0", "hidden-2", "attention-2"]
    width = 16
    trained = record["training"][0]["trainable_parameters"]
    assert trained == record["params"]["total"] + width * 32 + 32  # the student plus W_h (16 -> 32)
    assert record["stages"]["student"]["pretrained"] is True


def test_kd_options_are_checked_before_any_cell_runs(fast_spec):
    from bench.errors import UsageError

    cases = [("kd-feature(student=lstm)", "use kd-soft"), ("kd-soft(student=trunc:2)", "Did you mean 'truncate'"),
             ("kd-soft(student=truncate:0)", "positive layer count"), ("kd-soft(alpha=1.5)", r"\[0, 1\]"),
             ("kd-soft(unlabelled=glue-sst)", "Did you mean"), ("kd-soft(teacher=no-such-model)", "unknown model"),
             ({"name": "kd-multi-teacher", "weights": [1, 2]}, "one per teacher"), ("kd-soft(soft_loss=l1)", "soft_loss"),
             ("student-only(student=no-such-model)", "truncate:K, lstm")]
    for method, message in cases:
        with pytest.raises(UsageError, match=message):
            expand(fast_spec(methods=[method]))


def test_truncation_deeper_than_the_model_is_a_clear_error(fast_spec, tiny_glue_dir, fresh_cache):
    from bench.errors import UsageError
    from bench.runner import run_cell

    with pytest.raises(UsageError, match="only 2 layers"):
        run_cell(only_cell(fast_spec(methods=["student-only(student=truncate:3)"])), data_dir=str(tiny_glue_dir))


def test_arch_only_kd_cell_measures_the_student_without_a_teacher(fast_spec, fresh_cache):
    from bench.runner import run_cell

    record = run_cell(only_cell(fast_spec(methods=["kd-feature(student=truncate:1)"], arch_only=True)))
    assert record["status"] == "success" and record["params"]["total"] < record["params"]["base_total"]
    assert record["stages"]["distillation"]["teacher_forward_passes"] == 0
    assert not any(fresh_cache.glob("targets-*")) if fresh_cache.exists() else True


def test_teacher_learning_rate_selects_the_matching_full_ft_teacher(fast_spec, tiny_glue_dir, fresh_cache):
    run(fast_spec, tiny_glue_dir, "full-ft(lr=0.001)", seeds=[4])
    shared = run(fast_spec, tiny_glue_dir, "kd-soft(student=lstm, teacher_lr=0.001)", seeds=[4])
    default = run(fast_spec, tiny_glue_dir, "kd-soft(student=lstm)", seeds=[4])
    assert not shared["stages"]["distillation"]["teachers"][0]["trained_in_this_cell"]
    assert default["stages"]["distillation"]["teachers"][0]["trained_in_this_cell"]  # another teacher: full-ft's default lr


def test_feature_kd_student_ships_with_its_original_attention_kernel(stage_inputs, fresh_cache):
    # Attention maps need the eager kernel while training; the deployed student keeps the fast one.
    from bench.registry import METHODS
    from bench.typed import build

    model, ctx = stage_inputs("glue-sst2", "kd-feature")
    kernel = model.config._attn_implementation
    entry = METHODS.get("kd-feature")
    student = entry.obj(model, build(entry.meta.options, {"student": "truncate:1"}, where="kd-feature"), ctx)
    assert student.config._attn_implementation == kernel != "eager"
    assert ctx.records["distillation"]["teacher_forward_passes"] > 0
