"""A bootstrap confidence interval of the ratio of two medians: p50(NEW) / p50(BASE).

Latency samples are skewed and heavy-tailed, and the two sides of `bench compare` are
independent runs with their own sample counts, so there is no pairing and no normal theory to
lean on: resample each side
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
A/B rounds remove the rest, and those are paired: `paired_ratio_interval` below.
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


TRIM = 0.2  # the share of rounds cut from each end of the sorted log-ratios


def _trimmed_means(values, rng=None, resamples: int = 0):
    """The TRIM-trimmed mean of `values`, or of each of `resamples` bootstrap resamples of it."""
    import numpy as np

    if rng is not None:
        values = np.sort(values[rng.integers(0, values.size, size=(resamples, values.size))], axis=1)
    else:
        values = np.sort(values)[None, :]
    cut = int(TRIM * values.shape[1])
    return values[:, cut:values.shape[1] - cut].mean(axis=1)


def paired_ratio_interval(rounds: Sequence[tuple[Sequence[float], Sequence[float]]], *, resamples: int = RESAMPLES,
                          seed: int = SEED, level: float = LEVEL) -> RatioInterval | None:
    """The ratio NEW/BASE from interleaved rounds, each a (base samples, new samples) pair timed
    back to back: the trimmed mean of the rounds' log(p50 new / p50 base), exponentiated, and its
    percentile-bootstrap interval over rounds.

    Pairing is what removes drift: a neighbour that slows the machine for a second or two slows
    both halves of the rounds it overlaps, where pooled samples credit it to whichever side was
    running. Trimming keeps the rounds a slowdown split in two from deciding the estimate. Each
    round's ratio also carries what differs between the sides' model copies (their memory layout),
    so the interval covers that too when the rounds rotate over copies. None with fewer than
    MIN_SAMPLES rounds."""
    import numpy as np

    logs = [np.log(np.median(new) / np.median(base)) for base, new in rounds
            if len(base) and len(new) and np.median(base) > 0 and np.median(new) > 0]
    if len(logs) < MIN_SAMPLES:
        return None
    logs = np.asarray(logs)
    resampled = _trimmed_means(logs, np.random.default_rng(seed), resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.exp(np.percentile(resampled, [tail, 100 - tail]))
    return RatioInterval(float(np.exp(_trimmed_means(logs)[0])), float(low), float(high), level)
