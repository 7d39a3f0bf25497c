"""The nine GLUE tasks (Wang et al. 2018), from local GLUE TSV folders or the hub.

Local files are read in the layout the original GLUE download produces, by
column name, so the extra columns of the original files (parses, genre, ids)
do no harm. Labels become class ids in the order of the hub's ClassLabel, so a
model trained on one source scores correctly on the other.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError, unknown_name
from bench.metrics import METRICS
from bench.registry import TASKS
from bench.task import Example, TaskKind, data_dir_from_env

PAPER = "Wang et al. 2018 (GLUE)"
HUB_DATASET = "nyu-mll/glue"
# Local file stem -> hub split name.
HUB_SPLITS = {
    "train": "train",
    "dev": "validation",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
}


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task: where its data lives (local folder and hub config) and how it is scored."""

    name: str
    kind: TaskKind
    num_labels: int  # 1 for regression (STS-B)
    metric: str  # primary metric, the first of `metrics`
    higher_is_better: bool
    train_split: str
    eval_splits: dict[str, str]
    folder: str  # folder of the GLUE download, e.g. "SST-2"
    hub_config: str  # config of nyu-mll/glue, e.g. "sst2"
    text_columns: tuple  # local columns of text_a (and text_b); positions when header-less
    hub_text_columns: tuple[str, ...]  # the same texts in the hub's column names
    label_column: str | int
    label_names: tuple[str, ...] | None  # class id i is label_names[i]; None for regression
    metrics: tuple[str, ...]  # every official metric, primary first
    header: bool = True  # CoLA's files have none
    root: str = "glue"  # folder of the data dir holding the task folders (plue: Portuguese GLUE)
    hub_dataset: str = HUB_DATASET

    @property
    def splits(self) -> tuple[str, ...]:
        return (self.train_split, *self.eval_splits.values())

    def load(self, split: str, data_dir: str | None = None) -> list[Example]:
        """Examples of `split` (a local file stem: train, dev, dev_matched, ...)."""
        if split not in self.splits:
            raise unknown_name(f"{self.name} split", split, self.splits)
        data_dir = data_dir_from_env(data_dir)
        if data_dir is None:
            return self._load_hub(split)
        return self._load_tsv(self._local_path(data_dir, split))

    def data_files(self, split: str, data_dir: str | None = None) -> list[Path]:
        """The TSV file of `split` under the data directory ([] from the hub), whether it exists or not."""
        if split not in self.splits:
            raise unknown_name(f"{self.name} split", split, self.splits)
        data_dir = data_dir_from_env(data_dir)
        return [] if data_dir is None else [self._split_path(data_dir, split)]

    @property
    def evaluator(self):
        from bench.inference import CLASSIFIER

        return CLASSIFIER

    def score(self, predictions: Sequence, references: Sequence) -> dict[str, float]:
        """The task's official metrics: class ids for classification, floats for STS-B."""
        from bench.metrics import compute

        return compute(self.metrics, predictions, references)

    def _split_path(self, data_dir: str, split: str) -> Path:
        # Accept both DIR (holding glue/SST-2/) and DIR = the glue folder itself.
        root = Path(data_dir).expanduser()
        candidates = [root / self.root / self.folder, root / self.folder]
        folder = next((c for c in candidates if c.is_dir()), candidates[0])
        return folder / f"{split}.tsv"

    def _local_path(self, data_dir: str, split: str) -> Path:
        path = self._split_path(data_dir, split)
        folder = path.parent
        if not path.is_file():
            found = sorted(p.stem for p in folder.glob("*.tsv")) if folder.is_dir() else []
            raise UsageError(
                f"{self.name}: split file {path} not found; splits there: "
                f"{', '.join(found) or 'none'}. Expected the GLUE TSV layout "
                f"DIR/{self.root}/{self.folder}/{split}.tsv"
            )
        return path

    def _load_tsv(self, path: Path) -> list[Example]:
        import pandas as pd

        try:
            frame = pd.read_csv(
                path,
                sep="\t",
                quoting=csv.QUOTE_NONE,
                encoding="utf-8-sig",  # MRPC starts with a BOM
                header=0 if self.header else None,
                dtype=str,
                keep_default_na=False,  # "null", "NA" in text stay text
            )
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise UsageError(f"{self.name}: cannot read {path}: {exc}") from exc
        wanted = [*self.text_columns, self.label_column]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise UsageError(
                f"{self.name}: {path} lacks column(s) {missing}; it has {list(frame.columns)}"
            )
        texts = [frame[c].tolist() for c in self.text_columns]
        labels = self._labels(frame[self.label_column].tolist(), str(path))
        return _examples(texts, labels)

    def _labels(self, values: list[str], where: str) -> list[int | float]:
        """Label strings (class names or ids; scores for STS-B) as class ids or floats."""
        if self.kind == "regression":
            ids = None
            convert = float
        else:
            ids = {str(i): i for i in range(self.num_labels)}
            ids.update({name: i for i, name in enumerate(self.label_names or ())})
            convert = ids.__getitem__
        labels = []
        for value in values:
            try:
                labels.append(convert(value))
            except (KeyError, ValueError):
                valid = "a number" if ids is None else ", ".join(ids)
                raise UsageError(
                    f"{self.name}: bad label {value!r} in {where}; valid: {valid}"
                ) from None
        return labels

    def _load_hub(self, split: str) -> list[Example]:
        hub_split = HUB_SPLITS[split]
        try:
            import datasets

            ds = datasets.load_dataset(self.hub_dataset, self.hub_config, split=hub_split)
        except Exception as exc:  # offline, missing package, gated, ...: all mean "no data"
            reason = (str(exc).splitlines() or [""])[0]
            raise UsageError(
                f"{self.name}: the hub is unreachable or the data is missing "
                f"({self.hub_dataset} {self.hub_config}/{hub_split}: {type(exc).__name__}: {reason}). "
                f"Point at local data with --data-dir DIR or BENCH_DATA_DIR=DIR, "
                f"in the GLUE TSV layout DIR/{self.root}/{self.folder}/{split}.tsv"
            ) from exc
        texts = [ds[c] for c in self.hub_text_columns]
        to_label = float if self.kind == "regression" else int
        return _examples(texts, [to_label(v) for v in ds["label"]])


def _examples(texts: list[list[str]], labels: list) -> list[Example]:
    text_b = texts[1] if len(texts) > 1 else [None] * len(labels)
    return [Example(a, b, y) for a, b, y in zip(texts[0], text_b, labels, strict=False)]


def _task(name, folder, hub_config, text_columns, hub_text_columns, label_column,
          label_names, metrics, eval_splits=None, header=True) -> GlueTask:
    """A GlueTask with the derived fields (kind, num_labels, primary metric) filled in."""
    regression = label_names is None
    return GlueTask(
        name=name,
        kind="regression" if regression else "classification",
        num_labels=1 if regression else len(label_names),
        metric=metrics[0],
        higher_is_better=METRICS[metrics[0]],
        train_split="train",
        eval_splits=eval_splits or {"": "dev"},
        folder=folder,
        hub_config=hub_config,
        text_columns=tuple(text_columns),
        hub_text_columns=tuple(hub_text_columns),
        label_column=label_column,
        label_names=None if regression else tuple(label_names),
        metrics=tuple(metrics),
        header=header,
    )


PAIR = ("sentence1", "sentence2")
NLI2 = ("entailment", "not_entailment")
GLUE_TASKS = (
    # CoLA has no header: source, label, original label, sentence.
    _task("glue-cola", "CoLA", "cola", [3], ["sentence"], 1,
          ["unacceptable", "acceptable"], ["matthews_corr"], header=False),
    _task("glue-sst2", "SST-2", "sst2", ["sentence"], ["sentence"], "label",
          ["negative", "positive"], ["accuracy"]),
    _task("glue-mrpc", "MRPC", "mrpc", ["#1 String", "#2 String"], PAIR, "Quality",
          ["not_equivalent", "equivalent"], ["f1", "accuracy"]),
    _task("glue-stsb", "STS-B", "stsb", PAIR, PAIR, "score", None, ["pearson", "spearman"]),
    _task("glue-qqp", "QQP", "qqp", ["question1", "question2"], ["question1", "question2"],
          "is_duplicate", ["not_duplicate", "duplicate"], ["f1", "accuracy"]),
    _task("glue-mnli", "MNLI", "mnli", PAIR, ["premise", "hypothesis"], "gold_label",
          ["entailment", "neutral", "contradiction"], ["accuracy"],
          eval_splits={"m": "dev_matched", "mm": "dev_mismatched"}),
    _task("glue-qnli", "QNLI", "qnli", ["question", "sentence"], ["question", "sentence"],
          "label", NLI2, ["accuracy"]),
    _task("glue-rte", "RTE", "rte", PAIR, PAIR, "label", NLI2, ["accuracy"]),
    # WNLI files hold 0/1 with 1 = entailment, the hub's order.
    _task("glue-wnli", "WNLI", "wnli", PAIR, PAIR, "label",
          ["not_entailment", "entailment"], ["accuracy"]),
)

for _t in GLUE_TASKS:
    TASKS.register(_t.name, _t, family="glue", paper=PAPER, metric=_t.metric,
                   higher_is_better=_t.higher_is_better, kind=_t.kind)
