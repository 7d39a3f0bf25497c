"""A bootstrap confidence interval of the ratio of two medians: p50(NEW) / p50(BASE).

Latency samples are skewed and heavy-tailed, and the two sides are independent runs with their
own sample counts, so there is no pairing and no normal theory to lean on: resample each side
with replacement, take the ratio of the resampled medians, and read the interval off the
percentiles of those ratios.

Percentile rather than BCa: BCa's acceleration is estimated with the jackknife, and the
jackknife is inconsistent for the median (leave-one-out medians take only two values), so its
"correction" would rest on a bad estimate. The percentile interval needs no such estimate and
is transformation-respecting (the same on the ratio as on the log-ratio, where a ratio of
medians is nearly symmetric). 2,000 resamples put the 2.5% and 97.5% percentiles on 50 ratios
each, which moves the bounds by well under 1% between seeds; the seed is fixed anyway, so the
same records always give the same interval.

What it does not cover: drift between the two runs (another tenant on a shared machine slows a
whole run, not single calls). The interval is the within-run sampling noise; only interleaved
A/B rounds remove the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
MIN_SAMPLES = 6  # as bench/measure/interval.py: below this a median has no useful interval
CHUNK_VALUES = 2_000_000  # resampled values held at once (16 MB), whatever the sample count


@dataclass(frozen=True)
class RatioInterval:
    ratio: float  # p50(NEW) / p50(BASE) of the samples themselves
    low: float
    high: float
    level: float = LEVEL

    def above(self, threshold: float) -> bool:
        return self.low > threshold

    def below(self, threshold: float) -> bool:
        return self.high < threshold


def _resampled_medians(samples, resamples: int, rng):
    import numpy as np

    n = samples.size
    per_chunk = max(1, CHUNK_VALUES // n)
    medians = [np.median(samples[rng.integers(0, n, size=(min(per_chunk, resamples - done), n))], axis=1)
               for done in range(0, resamples, per_chunk)]
    return np.concatenate(medians)


def median_ratio_interval(base: Sequence[float], new: Sequence[float], *, resamples: int = RESAMPLES,
                          seed: int = SEED, level: float = LEVEL) -> RatioInterval | None:
    """The percentile-bootstrap interval of median(new) / median(base); None when either side has
    fewer than MIN_SAMPLES samples or a median that is not positive."""
    import numpy as np

    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if min(base.size, new.size) < MIN_SAMPLES or np.median(base) <= 0 or np.median(new) <= 0:
        return None
    rng = np.random.default_rng(seed)
    ratios = _resampled_medians(new, resamples, rng) / _resampled_medians(base, resamples, rng)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return RatioInterval(float(np.median(new) / np.median(base)), float(low), float(high), level)
