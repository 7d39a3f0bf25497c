"""GSM8K (Cobbe et al. 2021): grade-school maths word problems, scored by exact match of the
final number, from `DIR/gsm8k/{train,test}.jsonl` (one {"question", "answer"} object per
line, the answer's rationale ending in `#### N`) or the hub.

Scores follow common practice (lm-evaluation-harness): the strict answer is the number after
`#### `, the flexible answer the last number of the output; both are recorded, strict is
primary. Each is scored twice: on the model's own text, and with the calculator of Magister
et al. 2022 filling in the results of its `<<expr=` annotations (bench/generation/reasoning.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError, abridge, unknown_name
from bench.registry import TASKS
from bench.task import Example, data_dir_from_env

PAPER = "Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems (GSM8K)"
# The prompt of every format: a model fine-tuned on these strings is asked the same way, and a
# k-shot prompt is k solved examples in the same format before the question.
QUESTION = "Question: {question}\nAnswer:"
SHOT_SEPARATOR = "\n\n"
# Metric keys: strict / flexible extraction, without / with the calculator.
METRICS = ("exact_match", "exact_match_flexible", "exact_match_calc", "exact_match_flexible_calc")


@dataclass(frozen=True)
class Generated:
    """What the evaluator decoded for one question: the model's own text and the text with the
    calculator (None when the task was decoded without it)."""

    text: str
    with_calculator: str | None = None


@dataclass(frozen=True)
class Gsm8kTask:
    name: str = "gsm8k"
    folder: str = "gsm8k"
    kind: str = "generation"
    num_labels: int = 0
    metric: str = "exact_match"
    metrics: tuple[str, ...] = METRICS
    higher_is_better: bool = True
    train_split: str = "train"
    eval_splits: tuple = (("", "test"),)
    hub_dataset: str = "openai/gsm8k"
    hub_config: str = "main"

    def __post_init__(self):
        object.__setattr__(self, "eval_splits", dict(self.eval_splits))

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "test")

    def load(self, split: str, data_dir: str | None = None) -> list[Example]:
        """Questions in `text_a`, reference answers (rationale and `#### N`) in `label`."""
        if split not in self.splits:
            raise unknown_name(f"{self.name} split", split, self.splits)
        files = self.data_files(split, data_dir)
        rows = self._read(files[0]) if files else self._load_hub(split)
        return [Example(row["question"], None, row["answer"]) for row in rows]

    def data_files(self, split: str, data_dir: str | None = None) -> list[Path]:
        data_dir = data_dir_from_env(data_dir)
        if data_dir is None:
            return []
        root = Path(data_dir).expanduser()
        folder = root / self.folder if (root / self.folder).is_dir() else root
        return [folder / f"{split}.jsonl"]

    @property
    def evaluator(self):
        from bench.generation.reasoning import REASONER

        return REASONER

    # -- prompts and targets (decoder-only models are trained and asked through these) ----------

    def prompt(self, example: Example, shots: Sequence[Example] = ()) -> str:
        """The question as the model sees it, after `shots` solved examples (k-shot CoT)."""
        solved = [QUESTION.format(question=s.text_a) + " " + s.label for s in shots]
        return SHOT_SEPARATOR.join([*solved, QUESTION.format(question=example.text_a)])

    def target(self, example: Example, answer_only: bool = False) -> str:
        """What the model learns to write after the prompt: the rationale and `#### N`, or only
        `#### N` (the answer-only baseline)."""
        from bench.generation.answers import reference_answer

        return " " + (f"#### {reference_answer(example.label)}" if answer_only else example.label)

    def exemplars(self, shots: int, seed: int, data_dir: str | None, exclude: Sequence[str] = ()) -> list[Example]:
        """`shots` solved training examples drawn with `seed` (the same prompt for every question),
        none of them a question in `exclude`."""
        excluded = set(exclude)
        pool = [e for e in self.load(self.train_split, data_dir) if e.text_a not in excluded]
        if shots > len(pool):
            raise UsageError(f"{self.name}: {shots} shots asked, but the training split has {len(pool)} examples "
                             "besides the questions asked")
        return random.Random(seed).sample(pool, shots)

    # -- scoring ----------------------------------------------------------------------------------

    def score(self, predictions: Sequence[Generated | str], references: Sequence[str]) -> dict[str, float]:
        """Exact match of the final number: strict and flexible, without and with the calculator."""
        from bench.generation.answers import flexible_answer, is_correct, reference_answer, strict_answer

        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        generated = [p if isinstance(p, Generated) else Generated(p) for p in predictions]
        answers = [reference_answer(r) for r in references]
        scores = {}
        for suffix, texts in (("", [g.text for g in generated]),
                              ("_calc", [g.with_calculator for g in generated])):
            if any(t is None for t in texts):
                continue
            for name, extract in (("exact_match", strict_answer), ("exact_match_flexible", flexible_answer)):
                hits = [is_correct(extract(t), a) for t, a in zip(texts, answers, strict=True)]
                scores[name + suffix] = sum(hits) / len(hits) if hits else 0.0
        return scores

    def metric_signatures(self) -> dict[str, str]:
        from bench.generation import answers

        return {"exact_match": f"strict: first {answers.STRICT.pattern!r}, numbers equal after removing , and $",
                "exact_match_flexible": f"flexible: last match of {answers.FLEXIBLE.pattern!r}, same normalisation"}

    # -- files --------------------------------------------------------------------------------------

    def _read(self, path: Path) -> list[dict]:
        if not path.is_file():
            found = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
            raise UsageError(f"{self.name}: {path} not found; files there: {', '.join(found) or 'none'}. "
                             f"Expected DIR/{self.folder}/train.jsonl and test.jsonl")
        rows = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UsageError(f"{self.name}: {path}:{number} is not JSON ({error.msg}): "
                                     f"{abridge(line)}") from None
                if not isinstance(row, dict) or not {"question", "answer"} <= set(row):
                    raise UsageError(f"{self.name}: {path}:{number} needs 'question' and 'answer' fields: "
                                     f"{abridge(line)}")
                rows.append(row)
        return rows

    def _load_hub(self, split: str) -> list[dict]:
        try:
            import datasets

            return list(datasets.load_dataset(self.hub_dataset, self.hub_config, split=split))
        except Exception as error:  # offline, missing package: both mean "no data here"
            raise UsageError(f"{self.name}: cannot load {split} from the hub {self.hub_dataset} "
                             f"({type(error).__name__}: {abridge(str(error))}). Offline, pass --data-dir or "
                             "BENCH_DATA_DIR with a gsm8k/ folder") from None


GSM8K = Gsm8kTask()
TASKS.register(GSM8K.name, GSM8K, family="gsm8k", paper=PAPER, metric=GSM8K.metric, higher_is_better=True,
               kind=GSM8K.kind)
