"""LoRA and merge-lora: exactly the low-rank weights and the head train; merging changes no output."""

import pytest
import torch

from bench.registry import METHODS
from bench.typed import build


def run_stage(name, model, ctx, **options):
    entry = METHODS.get(name)
    return entry.obj(model, build(entry.meta.options, options, where=name), ctx)


@pytest.mark.parametrize("targets, adapted", [("q", {"query"}), ("qv", {"query", "value"}),
                                              ("qkvo", {"query", "key", "value", "dense"})])
def test_lora_trains_only_low_rank_weights_and_head(stage_inputs, targets, adapted):
    model, ctx = stage_inputs("glue-sst2", "lora")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    peft_model = run_stage("lora", model, ctx, targets=targets, r=2, lr=1e-2)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    assert {n.split(".lora_")[0].split(".")[-1] for n in trainable if "lora_" in n} == adapted
    # 2 layers x len(adapted) matrices x (A: r x 32 + B: 32 x r)
    lora_params = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    assert lora_params == 2 * len(adapted) * (2 * 32 + 32 * 2)
    base = peft_model.get_base_model()
    for name, param in base.named_parameters():
        if "lora_" in name or "classifier" in name or "modules_to_save" in name:
            continue
        original = name.replace(".base_layer", "")
        assert torch.equal(param.detach(), before[original]), name


def test_merged_lora_matches_unmerged_and_leaves_input_unmerged(stage_inputs):
    model, ctx = stage_inputs("glue-sst2", "lora")
    peft_model = run_stage("lora", model, ctx, r=2, lr=5e-2).eval()
    # Training starts B at zero; make the update non-trivial so merging has something to fold.
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    merged = run_stage("merge-lora", peft_model, ctx).eval()
    ids = torch.randint(5, 60, (3, 12))
    with torch.no_grad():
        unmerged_logits = peft_model(input_ids=ids).logits
        merged_logits = merged(input_ids=ids).logits
    assert torch.allclose(unmerged_logits, merged_logits, atol=1e-4)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert any("lora_" in n for n, _ in peft_model.named_parameters())  # input untouched


def test_merge_without_lora_is_a_clear_error(stage_inputs):
    from bench.errors import UsageError

    model, ctx = stage_inputs("glue-sst2")
    with pytest.raises(UsageError, match="follows a lora stage"):
        run_stage("merge-lora", model, ctx)


def test_unknown_target_names_the_valid_ones(stage_inputs):
    from bench.errors import UsageError

    model, ctx = stage_inputs("glue-sst2", "lora")
    with pytest.raises(UsageError, match="unknown targets"):
        run_stage("lora", model, ctx, targets="q+z")


def test_lora_merge_chain_runs_as_one_cell(fast_spec, tiny_glue_dir):
    from bench.runner import run_cell
    from bench.spec import expand

    (unmerged,) = expand(fast_spec(methods=["lora(r=2)"]))
    delta = run_cell(unmerged, data_dir=str(tiny_glue_dir))["size"]
    assert 0 < delta["delta_bytes"] < delta["model_bytes"] / 2  # the adapter file alone

    (cell,) = expand(fast_spec(methods=["lora(r=2) -> merge-lora"]))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["status"] == "success"
    assert record["retention"]["retention"] == pytest.approx(1.0)
    assert record["stages"]["merge_lora"]["max_abs_logit_diff"] <= 1e-4
    assert record["flops"]["flops_source"] == "final"
    assert record["training"][0]["trainable_parameters"] < record["params"]["total"] / 2
