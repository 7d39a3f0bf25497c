"""A distribution-free confidence interval of the median, from order statistics.

Latency samples are skewed and heavy-tailed (a shared machine adds time, never removes it),
so a normal-theory interval would lie; the ranks of the sorted samples give an interval whose
coverage holds for any continuous distribution. With n samples the median lies between the
order statistics of ranks n/2 -+ z*sqrt(n)/2 (the normal approximation of the binomial(n, 1/2)
count of samples below it), which is what this computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054
MIN_SAMPLES = 6  # below this even [min, max] covers the median less than 95% of the time


def median_interval(samples: Sequence[float], z: float = Z95) -> tuple[float, float] | None:
    """(low, high) bounding the median with ~95% confidence; None with fewer than MIN_SAMPLES."""
    n = len(samples)
    if n < MIN_SAMPLES:
        return None
    ordered = sorted(samples)
    spread = z * math.sqrt(n) / 2
    low_rank = max(1, math.floor(n / 2 - spread))  # 1-based ranks
    high_rank = min(n, math.ceil(n / 2 + spread) + 1)
    return ordered[low_rank - 1], ordered[high_rank - 1]


def relative_halfwidth(samples: Sequence[float], median: float) -> float | None:
    """The interval's larger distance from the median, as a fraction of it; None if no interval."""
    interval = median_interval(samples)
    if interval is None or median <= 0:
        return None
    low, high = interval
    return max(median - low, high - median) / median
