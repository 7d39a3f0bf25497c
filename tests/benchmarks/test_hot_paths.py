"""pytest-benchmark of the harness's own hot paths, so the harness itself does not get slower
unnoticed: encoding and collating 10k examples, FLOP counting, loading 1,000 records into the
store frame, rendering every committed table.

In the test suite these run once each, as plain tests (`--benchmark-disable` in pyproject's
addopts). Timed, and compared with a saved run (README: "Benchmarks of the harness itself"):
    pytest tests/benchmarks --benchmark-enable --benchmark-only --benchmark-json NEW.json
    bench compare-benchmarks BASE.json NEW.json
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.task import Example
from tests.conftest import sentence
from tests.test_compare_tables import make_record

pytest.importorskip("torch")
pytestmark = pytest.mark.benchmark(min_rounds=10)  # enough rounds for a bootstrap interval of the median
EXAMPLES = 10_000
RECORDS = 1_000


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from bench.modeling.load import load_tokenizer, resolve

    return load_tokenizer(resolve(str(tiny_model_dir)))


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    rng = random.Random(0)
    return [Example(sentence(rng), sentence(rng), rng.randint(0, 1)) for _ in range(EXAMPLES)]


def test_encode_and_collate_10k_examples(benchmark, tokenizer, examples):
    from bench.data import collate, encode, sorted_batches

    def encode_and_collate():
        features = encode(tokenizer, examples, 128)
        batches = sorted_batches([len(f["input_ids"]) for f in features], 32)
        return [collate(tokenizer, [features[i] for i in batch]) for batch in batches]

    batches = benchmark(encode_and_collate)
    assert sum(len(b["input_ids"]) for b in batches) == EXAMPLES


def test_flop_counting(benchmark, tiny_model_dir):
    from bench.measure.flops import count_flops, reference_inputs
    from bench.modeling.load import load_model, resolve
    from bench.registry import TASKS

    model = load_model(resolve(str(tiny_model_dir)), TASKS.get("glue-sst2").obj).eval()
    inputs = reference_inputs(model.config.vocab_size, 1, 128)
    result = benchmark(count_flops, model, inputs)
    assert result.flops > 0


def test_load_1000_records_into_the_store_frame(benchmark, tmp_path):
    from bench.storage.store import records_frame

    for i in range(RECORDS):
        record = make_record(seed=i, p50=10.0 + i % 7)
        record["key"] = f"{i:064x}"
        (tmp_path / f"r{i:04d}.json").write_text(json.dumps(record))
    frame = benchmark(records_frame, tmp_path)
    assert len(frame) == RECORDS


def test_render_every_committed_table(benchmark):
    from bench.cli.regenerate import plan, render_all

    root = Path(__file__).resolve().parents[2] / "results"
    jobs, _ = plan(root)

    def render_every_table():
        return [text for _, _, text in render_all(jobs)]

    texts = benchmark(render_every_table)
    assert len(texts) == len(jobs) >= 10 and all(texts)
