"""Peak memory of the process and of the CUDA allocator (PROTOCOL: Memory).

The runner uses one process per cell, so the process-wide peak RSS is the
cell's peak; CUDA peaks are reset before the phase being measured so training
and inference peaks are recorded separately.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bench.measure.result import Result


@dataclass(frozen=True)
class MemoryPeaks(Result):
    peak_rss_bytes: int
    cuda_max_memory_allocated: int | None = None
    cuda_max_memory_reserved: int | None = None
    unit: str = "bytes"


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS reports bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _uses_cuda(device) -> bool:
    if not str(device).startswith("cuda"):
        return False
    import torch

    return torch.cuda.is_available()


def reset_cuda_peaks(device) -> None:
    """Start a new CUDA peak window; a no-op on CPU."""
    if _uses_cuda(device):
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peaks(device) -> dict | None:
    """CUDA allocator peaks (bytes) since the last reset, or None off CUDA."""
    if not _uses_cuda(device):
        return None
    import torch

    torch.cuda.synchronize(device)
    return {
        "max_memory_allocated": int(torch.cuda.max_memory_allocated(device)),
        "max_memory_reserved": int(torch.cuda.max_memory_reserved(device)),
    }


def memory_peaks(device="cpu") -> MemoryPeaks:
    """Both peaks at once, for a record's memory section."""
    cuda = cuda_peaks(device) or {}
    return MemoryPeaks(
        peak_rss_bytes=peak_rss_bytes(),
        cuda_max_memory_allocated=cuda.get("max_memory_allocated"),
        cuda_max_memory_reserved=cuda.get("max_memory_reserved"),
    )
