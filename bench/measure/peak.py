"""This machine's measured fp32 matmul throughput: the ceiling achieved GFLOP/s is read against."""

from __future__ import annotations


def matmul_peak_gflops(device: str = "cpu", size: int = 2048) -> dict:
    """Best-of-runs GFLOP/s of a square fp32 matmul, timed like every other latency."""
    import torch

    from bench.measure.latency import measure_latency

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    result = measure_latency(lambda: torch.mm(a, b), warmup=3, min_iters=10, min_seconds=1.0, device=device)
    flops = 2 * size**3
    return {
        "size": size,
        "dtype": "float32",
        "p50_ms": result.p50,
        "gflops_p50": flops / (result.p50 / 1e3) / 1e9,
        "gflops_best": flops / (result.min / 1e3) / 1e9,
        "threads": torch.get_num_threads(),
    }
