"""Tests of bench.measure: each quantity checked against a value known by hand."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import time

import pytest

from bench.measure import hardware, latency, memory, size, threads
from bench.measure.flops import FLOPS_CONVENTION, FLOPS_TOOL, count_flops, reference_inputs
from bench.measure.latency import LATENCY_PRESETS, measure_latency, summarise
from bench.measure.params import count_parameters

torch = pytest.importorskip("torch")
nn = torch.nn


def mlp(width: int = 16) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, 3))


def quantized_mlp(width: int = 16) -> nn.Module:
    return torch.ao.quantization.quantize_dynamic(mlp(width), {nn.Linear}, dtype=torch.qint8)


# --- import weight ---------------------------------------------------------


def test_measure_modules_import_without_torch():
    # DESIGN principle 4: `bench list` must not pay for importing torch.
    code = (
        "import sys, bench.measure.params, bench.measure.flops, bench.measure.latency, "
        "bench.measure.memory, bench.measure.size, bench.measure.threads, bench.measure.hardware; "
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# --- parameters ------------------------------------------------------------


def test_count_parameters_total_and_trainable_pct():
    model = mlp(16)
    expected_total = (16 * 32 + 32) + (32 * 3 + 3)
    model[0].weight.requires_grad_(False)
    counts = count_parameters(model)
    assert counts.total == expected_total
    assert counts.trainable == expected_total - 16 * 32
    assert counts.trainable_pct == pytest.approx(100 * counts.trainable / expected_total)
    assert counts.packed == 0


def test_trainable_pct_is_relative_to_base_total():
    # A LoRA-style adapter: % of the base model's total, not of base + adapter.
    adapter = nn.Linear(4, 4)
    counts = count_parameters(adapter, base_total=1000)
    assert counts.trainable == 20
    assert counts.trainable_pct == pytest.approx(2.0)
    assert counts.to_dict()["base_total"] == 1000


def test_tied_weights_are_counted_once():
    embedding = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight
    assert count_parameters(nn.ModuleList([embedding, head])).total == 40


def test_dynamic_quantized_model_keeps_fp32_total():
    fp32_total = count_parameters(mlp(16)).total
    counts = count_parameters(quantized_mlp(16))
    assert counts.total == fp32_total
    assert counts.packed == fp32_total  # every weight and bias lives in packed params
    assert counts.trainable == 0


def test_four_bit_parameter_counted_by_logical_shape():
    # bitsandbytes Params4bit packs two values per byte and keeps the true shape.
    packed = nn.Parameter(torch.zeros(8, 1, dtype=torch.uint8), requires_grad=False)
    packed.quant_state = type("QuantState", (), {"shape": torch.Size([4, 4])})()
    module = nn.Module()
    module.weight = packed
    assert count_parameters(module).total == 16


# --- FLOPs -----------------------------------------------------------------


def test_linear_flops_are_two_times_macs():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 32)

        def forward(self, input_ids):
            return self.linear(input_ids)

    result = count_flops(Wrapped(), {"input_ids": torch.randn(1, 10, 64)})
    assert result.flops == 2 * 10 * 64 * 32
    assert (result.batch_size, result.seq_len) == (1, 10)
    assert result.tool == FLOPS_TOOL and result.convention == FLOPS_CONVENTION
    assert sum(result.by_op.values()) == result.flops


def test_bert_flops_match_hand_formula():
    transformers = pytest.importorskip("transformers")
    hidden, layers, intermediate, labels, seq = 32, 2, 37, 2, 16
    config = transformers.BertConfig(
        vocab_size=99, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=intermediate, num_labels=labels,
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    per_layer = (
        4 * 2 * seq * hidden * hidden  # Q, K, V and output projections
        + 2 * 2 * seq * seq * hidden  # scores Q K^T and weighted sum over V
        + 2 * 2 * seq * hidden * intermediate  # feed-forward up and down
    )
    pooler_and_head = 2 * hidden * hidden + 2 * hidden * labels  # first token only
    result = count_flops(model, reference_inputs(99, batch_size=1, seq_len=seq))
    assert result.flops == layers * per_layer + pooler_and_head
    # Batch 2 doubles every term: the counter sees real shapes, not a constant.
    assert count_flops(model, reference_inputs(99, batch_size=2, seq_len=seq)).flops == 2 * result.flops


def test_attention_flops_counted_for_fused_cpu_kernel():
    # torch's counter knows the CUDA fused kernels; the CPU one must count too.
    class Attention(nn.Module):
        def forward(self, input_ids):
            return nn.functional.scaled_dot_product_attention(input_ids, input_ids, input_ids)

    batch, heads, seq, head_dim = 1, 2, 16, 8
    query = torch.randn(batch, heads, seq, head_dim)
    expected = 2 * (2 * batch * heads * seq * seq * head_dim)  # Q K^T and weights @ V
    assert count_flops(Attention(), {"input_ids": query}).flops == expected


def test_reference_inputs_are_deterministic():
    first, second = reference_inputs(50, batch_size=2, seq_len=7), reference_inputs(50, batch_size=2, seq_len=7)
    assert first["input_ids"].shape == (2, 7)
    assert torch.equal(first["input_ids"], second["input_ids"])
    assert int(first["input_ids"].max()) < 50
    assert bool((first["attention_mask"] == 1).all())


# --- latency ---------------------------------------------------------------


class FakeClock:
    """A clock that only moves when the timed function runs, so counts are exact."""

    def __init__(self, step_s: float):
        self.now, self.step_s, self.calls = 0.0, step_s, 0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.calls += 1
        self.now += self.step_s


@pytest.mark.parametrize(
    "min_iters, min_seconds, expected_n",
    [(3, 1.0, 4), (6, 1.0, 6), (5, 0.0, 5)],  # time binds, count binds, count only
)
def test_latency_honours_both_minimums(monkeypatch, min_iters, min_seconds, expected_n):
    clock = FakeClock(0.25)  # exact in binary, so 4 calls are exactly 1.0 s
    monkeypatch.setattr(latency, "perf_counter", clock)
    result = measure_latency(clock.tick, warmup=2, min_iters=min_iters, min_seconds=min_seconds)
    assert result.n == expected_n == len(result.samples_ms)
    assert clock.calls == 2 + expected_n  # warm-up calls are not samples
    assert result.samples_ms == [250.0] * expected_n
    assert (result.unit, result.timer, result.warmup) == ("ms", "perf_counter", 2)


def test_latency_with_real_sleep():
    started = time.perf_counter()
    result = measure_latency(lambda: time.sleep(0.001), warmup=1, min_iters=5, min_seconds=0.05)
    assert time.perf_counter() - started >= 0.05
    assert result.n >= 5
    assert result.min >= 0.9  # sleep(1 ms) never returns early
    assert result.min <= result.p50 <= result.p90 <= result.p95 <= max(result.samples_ms)
    assert result.p99 is None


def test_summary_statistics_of_known_samples():
    result = summarise([float(v) for v in range(1, 101)], timer="perf_counter", warmup=0)
    assert result.p50 == pytest.approx(50.5)
    assert result.iqr == pytest.approx(49.5)
    assert result.mean == pytest.approx(50.5)
    assert result.min == 1.0 and result.max == 100.0
    assert result.p99 is None
    assert summarise([1.0] * 1000, timer="perf_counter", warmup=0).p99 == 1.0
    with pytest.raises(ValueError):
        summarise([], timer="perf_counter", warmup=0)


def test_latency_presets():
    assert LATENCY_PRESETS["publish"] == {"min_iters": 100, "min_seconds": 10.0}  # publish keeps fixed minimums
    assert LATENCY_PRESETS["fixed"] == {"min_iters": 50, "min_seconds": 2.0}
    assert LATENCY_PRESETS["default"]["ci_target"] == 0.02
    result = measure_latency(lambda: None, warmup=0, **LATENCY_PRESETS["quick"])
    assert result.n == 5 and result.to_dict()["n"] == 5
    assert result.stopped_by == "minimums" and result.p50_ci95 is None  # 5 samples give no interval


class CyclingClock(FakeClock):
    """A fake clock whose calls take the given durations in turn."""

    def __init__(self, steps_s: list[float]):
        super().__init__(0.0)
        self.steps_s = steps_s

    def tick(self) -> None:
        self.now += self.steps_s[self.calls % len(self.steps_s)]
        self.calls += 1


def test_adaptive_latency_stops_a_quiet_shape_at_its_minimums(monkeypatch):
    clock = CyclingClock([0.100, 0.101])  # +-0.5%: within +-2% as soon as there is an interval
    monkeypatch.setattr(latency, "perf_counter", clock)
    result = measure_latency(clock.tick, warmup=0, min_iters=10, min_seconds=0.0, ci_target=0.02, max_seconds=60.0)
    assert (result.n, result.stopped_by) == (10, "interval")
    assert result.p50_ci95 == [pytest.approx(100.0), pytest.approx(101.0)]
    assert result.p50_ci95_halfwidth <= 0.02


def test_adaptive_latency_samples_a_noisy_shape_until_the_cap(monkeypatch):
    # Uniform on 50..150 ms: the median's interval needs ~2,400 calls to narrow to +-2%, the cap allows ~300.
    rng = random.Random(0)
    clock = CyclingClock([rng.uniform(0.05, 0.15) for _ in range(1000)])
    monkeypatch.setattr(latency, "perf_counter", clock)
    result = measure_latency(clock.tick, warmup=0, min_iters=10, min_seconds=0.0, ci_target=0.02, max_seconds=30.0)
    assert result.stopped_by == "time_cap"
    assert sum(result.samples_ms) == pytest.approx(30_000, abs=300)  # the cap, overshot by at most one call
    assert result.p50_ci95_halfwidth > 0.02


def test_adaptive_latency_narrows_a_moderately_noisy_shape(monkeypatch):
    # Durations spread +-5% around 100 ms: 10 samples cannot bound the median to +-2%, many can.
    clock = CyclingClock([0.095 + 0.001 * (i * 7 % 11) for i in range(11)])
    monkeypatch.setattr(latency, "perf_counter", clock)
    result = measure_latency(clock.tick, warmup=0, min_iters=10, min_seconds=0.0, ci_target=0.02, max_seconds=600.0)
    assert result.stopped_by == "interval" and 10 < result.n < 600
    assert result.p50_ci95_halfwidth <= 0.02


def test_an_adaptive_rule_needs_a_time_cap():
    with pytest.raises(ValueError, match="time cap"):
        measure_latency(lambda: None, warmup=0, min_iters=10, min_seconds=0.0, ci_target=0.02)


def test_median_interval_ranks_and_coverage():
    from bench.measure.interval import median_interval

    assert median_interval([1.0] * 5) is None  # too few samples for any 95% interval
    assert median_interval([float(v) for v in range(1, 101)]) == (40.0, 61.0)  # ranks 50 -+ 9.8
    assert median_interval([float(v) for v in range(1, 7)]) == (1.0, 6.0)  # six samples: [min, max]
    # Coverage holds for a skewed distribution (exponential, median ln 2): >= 93% of 2,000 intervals.
    rng = random.Random(0)
    covered = 0
    for _ in range(2000):
        low, high = median_interval([rng.expovariate(1.0) for _ in range(40)])
        covered += low <= math.log(2) <= high
    assert covered / 2000 >= 0.93


# --- memory ----------------------------------------------------------------


def test_peak_rss_is_in_bytes():
    peak = memory.peak_rss_bytes()
    if sys.platform.startswith("linux"):
        # The kernel updates the peak lazily, so it may trail the current RSS a
        # little; without the KiB -> bytes conversion it would be 1024x smaller.
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        assert peak >= 0.5 * kib * 1024
    assert peak > 1 << 20


def test_cuda_peaks_are_none_on_cpu():
    memory.reset_cuda_peaks("cpu")  # must be a no-op
    assert memory.cuda_peaks("cpu") is None
    peaks = memory.memory_peaks("cpu").to_dict()
    assert peaks["cuda_max_memory_allocated"] is None and peaks["unit"] == "bytes"


# --- size ------------------------------------------------------------------


def test_path_bytes_of_file_and_directory(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 5)
    assert size.path_bytes(tmp_path / "a.bin") == 10
    assert size.path_bytes(tmp_path) == 15
    with pytest.raises(FileNotFoundError):
        size.path_bytes(tmp_path / "missing")


def test_saved_size_safetensors_stores_tied_weights_once(tmp_path):
    from safetensors.torch import load_file

    embedding = nn.Embedding(1000, 64)
    head = nn.Linear(64, 1000, bias=False)
    head.weight = embedding.weight
    model = nn.ModuleList([embedding, head])
    nbytes = size.saved_size(model, tmp_path)
    weight_bytes = 1000 * 64 * 4
    assert weight_bytes <= nbytes < 1.1 * weight_bytes
    assert nbytes == (tmp_path / size.SAFETENSORS_NAME).stat().st_size
    assert len(load_file(tmp_path / size.SAFETENSORS_NAME)) == 1


def test_saved_size_of_quantized_model_falls_back_to_torch_save(tmp_path):
    fp32_bytes = size.saved_size(mlp(256), tmp_path / "fp32")
    int8_bytes = size.saved_size(quantized_mlp(256), tmp_path / "int8")
    assert (tmp_path / "int8" / size.TORCH_NAME).is_file()
    assert int8_bytes < fp32_bytes / 2  # int8 weights take a quarter of fp32's bytes


# --- threads ---------------------------------------------------------------


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_set_threads_sets_torch_and_unset_env(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")  # an explicit launch setting wins
    threads.set_threads(1)
    settings = threads.thread_settings()
    assert settings["torch_num_threads"] == 1
    assert settings["OMP_NUM_THREADS"] == "1"
    assert settings["MKL_NUM_THREADS"] == "7"
    assert settings["onnxruntime_intra_op"] is None
    assert settings["torch_num_interop_threads"] >= 1
    with pytest.raises(ValueError):
        threads.set_threads(0)


def test_set_threads_none_changes_nothing(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    threads.set_threads(None)
    assert torch.get_num_threads() == before and "OMP_NUM_THREADS" not in os.environ


# --- hardware --------------------------------------------------------------

CPUINFO = """\
processor\t: 0
model name\t: Test CPU @ 2.0GHz
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse avx2 avx512f avx512_vnni amx_tile

processor\t: 1
model name\t: Test CPU @ 2.0GHz
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse avx2 avx512f avx512_vnni amx_tile

processor\t: 2
model name\t: Test CPU @ 2.0GHz
physical id\t: 1
core id\t\t: 0
flags\t\t: fpu sse avx2 avx512f avx512_vnni amx_tile
"""


def test_parse_cpuinfo():
    parsed = hardware.parse_cpuinfo(CPUINFO)
    assert parsed["model"] == "Test CPU @ 2.0GHz"
    assert parsed["physical_cores"] == 2  # hyper-threads share a (socket, core) pair
    assert parsed["flags"]["avx512_vnni"] and parsed["flags"]["amx_tile"]
    assert not parsed["flags"]["amx_bf16"] and not parsed["flags"]["avx_vnni"]
    assert set(parsed["flags"]) == set(hardware.CPU_FLAGS_OF_INTEREST)


def test_cpu_info_and_gpu_info_on_this_machine():
    info = hardware.cpu_info()
    assert info["logical_cores"] == os.cpu_count()
    assert info["model"]
    gpu = hardware.gpu_info()
    if torch.cuda.is_available():
        assert gpu["total_memory_bytes"] > 0
    else:
        assert gpu is None
