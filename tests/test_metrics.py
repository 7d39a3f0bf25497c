"""Offline metrics against values computed by hand from their formulas."""

import math

import pytest

from bench import metrics

# Confusion matrix (positive class 1): TP=3, TN=2, FP=1, FN=1.
REFS = [1, 1, 1, 1, 0, 0, 0]
PREDS = [1, 1, 1, 0, 0, 0, 1]


def test_accuracy():
    assert metrics.accuracy(PREDS, REFS) == pytest.approx(5 / 7)
    assert metrics.accuracy([2, 0, 1], [2, 0, 1]) == 1.0


def test_f1_positive_class_one():
    # precision 3/4, recall 3/4
    assert metrics.f1(PREDS, REFS) == pytest.approx(0.75)
    # precision 1/1, recall 1/3 -> 2PR/(P+R) = 0.5
    assert metrics.f1([1, 0, 0, 0], [1, 1, 1, 0]) == pytest.approx(0.5)


def test_matthews_corr_formula():
    tp, tn, fp, fn = 3, 2, 1, 1
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert expected == pytest.approx(5 / 12)
    assert metrics.matthews_corr(PREDS, REFS) == pytest.approx(expected)
    assert metrics.matthews_corr([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)


def test_pearson_tiny_list():
    # x deviations (-1, 0, 1), y deviations (-4/3, -1/3, 5/3): r = 3 / sqrt(2 * 42/9)
    assert metrics.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))
    assert metrics.pearson([0.5, 1.0, 4.0], [1.0, 2.0, 8.0]) == pytest.approx(1.0)


def test_spearman_tiny_list():
    # rank differences (0, 1, 1, 0): 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    assert metrics.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # monotone but not linear: rank correlation 1
    assert metrics.spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)


def test_every_metric_returns_a_python_float_and_is_described():
    for name, fn in metrics.FUNCTIONS.items():
        assert type(fn([0, 1, 1, 0], [0, 1, 0, 0])) is float
        assert metrics.METRICS[name] is True
    assert set(metrics.METRICS) == set(metrics.FUNCTIONS)


def test_compute_rejects_length_mismatch():
    assert metrics.compute(["accuracy", "f1"], [1, 0], [1, 0]) == {"accuracy": 1.0, "f1": 1.0}
    with pytest.raises(ValueError):
        metrics.compute(["accuracy"], [1, 0], [1])
