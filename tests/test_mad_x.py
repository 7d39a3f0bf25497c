"""MAD-X and its parts: masked-LM masking, cross-lingual tasks, language-adapter stacking."""

import shutil

import pytest
import torch

from bench.registry import METHODS, TASKS
from bench.typed import build


@pytest.fixture(scope="module")
def xling_dir(tiny_glue_dir, tmp_path_factory):
    """Tiny GLUE plus a 'Portuguese' SST-2 (the English rows reversed word by word)."""
    root = tmp_path_factory.mktemp("xling")
    shutil.copytree(tiny_glue_dir / "glue", root / "glue")
    (root / "plue" / "SST-2").mkdir(parents=True)
    for split in ("train", "dev"):
        lines = (root / "glue" / "SST-2" / f"{split}.tsv").read_text().splitlines()
        flipped = [lines[0]] + ["\t".join([" ".join(text.split()[::-1]), label])
                                for text, label in (line.split("\t") for line in lines[1:])]
        (root / "plue" / "SST-2" / f"{split}.tsv").write_text("\n".join(flipped) + "\n")
    return root


def test_mask_tokens_masks_only_ordinary_tokens_at_bert_rates():
    from bench.peft_helpers.mlm import IGNORE, mask_tokens

    ids = torch.randint(10, 1000, (200, 100))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    masked, labels = mask_tokens(ids, special, mask_id=4, vocab_size=1000, generator=torch.Generator().manual_seed(0))
    chosen = labels != IGNORE
    assert not chosen[special].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])  # unchosen tokens are untouched
    assert chosen.float().mean().item() == pytest.approx(0.15 * 98 / 100, abs=0.01)
    as_mask = (masked[chosen] == 4).float().mean().item()
    kept = (masked[chosen] == ids[chosen]).float().mean().item()
    assert as_mask == pytest.approx(0.8, abs=0.03) and kept == pytest.approx(0.1, abs=0.03)


def test_masking_never_returns_an_empty_target():
    from bench.peft_helpers.mlm import IGNORE, mask_tokens

    ids = torch.tensor([[2, 7, 3]])
    special = torch.tensor([[True, False, True]])
    _, labels = mask_tokens(ids, special, 4, 50, torch.Generator().manual_seed(0), probability=0.0)
    assert labels.tolist() == [[IGNORE, 7, IGNORE]]


def test_cross_lingual_task_trains_on_source_and_scores_target(xling_dir):
    task = TASKS.get("xling-sst2-en-pt").obj
    english = TASKS.get("glue-sst2").obj.load("train", str(xling_dir))
    assert task.load("train", str(xling_dir)) == english
    dev = task.load("dev", str(xling_dir))
    assert dev == TASKS.get("plue-sst2").obj.load("dev", str(xling_dir))
    assert dev[0].text_a.split()[::-1] == TASKS.get("glue-sst2").obj.load("dev", str(xling_dir))[0].text_a.split()
    assert task.unlabelled_text("pt", str(xling_dir))[0] == " ".join(english[0].text_a.split()[::-1])
    from bench.errors import UsageError

    with pytest.raises(UsageError, match="Did you mean 'pt'"):
        task.unlabelled_text("px", str(xling_dir))


def test_plue_file_errors_name_the_plue_layout(tmp_path):
    from bench.errors import UsageError

    with pytest.raises(UsageError, match="DIR/plue/MRPC/train.tsv"):
        TASKS.get("plue-mrpc").obj.load("train", str(tmp_path))


def test_mad_x_trains_language_and_task_adapters_and_swaps(stage_inputs, xling_dir, fast_spec):
    import dataclasses

    from bench.peft_helpers.bottleneck import adapted_layers

    model, ctx = stage_inputs("glue-sst2", "mad-x")
    ctx = dataclasses.replace(ctx, task=TASKS.get("xling-sst2-en-pt").obj, data_dir=str(xling_dir))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    entry = METHODS.get("mad-x")
    options = build(entry.meta.options, {"mlm_steps": 3, "lr": 1e-2, "mlm_lr": 1e-2}, where="mad-x")
    adapted = entry.obj(model, options, ctx)
    languages = ctx.records["mad_x"]["language_adapters"]
    assert set(languages) == {"en", "pt"} and all(s["steps"] == 3 and not s["from_cache"] for s in languages.values())
    assert all(layer.active == ["lang_pt", "task"] for layer in adapted_layers(adapted))
    params = dict(adapted.named_parameters())
    for name in ("lang_en", "lang_pt", "task"):  # every adapter learned something (up starts at zero)
        ups = [p for n, p in params.items() if f".adapters.{name}.up.weight" in n]
        assert ups and any(p.abs().sum() > 0 for p in ups), name
    wrapped = lambda n: n.replace(".dense.", ".dense.linear.")  # noqa: E731 (adapters wrap Linear layers)
    for name, value in before.items():  # the pretrained model itself never changed
        if "classifier" not in name:
            assert torch.equal(params[wrapped(name) if wrapped(name) in params else name].detach(), value), name
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert all(".adapters.task." in n or "classifier" in n for n in trainable)


def test_mad_x_cells_share_language_adapters(fast_spec, xling_dir):
    from bench.runner import run_cell
    from bench.spec import expand

    records = []
    for method in ("mad-x(mlm_steps=2)", "mad-x(mlm_steps=2,swap=false)"):
        (cell,) = expand(fast_spec(tasks=["xling-sst2-en-pt"], methods=[method]))
        records.append(run_cell(cell, data_dir=str(xling_dir)))
    first, second = (r["stages"]["mad_x"] for r in records)
    assert all(r["status"] == "success" and "accuracy" in r["metrics"] for r in records)
    assert not any(s["from_cache"] for s in first["language_adapters"].values())
    assert all(s["from_cache"] for s in second["language_adapters"].values())
    assert (first["evaluated_with_language_adapter"], second["evaluated_with_language_adapter"]) == ("pt", "en")


def test_mad_x_on_a_monolingual_task_names_the_cross_lingual_ones(stage_inputs):
    from bench.errors import UsageError

    model, ctx = stage_inputs("glue-sst2", "mad-x")
    with pytest.raises(UsageError, match="xling-sst2-en-pt"):
        METHODS.get("mad-x").obj(model, build(METHODS.get("mad-x").meta.options, {}, where="mad-x"), ctx)
