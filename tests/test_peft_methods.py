"""PEFT training methods: exactly the intended parameters train, the rest stay bit-identical."""

import pytest
import torch

from bench.modeling.parts import is_task_head
from bench.registry import METHODS
from bench.typed import build


def run_stage(name, model, ctx, **options):
    entry = METHODS.get(name)
    return entry.obj(model, build(entry.meta.options, options, where=name), ctx)


def changes(before: dict, model) -> tuple[set, set]:
    """(names whose values changed, names that stayed) over the original parameters."""
    after = dict(model.named_parameters())
    changed = {n for n, p in before.items() if not torch.equal(p, after[n].detach())}
    return changed, set(before) - changed


def snapshot(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_bitfit_trains_biases_and_head_only(stage_inputs):
    model, ctx = stage_inputs("glue-sst2", "bitfit")
    before = snapshot(model)
    trained = run_stage("bitfit", model, ctx, lr=1e-2)
    changed, _ = changes(before, trained)
    assert changed and all(n.endswith(".bias") or is_task_head(n) for n in changed)
    assert any(n.endswith(".bias") and not is_task_head(n) for n in changed)
    trainable = {n for n, p in trained.named_parameters() if p.requires_grad}
    assert trainable == {n for n in before if n.endswith(".bias") or is_task_head(n)}


@pytest.mark.parametrize("k", [1, 2])
def test_top_k_trains_the_top_layers_pooler_and_head(stage_inputs, k):
    model, ctx = stage_inputs("glue-sst2", "top-k")
    before = snapshot(model)
    trained = run_stage("top-k", model, ctx, k=k, lr=1e-2)
    changed, _ = changes(before, trained)
    top = {f"encoder.layer.{i}." for i in range(2 - k, 2)}
    allowed = lambda n: any(t in n for t in top) or ".pooler." in n or is_task_head(n)  # noqa: E731
    assert changed and all(allowed(n) for n in changed)
    assert any("encoder.layer.1." in n for n in changed)
    assert {n for n, p in trained.named_parameters() if p.requires_grad} == {n for n in before if allowed(n)}


def test_top_k_beyond_the_model_names_its_depth(stage_inputs):
    from bench.errors import UsageError

    model, ctx = stage_inputs("glue-sst2", "top-k")
    with pytest.raises(UsageError, match="between 1 and the model's 2 layers"):
        run_stage("top-k", model, ctx, k=3)


def test_ia3_trains_scaling_vectors_on_keys_values_and_ffn(stage_inputs):
    model, ctx = stage_inputs("glue-sst2", "ia3")
    before = snapshot(model)
    trained = run_stage("ia3", model, ctx, lr=5e-2)
    vectors = {n: p for n, p in trained.named_parameters() if "ia3_" in n}
    # 2 layers x (key 32 + value 32 + FFN down-projection input 37)
    assert sum(p.numel() for p in vectors.values()) == 2 * (32 + 32 + 37)
    assert all(p.requires_grad for p in vectors.values())
    assert any(not torch.all(p == 1) for p in vectors.values())  # they moved from their init
    trainable = {n for n, p in trained.named_parameters() if p.requires_grad}
    assert all("ia3_" in n or "classifier" in n for n in trainable)
    for name, param in trained.get_base_model().named_parameters():
        if "ia3_" in name or "classifier" in name:
            continue
        assert torch.equal(param.detach(), before[name.replace(".base_layer", "")]), name


@pytest.mark.parametrize("config, places", [("houlsby", 2), ("pfeiffer", 1)])
def test_adapter_trains_bottlenecks_and_head_only(stage_inputs, config, places):
    model, ctx = stage_inputs("glue-sst2", "adapter")
    before = snapshot(model)
    trained = run_stage("adapter", model, ctx, size=4, config=config, lr=1e-2)
    adapter_params = {n: p for n, p in trained.named_parameters() if ".adapters.task." in n}
    # layers x places x (down 32*4+4, up 4*32+32)
    assert sum(p.numel() for p in adapter_params.values()) == 2 * places * (32 * 4 + 4 + 4 * 32 + 32)
    assert any(not torch.equal(p, torch.zeros_like(p)) for n, p in adapter_params.items() if ".up." in n)
    for name, param in trained.named_parameters():
        original = name.replace(".linear.", ".")
        if name in adapter_params or is_task_head(name):
            continue
        assert not param.requires_grad and torch.equal(param.detach(), before[original]), name


def test_new_adapter_is_the_identity(stage_inputs):
    from bench.peft_helpers.bottleneck import add_adapter, set_active

    model, _ = stage_inputs("glue-sst2")
    ids = torch.randint(5, 60, (2, 10))
    with torch.no_grad():
        plain = model.eval()(input_ids=ids).logits
        add_adapter(model, "task", 3)
        set_active(model, ["task"])
        adapted = model(input_ids=ids).logits
    assert torch.allclose(plain, adapted, atol=1e-6)


def test_unknown_adapter_config_names_the_valid_ones(stage_inputs):
    from bench.errors import UsageError

    model, ctx = stage_inputs("glue-sst2", "adapter")
    with pytest.raises(UsageError, match="houlsby"):
        run_stage("adapter", model, ctx, config="houlsbi")


@pytest.mark.parametrize("method", ["bitfit", "adapter(size=4)", "ia3", "lora(r=2)", "top-k(k=1)"])
def test_peft_cell_records_head_free_trainable_count_and_delta(fast_spec, tiny_glue_dir, method):
    from bench.runner import run_cell
    from bench.spec import expand

    (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=[method]))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    params, size = record["params"], record["size"]
    assert record["status"] == "success"
    assert params["trainable_head"] == 32 * 2 + 2  # the SST-2 classifier
    assert 0 < params["trainable"] - params["trainable_head"] < params["total"] / 2
    assert 0 < size["delta_bytes"] < size["model_bytes"] / 2
    assert record["training"][0]["s_per_step"] > 0 and record["memory"]["train_peak_rss_bytes"] > 0


def test_arch_only_cell_counts_trainable_parameters_without_training(fast_spec):
    from bench.runner import run_cell
    from bench.spec import expand

    (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=["bitfit"], arch_only=True))
    record = run_cell(cell)
    biases = record["params"]["trainable"] - record["params"]["trainable_head"]
    # per layer: q,k,v,o (4x32), two LayerNorms (2x32), FFN in 37 and out 32; plus the
    # embedding LayerNorm and the pooler (32 each)
    assert biases == 2 * (4 * 32 + 2 * 32 + 37 + 32) + 32 + 32
    assert record["training"] == [{"trainable_parameters": record["params"]["trainable"], "steps": 0,
                                   "arch_only": True, "from_cache": False}]
    assert record["metrics"] == {}


def test_adapter_swap_times_switching_and_restores_outputs(fast_spec, tiny_glue_dir):
    from bench.runner import run_cell
    from bench.spec import expand

    (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=["adapter(size=4) -> adapter-swap(tasks=3)"]))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    swap = record["stages"]["adapter_swap"]
    assert swap["restored_exactly"] is True and swap["tasks"] == 3
    assert swap["delta_parameters"] == 2 * 2 * (32 * 4 + 4 + 4 * 32 + 32) + 32 * 2 + 2
    assert swap["bytes_per_task"] >= 4 * swap["delta_parameters"]  # fp32 tensors plus a header
    assert swap["load_ms_p50"] > 0 and swap["switch_ms_p50"] > 0
    assert record["retention"]["retention"] == pytest.approx(1.0)


def test_adapter_swap_without_training_is_a_clear_error(stage_inputs):
    from bench.errors import UsageError

    model, ctx = stage_inputs("glue-sst2")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with pytest.raises(UsageError, match="follows a training stage"):
        run_stage("adapter-swap", model, ctx)
