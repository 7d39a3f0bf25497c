"""Peak RSS of one phase of a process, so training and inference peaks are kept apart.

ru_maxrss only grows; Linux (>= 4.0) lets a process reset its high-water mark (VmHWM)
by writing "5" to /proc/self/clear_refs. Where that is not possible the window reports
the process peak and says so.
"""

from __future__ import annotations

from pathlib import Path


def reset_rss_peak() -> bool:
    """Start a new peak window; False when the platform cannot reset it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_peak_bytes() -> int:
    """Peak RSS since the last reset (VmHWM), else the process peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    from bench.measure.memory import peak_rss_bytes

    return peak_rss_bytes()
