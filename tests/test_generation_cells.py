"""Contract of generation cells: a translation task runs end to end through the runner with a
model trained from scratch on a subword vocabulary learned from the cell's own text."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.errors import UsageError
from bench.spec import expand


def single_threaded(spec: dict) -> dict:
    """Tiny seq2seq steps are dominated by thread handoffs on a shared 2-core machine."""
    return dict(spec, measure=dict(spec["measure"], threads=1))


@pytest.fixture(scope="module")
def translate(fast_spec, tiny_glue_dir):
    """run(model, task, **budget) -> record of a full-ft cell, run once per arguments."""
    from bench.runner import run_cell

    done = {}

    def run(model: str = "marian-2x128", task: str = "mt-multi30k-en-de", max_steps: int = 3):
        if (model, task, max_steps) not in done:
            spec = single_threaded(fast_spec(tasks=[task], models=[model], methods=["full-ft(lr=1e-3)"],
                                             budget={"max_steps": max_steps, "batch_size": 8, "max_seq_len": 32}))
            (cell,) = expand(spec)
            done[(model, task, max_steps)] = run_cell(cell, data_dir=str(tiny_glue_dir))
        return done[(model, task, max_steps)]

    return run


@pytest.mark.parametrize("model", ["marian-2x128", "lstm-2x500"])
def test_translation_cell_record_schema(translate, model):
    record = translate(model)
    assert record["status"] == "success"
    assert set(record["metrics"]) == {"bleu", "chrf"}
    assert all(0.0 <= value <= 100.0 for value in record["metrics"].values())
    assert set(record["evaluated"]) == {"test"}
    assert (record["evaluated"]["test"]["examples"], record["evaluated"]["test"]["limited"]) == (5, False)
    assert record["evaluated"]["test"]["examples_per_s"] > 0
    assert record["task_meta"]["kind"] == "generation"
    decoding = record["evaluation"]["decoding"]
    assert decoding["search"] == "greedy" and decoding["beam"] == 1
    assert record["evaluation"]["metric_signatures"]["bleu"].startswith("nrefs:1|")
    generation = record["generation"]
    assert generation["ttft"]["p50"] > 0 and generation["preset"] == "quick"
    run = generation["runs"]["1"]
    assert run["decode_tokens_per_s_median"] > 0 and run["sentences_per_s_median"] > 0
    assert record["flops"]["step_flops"] > 0 and "convention" in record["flops"]
    assert record["latency"] == {}
    assert record["training"][0]["steps"] == 3 and record["training"][0]["final_loss"] > 0
    assert record["params"]["total"] == record["params"]["trainable"] > 0


def test_decoding_in_a_cell_is_deterministic(translate, fast_spec, tiny_glue_dir, monkeypatch, tmp_path):
    from bench.runner import run_cell

    first = translate("marian-2x128")
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "fresh"))  # train again, tokenizer included
    spec = single_threaded(fast_spec(tasks=["mt-multi30k-en-de"], models=["marian-2x128"],
                                     methods=["full-ft(lr=1e-3)"], budget={"max_steps": 3, "batch_size": 8,
                                                                           "max_seq_len": 32}))
    again = run_cell(expand(spec)[0], data_dir=str(tiny_glue_dir))
    assert again["metrics"] == first["metrics"]
    assert again["training"][0]["final_loss"] == first["training"][0]["final_loss"]


def test_a_model_that_learns_translates_the_training_pairs(translate):
    """Enough steps on five repeated pairs: the test set (the same pairs) is translated well."""
    untrained, record = translate("marian-2x128"), translate("marian-2x128", max_steps=60)
    assert record["metrics"]["bleu"] > untrained["metrics"]["bleu"] + 10, (untrained["metrics"], record["metrics"])


def test_the_other_direction_reads_the_same_files(translate):
    assert translate("marian-2x128", task="mt-multi30k-de-en")["evaluated"]["test"]["examples"] == 5


@pytest.mark.parametrize("task, model, expected", [
    ("mt-multi30k-en-de", "tinybert4", "generates text"),
    ("glue-sst2", "marian-2x128", "encoder-decoder for generation tasks"),
])
def test_a_model_that_does_not_fit_the_task_is_refused(task, model, expected, fast_spec):
    with pytest.raises(UsageError, match=expected):
        expand(fast_spec(tasks=[task], models=[model]))


def test_wmt14_offline_exits_2_naming_the_local_files(tmp_path, capsys, tiny_glue_dir, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tiny_glue_dir / "wmt14_en_de"
    folder.mkdir(exist_ok=True)
    for stem in ("newstest2013", "newstest2014"):
        for language in ("en", "de"):
            (folder / f"{stem}.{language}").write_text("x\n", encoding="utf-8")
    code = main(["run", "--task", "mt-wmt14-en-de", "--method", "full-ft", "--model", "marian-2x128",
                 "--data-dir", str(tiny_glue_dir), "--records", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "newstest2013.en, newstest2014.en" in err
    assert not (tmp_path / "r").exists()


def test_a_local_seq2seq_directory_translates(tmp_path, fast_spec, tiny_glue_dir):
    """A saved Marian model with its tokenizer (as an opus-mt download is) runs as the cell's model."""
    import transformers

    from bench.generation.subword import SubwordSettings, subword_tokenizer
    from bench.runner import run_cell
    from tests.conftest import PAIRS

    tokenizer = subword_tokenizer([text for pair in PAIRS for text in pair], SubwordSettings(vocab_size=60))
    config = transformers.MarianConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
                                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                                       decoder_ffn_dim=64, max_position_embeddings=64,
                                       pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                       decoder_start_token_id=tokenizer.pad_token_id)
    directory = tmp_path / "opus-mt-tiny"
    transformers.MarianMTModel(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    spec = single_threaded(fast_spec(tasks=["mt-multi30k-en-de"], models=[str(directory)], methods=["full-ft"]))
    record = run_cell(expand(spec)[0], data_dir=str(tiny_glue_dir))
    assert record["status"] == "success" and set(record["metrics"]) == {"bleu", "chrf"}
    assert record["generation"]["runs"]["1"]["decode_tokens_per_s_median"] > 0


@pytest.mark.parametrize("chain, refusal", [
    ("full-ft(lr=1e-3) -> int8-dynamic(compile=false)", None),
    ("full-ft(lr=1e-3) -> int8-dynamic", "compiled graph serves classifiers"),
    ("full-ft(lr=1e-3) -> onnx", "onnx exports classifiers"),
    ("full-ft(lr=1e-3) -> prune-heads", "BERT-style attention"),
])
def test_post_training_on_a_translation_model_works_or_says_why(chain, refusal, fast_spec, tiny_glue_dir):
    from bench.runner import run_cell

    # Enough steps for a BLEU above zero, against which the int8 model's retention is a ratio.
    spec = single_threaded(fast_spec(tasks=["mt-multi30k-en-de"], models=["marian-2x128"], methods=[chain],
                                     budget={"max_steps": 3 if refusal else 60, "batch_size": 8, "max_seq_len": 32}))
    (cell,) = expand(spec)
    if refusal:
        with pytest.raises(UsageError, match=refusal):
            run_cell(cell, data_dir=str(tiny_glue_dir))
        return
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["stages"]["int8_dynamic"]["quantized_modules"] > 0
    assert record["retention"]["reference_metrics"].keys() == {"bleu", "chrf"}
    assert record["generation"]["runs"]["1"]["decode_tokens_per_s_median"] > 0
