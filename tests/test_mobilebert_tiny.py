"""MobileBERT-tiny, the TinyBERT table's last published row without a config until issue 13:
its alias builds without weights, meets the MobileBERT paper's size and FLOPs, and fills its row."""

from __future__ import annotations

import pytest

from bench.modeling.load import load_model, resolve
from bench.registry import TABLES

PUBLISHED_PARAMS = 15.1e6  # Sun et al. 2020, Table 1 (and the TinyBERT table)
PUBLISHED_FLOPS = 3.1e9
# The authors' config counts 15.49M (+2.6%): the paper does not say what its 15.1M counts (see
# _mobilebert_tiny in bench/modeling/zoo/architectures.py). 3% still rejects every neighbouring
# config (12.3M to 18.2M), so a drift to another architecture fails here.
PARAMS_TOLERANCE = 0.03
FLOPS_TOLERANCE = 0.02  # FLOPs agree within 1%: the blocks' matmuls are the paper's


def mobilebert_tiny_on_meta():
    """The alias with its 3-way MNLI head, built on the meta device: shapes only, no weights."""
    import torch

    with torch.device("meta"):
        return load_model(resolve("mobilebert-tiny"), task_kind="classification")


def test_alias_builds_on_meta_with_the_published_size():
    model = mobilebert_tiny_on_meta()
    assert model.config.model_type == "mobilebert"
    assert all(p.is_meta for p in model.parameters())  # nothing allocated
    total = sum(p.numel() for p in model.parameters())
    assert total == pytest.approx(PUBLISHED_PARAMS, rel=PARAMS_TOLERANCE)


@pytest.fixture
def one_thread():
    """One torch thread for a forward pass: on a busy 2-core machine two threads spin against the other load."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_alias_counts_the_published_flops_at_the_table_shape(one_thread):
    import torch

    from bench.measure.flops import count_flops, reference_inputs

    torch.manual_seed(0)  # FlopCounterMode needs real tensors (the meta device cannot run the mask code)
    model = load_model(resolve("mobilebert-tiny"), task_kind="classification").eval()
    flops = count_flops(model, reference_inputs(model.config.vocab_size, batch_size=1, seq_len=128))
    assert flops.flops == pytest.approx(PUBLISHED_FLOPS, rel=FLOPS_TOLERANCE)


def arch_record(model: str, params: int, flops: int, p50_ms: float | None) -> dict:
    """The fields of an architecture-only record the TinyBERT table reads."""
    latency = {"b1_s128": {"p50": p50_ms}} if p50_ms else {}
    return {
        "status": "success",
        "device": "cpu",
        "config": {"task": "glue-mnli", "model": model, "seed": 0, "arch_only": True},
        "params": {"total": params},
        "flops": {"flops": flops, "tool": "counter", "convention": "matmuls", "batch_size": 1, "seq_len": 128},
        "latency": latency,
        "provenance": {"date": "2026-01-01T00:00:00+00:00", "cpu": {"model": "Test CPU", "usable_cores": 2},
                       "threads": {"torch_num_threads": 1}},
    }


def table_rows(records: list[dict]) -> dict:
    table = TABLES.get("tinybert").obj(records, arch_only=True)
    return {row["System"]: row for row in table.rows}


def test_table_fills_the_mobilebert_row_from_its_record():
    params = sum(p.numel() for p in mobilebert_tiny_on_meta().parameters())
    teacher = arch_record("bert-base", 109_482_243, 22_348_435_968, p50_ms=100.0)
    mobile = arch_record("mobilebert-tiny", params, 3_070_233_600, p50_ms=None)  # timed: none
    row = table_rows([teacher, mobile])["MobileBERT-tiny"]
    assert row["Config"] == "mobilebert-tiny"
    assert row["#Params"] == f"{params / 1e6:.2f}M" and row["#Params pub."] == "15.1M"
    assert float(row["#Params ratio"]) == pytest.approx(params / PUBLISHED_PARAMS, abs=1e-3)
    assert row["#FLOPs"] == "3.07B" and row["#FLOPs ratio"] == "0.990"
    assert row["Speedup cpu b1"] == "-"  # no latency in its record: no speedup made up


def test_row_without_a_record_names_the_alias_to_run():
    teacher = arch_record("bert-base", 109_482_243, 22_348_435_968, p50_ms=100.0)
    row = table_rows([teacher])["MobileBERT-tiny"]
    assert row["Config"] == "not reproduced (no mobilebert-tiny record)" and row["#Params"] == "-"
