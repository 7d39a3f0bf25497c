"""GGUF table: a decoder served by llama.cpp from its GGUF file against PyTorch fp32."""

from __future__ import annotations

from bench.registry import TABLES
from bench.report import Table, describe_hardware, fmt, with_stage


@TABLES.register("gguf", results="gguf", title="llama.cpp (GGUF) against PyTorch fp32 generation",
                 paper="llama.cpp / GGUF")
def gguf(records, arch_only: bool = False) -> Table:
    rows, measured = [], []
    for record, stage in with_stage(records, "gguf"):
        measured.append(record)
        for runtime, key, size in (("llama.cpp " + stage["file"].rsplit(".", 2)[-2], "llama_cpp", stage["file_bytes"]),
                                   ("PyTorch fp32 (dequantised GGUF)", "torch_fp32", None)):
            result = stage[key]
            rows.append({
                "Model": record.model,
                "Runtime": runtime,
                "File (MB)": fmt(size / 1e6, ".1f") if size else "-",
                f"TTFT, {stage['prompt_tokens']}-token prompt (ms)": fmt(result["ttft_ms"], ".1f"),
                "Decode tokens/s": fmt(result["decode_tokens_per_s"], ".1f"),
                "TTFT speedup": fmt(stage["ttft_speedup"] if key == "llama_cpp" else 1.0, ".2f", "x"),
                "Decode speedup": fmt(stage["decode_speedup"] if key == "llama_cpp" else 1.0, ".2f", "x"),
                "Greedy tokens equal": (f"{100 * stage['greedy_token_agreement']:.0f}% "
                                        f"(first {stage['greedy_identical_prefix']} identical)") if key == "llama_cpp" else "-",
            })
    notes = [describe_hardware(measured)]
    if measured:
        stage = measured[0].stage("gguf")
        notes.append(f"Median of {stage['runs']} runs after a warm-up; {stage['new_tokens']} greedy tokens; "
                     f"{stage['threads']} threads for both runtimes; llama-cpp-python {stage['llama_cpp_version']}, "
                     f"extra (AMX/repacked) weight buffers {'on' if stage['extra_buffers'] else 'off'}. TTFT: prompt "
                     "prefill plus the first token; decode tokens/s: the tokens after the first over their time. "
                     "Both runtimes get the same prompt token ids; PyTorch runs the GGUF weights dequantised to fp32, "
                     "so 'greedy tokens equal' measures what the 4-bit format changes.")
    return Table("GGUF / llama.cpp", rows, notes)
