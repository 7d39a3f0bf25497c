"""`gguf`: run the decoder's GGUF file with llama.cpp (llama-cpp-python) and measure
generation against PyTorch fp32 on the same prompt tokens: time to first token (prefill),
decode tokens per second, file size, and how often the two pick the same greedy tokens.

A measurement stage: llama.cpp serves generation, not the classification head of the
cell, so the model passes through unchanged and the cell's task metrics stay PyTorch's.
Models are not converted here (that needs llama.cpp's convert script, not in the wheel);
the stage runs models that ship a GGUF file, such as smollm2-135m (Q4_1).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import option

PROMPT_TEXT = ("The history of natural language processing began in the 1950s, when researchers first tried to "
               "translate sentences between languages with rules written by hand. ")


@dataclass(frozen=True)
class GgufOptions:
    prompt_tokens: int = option(128, "prompt length in tokens", at_least=1)
    new_tokens: int = option(32, "tokens decoded after the prompt", at_least=1)
    runs: int = option(5, "timed repetitions after one warm-up; medians are recorded", at_least=1)
    threads: int | None = option(None, "llama.cpp threads; None: torch's intra-op thread count", at_least=1)
    # llama.cpp's extra weight buffers (AMX / repacked layouts) segfault in the first decode
    # on this project's AMX CPUs (llama.cpp issue #20824), so they are off unless asked for.
    extra_buffers: bool = option(False, "use llama.cpp's extra weight buffers (AMX / repacked layouts)")



def gguf_path(model_name: str) -> str:
    import glob
    import os

    from bench.modeling.load import resolve

    source = resolve(model_name)
    if not source.gguf_file or source.architecture_only:
        raise UsageError(f"gguf: model {model_name!r} ships no GGUF file; the stage runs GGUF models "
                         "(smollm2-135m). Converting a checkpoint needs llama.cpp's convert script.")
    matches = sorted(glob.glob(os.path.join(source.location(), source.gguf_file)))
    if not matches:
        raise UsageError(f"gguf: no file matching {source.gguf_file!r} in {source.location()}")
    return matches[0]


def load_llama(path: str, n_ctx: int, threads: int, extra_buffers: bool):
    """A llama.cpp model; the Python bindings do not expose `use_extra_bufts`, so the
    default model parameters are wrapped while the model loads."""
    import llama_cpp.llama_cpp as bindings
    from llama_cpp import Llama

    defaults = bindings.llama_model_default_params

    def params():
        values = defaults()
        values.use_extra_bufts = extra_buffers
        return values

    bindings.llama_model_default_params = params
    try:
        return Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
    finally:
        bindings.llama_model_default_params = defaults


def prompt_ids(tokenizer, count: int) -> list[int]:
    ids: list[int] = []
    while len(ids) < count:
        ids += tokenizer(PROMPT_TEXT, add_special_tokens=False)["input_ids"]
    return ids[:count]


def time_llamacpp(llm, prompt: list[int], new_tokens: int) -> tuple[float, float, list[int]]:
    """(seconds to the first token, decode tokens/s after it, greedy tokens)."""
    start = time.perf_counter()
    first_at, tokens = None, []
    for token in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
        tokens.append(token)
        if first_at is None:
            first_at = time.perf_counter()
        if len(tokens) == new_tokens:
            break
    end = time.perf_counter()
    return first_at - start, (len(tokens) - 1) / (end - first_at) if len(tokens) > 1 else float("nan"), tokens


def time_torch(model, prompt: list[int], new_tokens: int) -> tuple[float, float, list[int]]:
    """The same measurement for a transformers causal LM, greedy with its KV cache."""
    import torch

    ids = torch.tensor([prompt])
    with torch.inference_mode():
        start = time.perf_counter()
        out = model(input_ids=ids, use_cache=True)
        token = out.logits[0, -1].argmax()
        first_at = time.perf_counter()
        past, tokens = out.past_key_values, [int(token)]
        while len(tokens) < new_tokens:
            out = model(input_ids=token.view(1, 1), past_key_values=past, use_cache=True)
            past, token = out.past_key_values, out.logits[0, -1].argmax()
            tokens.append(int(token))
        end = time.perf_counter()
    return first_at - start, (len(tokens) - 1) / (end - first_at) if len(tokens) > 1 else float("nan"), tokens


def _medians(samples: list[tuple[float, float, list[int]]]) -> dict:
    return {"ttft_ms": 1e3 * statistics.median(s[0] for s in samples),
            "decode_tokens_per_s": statistics.median(s[1] for s in samples)}


@METHODS.register("gguf", options=GgufOptions, family="inference-format", stage="post",
                  paper="llama.cpp (ggml) via llama-cpp-python; GGUF format", label="llama.cpp GGUF", order=400, makes="reduced")
def gguf(model, options: GgufOptions, ctx):
    import os

    import torch
    import transformers

    from bench.modeling.load import from_pretrained

    path = gguf_path(ctx.cell.model)
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise UsageError("gguf: llama-cpp-python is not installed (pip install '.[gguf]'; it compiles "
                         "llama.cpp when no wheel fits the platform)") from None
    threads = options.threads or torch.get_num_threads()
    directory, name = os.path.split(path)
    tokenizer = from_pretrained(transformers.AutoTokenizer, directory, gguf_file=name)
    prompt = prompt_ids(tokenizer, options.prompt_tokens)
    llm = load_llama(path, options.prompt_tokens + options.new_tokens + 8, threads, options.extra_buffers)
    reference = from_pretrained(transformers.AutoModelForCausalLM, directory, gguf_file=name, dtype=torch.float32).eval()
    results = {}
    for runtime, timer, engine in (("llama.cpp", time_llamacpp, llm), ("torch fp32", time_torch, reference)):
        timer(engine, prompt, options.new_tokens)  # warm-up
        samples = [timer(engine, prompt, options.new_tokens) for _ in range(options.runs)]
        results[runtime] = dict(_medians(samples), tokens=samples[0][2])
    ours, base = results["llama.cpp"], results["torch fp32"]
    agree = sum(a == b for a, b in zip(ours["tokens"], base["tokens"], strict=False)) / options.new_tokens
    prefix = next((i for i, (a, b) in enumerate(zip(ours["tokens"], base["tokens"], strict=False)) if a != b), options.new_tokens)
    ctx.records["gguf"] = {
        "file": name, "file_bytes": os.path.getsize(path), "threads": threads,
        "prompt_tokens": options.prompt_tokens, "new_tokens": options.new_tokens, "runs": options.runs,
        "llama_cpp": {k: v for k, v in ours.items() if k != "tokens"},
        "torch_fp32": {k: v for k, v in base.items() if k != "tokens"},
        "ttft_speedup": base["ttft_ms"] / ours["ttft_ms"],
        "decode_speedup": ours["decode_tokens_per_s"] / base["decode_tokens_per_s"],
        "greedy_token_agreement": agree, "greedy_identical_prefix": prefix,
        "llama_cpp_version": llama_cpp.__version__, "extra_buffers": options.extra_buffers,
    }
    return model
