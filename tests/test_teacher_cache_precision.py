"""The teacher-output cache (bench/distill/targets.py) stores hidden states and attention maps in
fp16: half the bytes of fp32, and every KD loss computed from it stays within a stated tolerance of
the same loss computed from the teacher's fp32 outputs (issue 16).

The tolerance is checked for two students: a random one, far from the teacher (the start of
training), and one within a few percent of the teacher (late in training), where rounding the
targets matters most. bf16 targets miss the tolerance for the second one; fp16 meets it with a
wide margin.
"""

import random

import pytest
import torch

from bench.distill.attention import eager_attention
from bench.distill.losses import attention_mse, hidden_mse, soft_kl
from bench.distill.targets import OUTPUT_FILE, targets_dir, teacher_outputs
from tests.conftest import sentence

LAYERS = 2
NAMES = ["logits", *(f"hidden-{i}" for i in range(LAYERS + 1)), *(f"attention-{i}" for i in range(1, LAYERS + 1))]
TOLERANCE = 1e-3  # relative; measured: fp16 targets <= 1.2e-4, bf16 up to 1.7e-3 (near student)
TEMPERATURE = 2.0
NEAR = 0.05  # the near student: the teacher's outputs plus noise of 5% of their spread


def tiny_bert(tokenizer, seed: int):
    import transformers

    config = transformers.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=LAYERS,
                                     num_attention_heads=4, intermediate_size=64, num_labels=3, pad_token_id=0,
                                     initializer_range=0.2)  # wider than BERT's 0.02: peaked attention, spread logits
    torch.manual_seed(seed)
    return transformers.BertForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def setup(tiny_model_dir):
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rng = random.Random(16)
    texts = [" ".join(sentence(rng) for _ in range(rng.randint(1, 6))) for _ in range(16)]  # 5 to 60 tokens
    features = [dict(tokenizer(text, truncation=True, max_length=64)) for text in texts]
    teacher = tiny_bert(tokenizer, seed=0)
    teacher_outputs(teacher, "precision-test", NAMES, features, tokenizer, "cpu")  # computes and stores
    cached, cost = teacher_outputs(teacher, "precision-test", NAMES, features, tokenizer, "cpu")  # read back
    assert cost["from_cache"]
    batch = tokenizer.pad(features, return_tensors="pt")
    with eager_attention(teacher), torch.inference_mode():
        out = teacher(**batch, output_hidden_states=True, output_attentions=True)
    fp32 = {"logits": out.logits, **{f"hidden-{i}": h for i, h in enumerate(out.hidden_states)},
            **{f"attention-{i + 1}": a for i, a in enumerate(out.attentions)}}
    length = batch["input_ids"].shape[1]
    targets = cached.batch(NAMES, torch.arange(len(features)), length, "cpu")
    return {"tokenizer": tokenizer, "features": features, "batch": batch, "fp32": fp32, "targets": targets,
            "cached": cached, "cost": cost}


def losses(student: dict, targets: dict, mask) -> dict:
    values = {"logits": soft_kl(student["logits"], targets["logits"], TEMPERATURE)}
    for name in NAMES[1:]:
        loss = hidden_mse if name.startswith("hidden") else attention_mse
        values[name] = loss(student[name], targets[name], mask)
    return values


def random_student(setup) -> dict:
    student = tiny_bert(setup["tokenizer"], seed=1)
    with eager_attention(student), torch.inference_mode():
        out = student(**setup["batch"], output_hidden_states=True, output_attentions=True)
    return {"logits": out.logits, **{f"hidden-{i}": h for i, h in enumerate(out.hidden_states)},
            **{f"attention-{i + 1}": a for i, a in enumerate(out.attentions)}}


def near_student(setup) -> dict:
    generator = torch.Generator().manual_seed(2)
    return {name: t + NEAR * t.std() * torch.randn(t.shape, generator=generator) for name, t in setup["fp32"].items()}


@pytest.mark.parametrize("make_student", [random_student, near_student], ids=["random", "near"])
def test_losses_from_the_cache_match_the_fp32_outputs(setup, make_student):
    student = make_student(setup)
    mask = setup["batch"]["attention_mask"]
    reference = losses(student, setup["fp32"], mask)
    cached = losses(student, setup["targets"], mask)
    for name in NAMES:
        assert reference[name].item() > 0, name  # a zero loss would make the comparison empty
        assert cached[name].item() == pytest.approx(reference[name].item(), rel=TOLERANCE), name


def test_cache_is_half_the_bytes_of_fp32(setup, tmp_path):
    from safetensors.torch import save_file

    tensors = setup["cached"].tensors
    for name in NAMES[1:]:
        assert tensors[name]["values"].dtype == torch.float16, name
    # The same entries written in fp32, in the same layout (unpadded rows and their offsets).
    fp32_bytes = 0
    for name in NAMES:
        path = tmp_path / f"{name}.safetensors"
        save_file({k: v.float() if v.is_floating_point() else v for k, v in tensors[name].items()}, str(path))
        fp32_bytes += path.stat().st_size
    stored = sum((targets_dir("precision-test", setup["features"]) / name / OUTPUT_FILE).stat().st_size
                 for name in NAMES)
    assert setup["cost"]["cache_bytes"] == stored
    # Half, up to each file's header and row offsets, which fp32 files carry too: about 1% of these
    # tiny files, under 0.1% of the 1,000 x 64-token cache of the small KD run.
    assert stored <= 0.51 * fp32_bytes
