"""The GSM8K task: its files, prompts, targets and exact-match scores (strict, flexible, calculator)."""

from __future__ import annotations

import json

import pytest

from bench.errors import UsageError
from bench.registry import TASKS
from tasks.gsm8k import Generated
from tests.reasoning_files import PROBLEMS


@pytest.fixture
def task():
    return TASKS.get("gsm8k").obj


def test_splits_load_questions_and_reference_rationales(task, tiny_gsm8k_dir):
    train = task.load("train", str(tiny_gsm8k_dir))
    test = task.load("test", str(tiny_gsm8k_dir))
    assert len(train) == 2 * len(PROBLEMS) and len(test) == 4
    assert (test[0].text_a, test[0].label) == PROBLEMS[0]
    assert task.eval_splits == {"": "test"} and task.train_split == "train"


def test_bad_files_are_refused_naming_the_line(task, tmp_path):
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"question": "q", "answer": "#### 1"}) + "\n{not json\n")
    with pytest.raises(UsageError, match=r"train.jsonl:2 is not JSON"):
        task.load("train", str(tmp_path))
    (folder / "train.jsonl").write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(UsageError, match="needs 'question' and 'answer'"):
        task.load("train", str(tmp_path))
    with pytest.raises(UsageError, match="test.jsonl not found; files there: train.jsonl"):
        task.load("test", str(tmp_path))
    with pytest.raises(UsageError, match="Did you mean 'test'"):
        task.load("tset", str(tmp_path))


def test_zero_shot_and_k_shot_prompts(task, tiny_gsm8k_dir):
    test = task.load("test", str(tiny_gsm8k_dir))
    assert task.prompt(test[0]) == f"Question: {PROBLEMS[0][0]}\nAnswer:"
    shots = task.exemplars(2, seed=0, data_dir=str(tiny_gsm8k_dir), exclude=[e.text_a for e in test])
    assert shots == task.exemplars(2, seed=0, data_dir=str(tiny_gsm8k_dir), exclude=[e.text_a for e in test])
    assert not {s.text_a for s in shots} & {e.text_a for e in test}  # no test question answers itself
    prompt = task.prompt(test[1], shots)
    blocks = prompt.split("\n\n")
    assert len(blocks) == 3 and blocks[-1] == task.prompt(test[1])
    assert blocks[0] == f"Question: {shots[0].text_a}\nAnswer: {shots[0].label}"
    with pytest.raises(UsageError, match="5 shots asked, but the training split has 4"):  # 4 not in test
        task.exemplars(5, 0, str(tiny_gsm8k_dir), exclude=[e.text_a for e in test])


def test_targets_rationale_or_answer_only(task, tiny_gsm8k_dir):
    farm = task.load("train", str(tiny_gsm8k_dir))[5]
    assert task.target(farm) == " " + PROBLEMS[5][1]
    assert task.target(farm, answer_only=True) == " #### 1000"  # "1,000" normalised


def test_scores_strict_flexible_and_with_calculator(task):
    references = ["... #### 7", "... #### 1,000", "... #### 36", "... #### 10"]
    predictions = [
        Generated("3+4 = 7\n#### 7", "3+4 = 7\n#### 7"),  # right both ways
        Generated("so $1,000.", "so\n#### 1000"),  # flexible only; strict once the calculator helped
        Generated("#### 35 or maybe 36", "#### 35 or maybe 36"),  # strict reads the first: wrong
        Generated("no number", "no number"),
    ]
    scores = task.score(predictions, references)
    assert scores == {"exact_match": 0.25, "exact_match_flexible": 0.75,
                      "exact_match_calc": 0.5, "exact_match_flexible_calc": 0.75}
    plain = task.score(["#### 7"], ["#### 7.00"])  # text alone: no calculator keys
    assert plain == {"exact_match": 1.0, "exact_match_flexible": 1.0}
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        task.score(["a", "b"], ["#### 1"])
