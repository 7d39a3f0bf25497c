"""kd-multi-student: N students learn from one cached teacher and from each other, in one loop,
and the cell deploys (and scores) their ensemble beside each student's own scores."""

from __future__ import annotations

import pytest

from bench.errors import UsageError
from bench.spec import expand

METHOD = "kd-multi-student"
# What these tests check is in the record's stages and params: no timings (the contract test times it).
UNTIMED = {"latency": "off", "flops": False, "size": False}


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache, so the first cell trains and runs its teacher."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(fast_spec, tiny_glue_dir, method: str, task: str = "glue-sst2") -> dict:
    from bench.runner import run_cell

    (cell,) = expand(fast_spec(tasks=[task], methods=[method], measure=UNTIMED))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["status"] == "success", record.get("error")
    return record


def stage(stage_inputs, options: dict):
    """The stage's model and context, and a call that runs the stage on them with `options`."""
    from bench.registry import METHODS
    from bench.typed import build

    model, ctx = stage_inputs("glue-sst2", METHOD)
    entry = METHODS.get(METHOD)
    return model, ctx, lambda: entry.obj(model, build(entry.meta.options, options, where=METHOD), ctx)


def test_ensemble_probability_is_the_mean_of_the_students(tiny_model_dir):
    import torch

    from bench.distill.modules import StudentEnsemble
    from bench.modeling.load import load_model, resolve
    from bench.registry import TASKS

    students = []
    for seed in (0, 1):  # two heads drawn apart, so the students disagree
        torch.manual_seed(seed)
        students.append(load_model(resolve(str(tiny_model_dir)), TASKS.get("glue-sst2").obj).eval())
    inputs = {"input_ids": torch.tensor([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]]),
              "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])}
    with torch.no_grad():
        each = [student(**inputs).logits.softmax(-1) for student in students]
        ensemble = StudentEnsemble(students).eval()(**inputs).logits.softmax(-1)
    assert not torch.allclose(each[0], each[1])
    assert torch.allclose(ensemble, (each[0] + each[1]) / 2, atol=1e-6)


def test_every_student_trains_and_each_differently(stage_inputs, tiny_glue_dir, fresh_cache, monkeypatch):
    import torch

    import bench.train
    from bench.distill.modules import StudentEnsemble

    train, before = bench.train.train, {}

    def train_and_remember_the_start(model, *args, **kwargs):  # the students' weights as the loop gets them
        if isinstance(model, StudentEnsemble):
            before.update({name: value.detach().clone() for name, value in model.state_dict().items()})
        return train(model, *args, **kwargs)

    monkeypatch.setattr(bench.train, "train", train_and_remember_the_start)
    _, ctx, run_stage = stage(stage_inputs, {"student": "truncate:1", "students": 3})
    ctx.data_dir = str(tiny_glue_dir)
    after = run_stage().state_dict()

    def moved(i: int):
        names = [name for name in after if name.startswith(f"students.{i}.")]
        return torch.cat([(after[name] - before[name]).flatten().float() for name in names])

    deltas = [moved(i) for i in range(3)]
    assert all(delta.abs().sum() > 0 for delta in deltas)
    assert not any(torch.allclose(deltas[i], deltas[j]) for i in range(3) for j in range(i + 1, 3))
    # One pretrained body, heads drawn at seed + i: the ensemble's diversity starts in the heads.
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(before[f"students.0.{layer}"], before[f"students.1.{layer}"])
    assert not torch.equal(before["students.0.classifier.weight"], before["students.1.classifier.weight"])
    assert ctx.records["distillation"]["teacher_forward_passes_in_training"] == 0


def test_record_scores_each_student_and_the_deployed_ensemble(fast_spec, tiny_glue_dir, fresh_cache, monkeypatch):
    first = run(fast_spec, tiny_glue_dir, f"{METHOD}(student=truncate:1)")
    section, kd = first["stages"]["ensemble"], first["stages"]["distillation"]
    assert section["deployed"] == "ensemble" and section["students"] == 2
    assert first["metrics"] == section["ensemble_metrics"]  # the cell's metrics are the ensemble's
    assert len(section["student_metrics"]) == 2 and all("accuracy" in m for m in section["student_metrics"])
    assert first["params"]["total"] == sum(section["student_parameters"])  # every student ships
    assert first["training"][-1]["trainable_parameters"] == first["params"]["total"]
    assert kd["teacher_forward_passes"] > 0 and kd["teachers"][0]["trained_in_this_cell"]  # empty cache: paid here

    # Another cell of the same teacher: its outputs come from the cache, and nothing runs it.
    import bench.distill.targets

    def no_teacher_forward(*args, **kwargs):
        raise AssertionError("the teacher ran a forward pass")

    monkeypatch.setattr(bench.distill.targets, "_compute", no_teacher_forward)
    second = run(fast_spec, tiny_glue_dir, f"{METHOD}(student=truncate:1, students=3)")
    kd = second["stages"]["distillation"]
    assert kd["teacher_forward_passes"] == 0 and kd["teacher_forward_examples"] == 0
    assert kd["targets"][0]["from_cache"] and not kd["teachers"][0]["trained_in_this_cell"]
    assert len(second["stages"]["ensemble"]["student_metrics"]) == 3
    assert second["params"]["total"] == 3 * second["stages"]["ensemble"]["student_parameters"][0]


def test_bad_options_and_tasks_are_refused(fast_spec, tiny_glue_dir, stage_inputs, fresh_cache):
    from bench.runner import run_cell

    for method, message in ((f"{METHOD}(students=1)", "'students' must be at least 2"),
                            (f"{METHOD}(peer_weight=-1)", "'peer_weight' must be at least 0"),
                            (f"{METHOD}(student=trunc:1)", "Did you mean 'truncate'")):
        with pytest.raises(UsageError, match=message):
            expand(fast_spec(methods=[method]))
    (cell,) = expand(fast_spec(tasks=["glue-stsb"], methods=[METHOD]))
    with pytest.raises(UsageError, match="regression task: use kd-soft"):
        run_cell(cell, data_dir=str(tiny_glue_dir))
    _, ctx, run_stage = stage(stage_inputs, {})
    ctx.stage_index = 1  # after another stage, e.g. full-ft -> kd-multi-student
    with pytest.raises(UsageError, match="first in the chain"):
        run_stage()
