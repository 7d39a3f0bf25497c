"""Offline task metrics (PROTOCOL: `evaluate.load` fails without internet).

Thin wrappers over scikit-learn and scipy, imported inside each function so that
importing this module stays instant. Every function takes `(preds, refs)` and
returns a plain Python float.
"""

from __future__ import annotations

from collections.abc import Sequence

# name -> higher_is_better; the registry metadata and reports read this.
METRICS: dict[str, bool] = {
    "accuracy": True,
    "f1": True,
    "matthews_corr": True,
    "pearson": True,
    "spearman": True,
}


# Metrics already on a 0-100 scale (sacreBLEU's BLEU and chrF); the others are fractions that
# tables show x100.
PERCENT_METRICS = frozenset({"bleu", "chrf"})


def display_scale(metric_key: str | None) -> float:
    """What a table multiplies a metric by to show it as a percentage ('bleu_m' -> 'bleu')."""
    base = (metric_key or "").split("_")[0]
    return 1.0 if base in PERCENT_METRICS else 100.0


def accuracy(preds: Sequence, refs: Sequence) -> float:
    """Fraction of predictions equal to the reference."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(refs, preds))


def f1(preds: Sequence, refs: Sequence) -> float:
    """Binary F1 of the positive class 1 (GLUE MRPC and QQP)."""
    from sklearn.metrics import f1_score

    return float(f1_score(refs, preds, pos_label=1, average="binary", zero_division=0))


def matthews_corr(preds: Sequence, refs: Sequence) -> float:
    """Matthews correlation coefficient (GLUE CoLA)."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(refs, preds))


def pearson(preds: Sequence, refs: Sequence) -> float:
    """Pearson correlation (GLUE STS-B)."""
    from scipy.stats import pearsonr

    return float(pearsonr([float(p) for p in preds], [float(r) for r in refs])[0])


def spearman(preds: Sequence, refs: Sequence) -> float:
    """Spearman rank correlation (GLUE STS-B)."""
    from scipy.stats import spearmanr

    return float(spearmanr([float(p) for p in preds], [float(r) for r in refs])[0])


FUNCTIONS = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_corr": matthews_corr,
    "pearson": pearson,
    "spearman": spearman,
}


def compute(names: Sequence[str], preds: Sequence, refs: Sequence) -> dict[str, float]:
    """The named metrics of one set of predictions, as {name: value}."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions for {len(refs)} references")
    return {name: FUNCTIONS[name](preds, refs) for name in names}
