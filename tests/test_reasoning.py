"""Reasoning cells on a tiny random Llama: causal training data, the evaluator's two passes,
LoRA on a decoder, the CoT teacher's filter and cache, and what the records keep."""

from __future__ import annotations

import pytest

from bench.errors import UsageError
from bench.registry import TASKS
from bench.spec import expand
from bench.storage.record import Record
from tests.reasoning_files import PROBLEMS

FAST = {"latency": "off", "flops": False, "size": False, "threads": 1}


@pytest.fixture
def run(fast_spec, tiny_causal_lm_dir, tiny_gsm8k_dir):
    """run(chain) -> the Record of the chain on gsm8k with the tiny Llama."""
    from bench.runner import envelope, run_cell

    def make(chain: str, **budget) -> Record:
        spec = fast_spec(tasks=["gsm8k"], methods=[chain], models=[str(tiny_causal_lm_dir)], measure=FAST)
        spec["budget"] = dict(spec["budget"], max_seq_len=96, **budget)
        (cell,) = expand(spec)
        return Record({**envelope(cell, "test", {}), **run_cell(cell, data_dir=str(tiny_gsm8k_dir))})

    return make


def test_encode_causal(tiny_causal_lm_dir):
    from transformers import AutoTokenizer

    from bench.data import IGNORE_INDEX, encode_causal, truncated_targets

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_causal_lm_dir))
    prompt, target = "Question: Tom has 3 apples.\nAnswer:", " 3+4 = <<3+4=7>>7\n#### 7"
    (feature,) = encode_causal(tokenizer, [prompt], [target], max_len=200)
    prompt_ids = tokenizer(prompt)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    assert feature["input_ids"] == prompt_ids + target_ids + [tokenizer.eos_token_id]
    assert feature["labels"] == [IGNORE_INDEX] * len(prompt_ids) + target_ids + [tokenizer.eos_token_id]
    assert truncated_targets([feature], tokenizer) == 0
    short = encode_causal(tokenizer, [prompt], [target], max_len=len(prompt_ids) + 2)
    assert len(short[0]["input_ids"]) == len(prompt_ids) + 2 and truncated_targets(short, tokenizer) == 1


def test_stop_strings_and_annotations():
    from bench.generation.reasoning import cut_at_stop, opened_annotation

    assert cut_at_stop(" 3+4 = 7\n#### 7\n\nQuestion: next") == "3+4 = 7\n#### 7"
    assert cut_at_stop("#### 7 Question: x") == "#### 7"
    assert opened_annotation("3+4 = <<3+4=7>>7") and opened_annotation("<<3+4=")
    assert not opened_annotation("3+4 = 7 << no equals") and not opened_annotation("a = b")


def test_only_rows_that_open_an_annotation_are_decoded_again(monkeypatch, tiny_causal_lm_dir, tiny_gsm8k_dir):
    """Greedy decoding is deterministic: the calculator cannot change a row that never wrote `<<..=`."""
    import types

    from bench.generation import reasoning
    from bench.modeling.load import load_model, load_tokenizer, resolve

    task = TASKS.get("gsm8k").obj
    source = resolve(str(tiny_causal_lm_dir))
    model, tokenizer = load_model(source, task), load_tokenizer(source)
    calls = []

    def scripted(model, tokenizer, texts, settings, batch_size, device, hook_for=None):
        calls.append((list(texts), hook_for is not None))
        if hook_for is None:
            return ["#### 7" if "Tom" in t else "<<5*6=31>>31\n#### 31" for t in texts]
        return ["<<5*6=30>>30\n#### 30" for _ in texts]

    monkeypatch.setattr(reasoning, "generate", scripted)
    examples = task.load("test", str(tiny_gsm8k_dir))[:2]
    cell = types.SimpleNamespace(budget=types.SimpleNamespace(eval_batch_size=4), device="cpu")
    from bench.runtime.artifact import TorchArtifact

    generated = reasoning.REASONER.predict(task, TorchArtifact(model), tokenizer, examples, cell)
    assert [g.text for g in generated] == ["#### 7", "<<5*6=31>>31\n#### 31"]
    assert [g.with_calculator for g in generated] == ["#### 7", "<<5*6=30>>30\n#### 30"]
    assert len(calls) == 2 and calls[1] == ([task.prompt(examples[1])], True)  # one row decoded again
    scores = task.score(generated, [e.label for e in examples])
    assert scores["exact_match"] == 0.5 and scores["exact_match_calc"] == 1.0
    assert reasoning.REASONER.transcript(generated)["changed_by_calculator"] == 1


def test_a_trained_cell_keeps_every_output_and_both_scores(run):
    record = run("answer-only")
    outputs = record.data["outputs"]["test"]
    assert len(outputs["text"]) == len(outputs["with_calculator"]) == 4
    assert set(record.metrics) == {"exact_match", "exact_match_flexible", "exact_match_calc",
                                   "exact_match_flexible_calc"}
    task = TASKS.get("gsm8k").obj
    from tasks.gsm8k import Generated

    again = task.score([Generated(t, c) for t, c in zip(outputs["text"], outputs["with_calculator"], strict=True)],
                       [answer for _, answer in PROBLEMS[:4]])
    assert again == record.metrics  # the scores can be re-checked from the record alone
    section = record.stage("answer_only")
    assert section["examples"] == 2 * len(PROBLEMS) and section["mean_target_tokens"] < 10
    evaluation = record.section("evaluation")
    assert evaluation["decoding"]["stop_strings"] and "prompt" not in evaluation  # zero-shot


def test_few_shot_cot_trains_nothing_and_records_its_prompt(run):
    record = run("few-shot-cot(shots=2,seed=3)")
    assert record.training == [] and record.stage("few_shot_cot")["trained"] is False
    assert record.section("evaluation")["prompt"] == {"shots": 2, "seed": 3}


def test_lora_trains_only_its_updates_on_a_decoder(run):
    record = run("answer-only(peft=lora,r=2,targets=qv)")
    trained = record.last_training["trainable_parameters"]
    assert 0 < trained < record.params["base_total"] / 10
    plain = run("lora(r=2)")  # the PEFT method itself on a decoder: peft's causal-LM task type
    assert 0 < plain.last_training["trainable_parameters"] < plain.params["base_total"] / 10


def test_reasoning_methods_refuse_other_tasks(fast_spec, tiny_glue_dir):
    from bench.runner import run_cell

    for chain in ("few-shot-cot", "answer-only", "cot-distill"):
        (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=[chain], measure=FAST))
        with pytest.raises(UsageError, match=f"{chain} serves reasoning tasks"):
            run_cell(cell, data_dir=str(tiny_glue_dir))


def test_teacher_rationales_keep_only_right_answers_and_are_cached(monkeypatch, run, tiny_causal_lm_dir,
                                                                  tiny_gsm8k_dir):
    """teacher=MODEL: the teacher answers every training question; wrong answers are dropped, and
    a second cell reads the cached rationales without running the teacher."""
    from bench.generation import reasoning

    answers = {q: a for q, a in PROBLEMS}
    calls = []

    def teacher(model, tokenizer, texts, settings, batch_size, device, hook_for=None):
        calls.append(len(texts))
        outputs = []
        for text in texts:
            question = text.rsplit("Question: ", 1)[1].split("\nAnswer:")[0]
            right = answers[question]
            # The teacher gets the odd problems wrong (a different final answer).
            index = [q for q, _ in PROBLEMS].index(question)
            outputs.append(right if index % 2 == 0 else right.rsplit("#### ", 1)[0] + "#### 999")
        return outputs

    monkeypatch.setattr(reasoning, "generate", teacher)
    chain = f"cot-distill(teacher={tiny_causal_lm_dir},shots=1)"
    first = run(chain)
    section = first.stage("cot_distill")
    cost = section["kd_cost"]
    # The exemplar's question (twice in the tiny train split) is not asked: its answer is in the prompt.
    (shot,) = TASKS.get("gsm8k").obj.exemplars(1, 0, str(tiny_gsm8k_dir))
    right = [q for i, (q, _) in enumerate(PROBLEMS) if i % 2 == 0 and q != shot.text_a]
    assert calls[0] == 2 * len(PROBLEMS) - 2 and cost["exemplar_questions_not_asked"] == 2
    assert cost["questions"] == 2 * len(PROBLEMS) and cost["kept"] == 2 * len(right) and not cost["from_cache"]
    assert section["examples"] == 2 * len(right)  # the student trains on the kept rationales only
    calls.clear()
    second = run(chain.replace("shots=1", "shots=1,lr=0.0002"))
    assert second.stage("cot_distill")["kd_cost"]["from_cache"]
    assert calls == [4, 4]  # evaluation only: its own text, then the calculator's pass


def test_the_cot_table_holds_each_row_beside_the_published_figures(run):
    from bench.registry import TABLES

    records = [run("answer-only"), run("cot-distill"), run("few-shot-cot(shots=2)")]
    table = TABLES.get("cot-distill").obj(records)
    systems = [row["System"] for row in table.rows]
    assert systems == ["Baseline", "CoT-finetuned", "Few-shot CoT"]  # the tutorial's order
    baseline, cot, few_shot = table.rows
    assert baseline["Acc pub."] == "8.11" and cot["Acc (calc) pub."] == "38.21" and few_shot["Acc pub."] == "56.90"
    assert cot["MAWPS pub."] == "70.41 / 88.22" and baseline["ASDiv pub."] == "39.64"
    assert str(cot["Train examples"]) == str(2 * len(PROBLEMS)) and str(few_shot["Train examples"]) == "0"
    assert all(str(row["Test questions"]) == "4" and row["Seeds"] == "1" for row in table.rows)
    assert str(cot["Acc"]) == f"{100 * records[1].metrics['exact_match']:.1f} (n=1)"
    assert "teacher=references" in cot["Chain"] and "2-shot" in few_shot["Chain"]
    assert any(note.startswith("Finding (CoT fine-tuning beats") for note in table.notes)
    assert any("no teacher ran" in note for note in table.notes)


def test_an_encoder_decoder_student_reads_the_prompt_and_writes_the_target(fast_spec, tiny_causal_lm_dir,
                                                                          tiny_gsm8k_dir, tmp_path):
    """The paper's students are T5: prompt in, rationale out (a tiny BART stands in here)."""
    from bench.runner import envelope, run_cell
    from tests.reasoning_files import write_tiny_seq2seq_lm

    model = write_tiny_seq2seq_lm(tmp_path / "bart", tiny_causal_lm_dir)
    spec = fast_spec(tasks=["gsm8k"], methods=["cot-distill"], models=[str(model)], measure=FAST)
    (cell,) = expand(spec)
    record = Record({**envelope(cell, "test", {}), **run_cell(cell, data_dir=str(tiny_gsm8k_dir))})
    assert record.succeeded and record.last_training["steps"] == 2
    assert record.stage("cot_distill")["examples"] == 2 * len(PROBLEMS)
    assert len(record.data["outputs"]["test"]["text"]) == 4 and "exact_match_calc" in record.metrics


def test_a_misspelt_teacher_is_refused_when_the_matrix_is_planned():
    spec = {"tasks": ["gsm8k"], "models": ["smollm2-135m"]}
    with pytest.raises(UsageError, match="Did you mean 'smollm2-135m'"):
        expand(dict(spec, methods=["cot-distill(teacher=smolm2-135m)"]))
    with pytest.raises(UsageError, match="neither 'references' nor a model"):
        expand(dict(spec, methods=["cot-distill(teacher=referencs)"]))


def test_findings_are_judged_against_the_noise_of_the_questions_scored():
    from bench.tables.cot_distill import verdict

    assert verdict(21.99, 8.11, 1319) == "holds"  # the paper's gap on the full test set
    assert verdict(8.11, 21.99, 1319) == "does NOT hold"
    assert verdict(2.5, 2.0, 200).startswith("not shown (a difference of +0.5 points is within ±")
    assert verdict(3.0, 2.0, None) == "holds"  # no count known: the plain comparison
