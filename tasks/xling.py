"""Cross-lingual transfer tasks: train on the English task, evaluate on its translation.

`xling-sst2-en-pt` trains on English SST-2 (GLUE) and scores the Portuguese dev set
(PLUE): zero-shot transfer, the setting of MAD-X (Pfeiffer et al. 2020). Methods that
adapt to a language (mad-x) read unlabelled text of either language from
`unlabelled_text`; no dev text is ever used for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import unknown_name
from bench.registry import TASKS
from bench.task import Example
from tasks.glue import GLUE_TASKS, GlueTask
from tasks.plue import PLUE_TASKS


@dataclass(frozen=True)
class CrossLingualTask:
    name: str
    source: GlueTask  # labelled training data
    target: GlueTask  # the evaluation language
    source_language: str
    target_language: str
    train_split: str = "train"
    eval_splits = {"": "dev"}  # the target language's dev set

    def __getattr__(self, key):
        # kind, num_labels, metric, higher_is_better, metrics: those of the task itself.
        if key in ("kind", "num_labels", "metric", "higher_is_better", "metrics", "label_names"):
            return getattr(self.source, key)
        raise AttributeError(key)

    @property
    def languages(self) -> dict[str, GlueTask]:
        return {self.source_language: self.source, self.target_language: self.target}

    def load(self, split: str, data_dir: str | None = None) -> list[Example]:
        if split == self.train_split:
            return self.source.load("train", data_dir)
        if split == "dev":
            return self.target.load("dev", data_dir)
        raise unknown_name(f"{self.name} split", split, ("train", "dev"))

    def data_files(self, split: str, data_dir: str | None = None) -> list[Path]:
        if split == self.train_split:
            # Both languages' training files: methods that adapt to a language (mad-x) read the
            # target language's training text too (`unlabelled_text`).
            return [*self.source.data_files("train", data_dir), *self.target.data_files("train", data_dir)]
        if split == "dev":
            return self.target.data_files("dev", data_dir)
        raise unknown_name(f"{self.name} split", split, ("train", "dev"))

    @property
    def evaluator(self):
        from bench.inference import CLASSIFIER

        return CLASSIFIER

    def score(self, predictions: Sequence, references: Sequence) -> dict[str, float]:
        return self.source.score(predictions, references)

    def unlabelled_text(self, language: str, data_dir: str | None = None) -> list[str]:
        """Training sentences of `language` without their labels (for masked-LM)."""
        if language not in self.languages:
            raise unknown_name(f"{self.name} language", language, self.languages)
        texts = []
        for example in self.languages[language].load("train", data_dir):
            texts.extend(t for t in (example.text_a, example.text_b) if t)
        return texts


_by_name = {t.name: t for t in (*GLUE_TASKS, *PLUE_TASKS)}
for _glue in ("sst2", "mrpc", "rte"):
    _task = CrossLingualTask(f"xling-{_glue}-en-pt", _by_name[f"glue-{_glue}"], _by_name[f"plue-{_glue}"], "en", "pt")
    TASKS.register(_task.name, _task, family="cross-lingual", paper="Pfeiffer et al. 2020, MAD-X (zero-shot transfer)",
                   metric=_task.metric, higher_is_better=_task.higher_is_better, kind=_task.kind)
