"""CPU and GPU description for every record's provenance (PROTOCOL: Provenance).

Latency is only comparable on the same hardware, and int8/bf16 speed-ups hinge
on a few CPU features (VNNI, AMX), so those are recorded explicitly. Nothing
here may fail: an unknown field is None rather than an error.
"""

from __future__ import annotations

import os
import platform

# CPU features that decide whether int8/bf16 kernels are fast.
CPU_FLAGS_OF_INTEREST = (
    "avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16",
)


def parse_cpuinfo(text: str) -> dict:
    """Model name, physical core count and flags from /proc/cpuinfo text."""
    model, flags, cores = None, set(), set()
    physical_id = None
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and model is None:
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
    return {
        "model": model,
        "physical_cores": len(cores) or None,
        "flags": {flag: flag in flags for flag in CPU_FLAGS_OF_INTEREST} if flags else None,
    }


def _usable_cores() -> int | None:
    # Containers and taskset restrict the cores a process may run on.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cpu_info() -> dict:
    """CPU model, core counts and the flags of interest (None where unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            parsed = parse_cpuinfo(handle.read())
    except OSError:
        parsed = {"model": None, "physical_cores": None, "flags": None}
    return {
        "model": parsed["model"] or platform.processor() or platform.machine() or None,
        "logical_cores": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "physical_cores": parsed["physical_cores"],
        "flags": parsed["flags"],
        "machine": platform.machine(),
        "system": platform.system(),
    }


def gpu_info(device: int | str = 0) -> dict | None:
    """Name, memory and compute capability of a CUDA device; None without CUDA."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(device)
    except Exception:  # no torch, broken driver: the record simply has no GPU
        return None
    return {
        "name": props.name,
        "total_memory_bytes": int(props.total_memory),
        "capability": f"{props.major}.{props.minor}",
        "device_count": torch.cuda.device_count(),
        "cuda_version": torch.version.cuda,
    }
