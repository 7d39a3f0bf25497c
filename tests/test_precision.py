"""Precision as an axis: fp32 cells keep their keys, bf16 cells train and infer under autocast
where the hardware has native bf16, and are refused with a clear error where it does not."""

from __future__ import annotations

import pytest

from bench.errors import UsageError
from bench.spec import expand
from tests.hardware import cpu_lacks_kernels_for, refused_where_not_native

torch = pytest.importorskip("torch")


def test_fp32_cells_keep_the_keys_they_had_before_the_axis(fast_spec):
    (cell,) = expand(fast_spec())
    assert cell.precision == "fp32" and "precision" not in cell._hashed()
    assert cell.chain_label == "full-ft"


def test_each_precision_is_a_cell_of_its_own(fast_spec):
    with refused_where_not_native("bf16") as native:
        cells = expand(fast_spec(precisions=["fp32", "bf16"]))
    if native:
        fp32, bf16 = cells
        assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
        assert fp32.key({}) != bf16.key({}) and bf16._hashed()["precision"] == "bf16"
        assert bf16.chain_label == "full-ft [bf16]"  # every table row says so


def test_a_misspelt_precision_names_the_closest(fast_spec):
    with pytest.raises(UsageError, match="precisions.*one of 'fp32', 'bf16'.*Did you mean 'bf16'"):
        expand(fast_spec(precisions=["bf61"]))


@pytest.mark.skipif(cpu_lacks_kernels_for("bf16"), reason="this CPU has no native bf16 kernels (oneDNN says so)")
def test_post_training_stages_keep_their_own_numerics(fast_spec):
    with pytest.raises(UsageError, match="'int8-dynamic' is a post-training stage"):
        expand(fast_spec(methods=["full-ft -> int8-dynamic"], precisions=["bf16"]))


@pytest.mark.skipif(cpu_lacks_kernels_for("bf16"), reason="this CPU has no native bf16 kernels (oneDNN says so)")
def test_bf16_training_computes_in_bf16_and_keeps_fp32_weights(tiny_model_dir, tiny_glue_dir):
    from bench.cell import Budget
    from bench.data import encode
    from bench.method import TrainOptions
    from bench.modeling.load import load_model, load_tokenizer, resolve
    from bench.registry import TASKS
    from bench.train import train

    task = TASKS.get("glue-sst2").obj
    tokenizer = load_tokenizer(resolve(str(tiny_model_dir)))
    features = encode(tokenizer, task.load("train", str(tiny_glue_dir)), 32)
    model = load_model(resolve(str(tiny_model_dir)), task)
    output_dtypes = set()
    query = model.bert.encoder.layer[0].attention.self.query
    query.register_forward_hook(lambda module, inputs, output: output_dtypes.add(output.dtype))
    before = query.weight.detach().clone()
    stats = train(model, tokenizer, features, budget=Budget(max_steps=2, batch_size=4), options=TrainOptions(lr=1e-3),
                  seed=0, device="cpu", precision="bf16")
    assert output_dtypes == {torch.bfloat16}  # the matmuls ran in bf16
    assert query.weight.dtype == torch.float32 and not torch.equal(before, query.weight)  # fp32 master weights
    assert stats.final_loss == stats.final_loss  # a number, not NaN


def test_bf16_cell_records_its_precision_end_to_end(fast_spec, tiny_glue_dir):
    from bench.runner import envelope, run_cell

    with refused_where_not_native("bf16") as native:
        (cell,) = expand(fast_spec(precisions=["bf16"]))
    if not native:
        return
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["status"] == "success", record.get("error")
    assert envelope(cell, "key", {})["precision"] == "bf16"
    assert record["metrics"]["accuracy"] == record["metrics"]["accuracy"]


def test_bf16_on_a_cpu_without_native_kernels_is_refused(fast_spec, monkeypatch):
    # Whatever this machine has, a CPU whose oneDNN reports no bf16 kernels must refuse the cell.
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    with pytest.raises(UsageError, match="bf16 has no native CPU matmul kernels"):
        expand(fast_spec(precisions=["bf16"]))
