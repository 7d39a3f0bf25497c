"""Machine translation tasks: Multi30k (Elliott et al. 2016) and WMT14 English-German, both
directions, from parallel text files or the hub; scored with sacreBLEU (BLEU, chrF).

Local files are the raw parallel text of the original releases: `NAME.en` and `NAME.de`,
line i of one aligned with line i of the other. BLEU and chrF are on sacreBLEU's 0-100
scale, as every MT paper reports them, and the metric signatures go into the record so a
score can be compared only with scores computed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError, unknown_name
from bench.registry import TASKS
from bench.task import Example, data_dir_from_env

PAPER = {"multi30k": "Elliott et al. 2016, Multi30K", "wmt14_en_de": "Bojar et al. 2014, WMT14"}


@dataclass(frozen=True)
class TranslationTask:
    """One corpus in one direction: where each split's parallel files live, how it is scored."""

    name: str
    folder: str  # folder of the data dir: multi30k, wmt14_en_de
    source: str  # language codes, the files' suffixes
    target: str
    files: dict  # split -> file stem: {"train": "train", "val": "val", ...}
    eval_splits: dict  # metric suffix -> split: {"": "test"}
    hub_dataset: str
    hub_config: str | None
    hub_splits: dict  # split -> the hub's split name
    train_split: str = "train"
    offline_splits: tuple[str, ...] = ()  # the splits the data dir holds; others are hub-only
    kind: str = "generation"
    num_labels: int = 0
    metric: str = "bleu"
    metrics: tuple[str, ...] = ("bleu", "chrf")  # what `score` returns, primary first
    higher_is_better: bool = True

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.files)

    def load(self, split: str, data_dir: str | None = None) -> list[Example]:
        """Source sentences in `text_a`, reference translations in `label`."""
        if split not in self.splits:
            raise unknown_name(f"{self.name} split", split, self.splits)
        files = self.data_files(split, data_dir)
        if not files:  # no data folder, or a split only the hub holds
            return self._load_hub(split, data_dir)
        sources, targets = (self._read(path) for path in files)
        if len(sources) != len(targets):
            raise UsageError(f"{self.name}: {split} has {len(sources)} {self.source} lines but {len(targets)} "
                             f"{self.target} lines in {files[0].parent}; the files must be aligned")
        return [Example(s, None, t) for s, t in zip(sources, targets, strict=True)]

    def data_files(self, split: str, data_dir: str | None = None) -> list[Path]:
        """The source and target files of `split` ([] where the split comes from the hub)."""
        data_dir = data_dir_from_env(data_dir)
        if data_dir is None or (self.offline_splits and split not in self.offline_splits):
            return []
        stem = self.files[split]
        return [self._folder(data_dir) / f"{stem}.{language}" for language in (self.source, self.target)]

    @property
    def evaluator(self):
        from bench.generation.evaluator import GENERATOR

        return GENERATOR

    def score(self, predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
        """Corpus BLEU (primary) and chrF against one reference per sentence."""
        import sacrebleu

        predictions, references = list(predictions), [list(references)]
        return {"bleu": sacrebleu.BLEU().corpus_score(predictions, references).score,
                "chrf": sacrebleu.CHRF().corpus_score(predictions, references).score}

    def metric_signatures(self) -> dict[str, str]:
        """sacreBLEU's signatures of the metrics `score` computes (for the record)."""
        import sacrebleu

        signatures = {}
        for name, metric in (("bleu", sacrebleu.BLEU()), ("chrf", sacrebleu.CHRF())):
            metric.corpus_score(["x"], [["x"]])  # a signature names the reference count: one, as in score()
            signatures[name] = str(metric.get_signature())
        return signatures

    def _folder(self, data_dir: str) -> Path:
        root = Path(data_dir).expanduser()
        return root / self.folder if (root / self.folder).is_dir() else root

    def _read(self, path: Path) -> list[str]:
        if not path.is_file():
            found = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
            raise UsageError(f"{self.name}: {path} not found; files there: {', '.join(found) or 'none'}. "
                             f"Expected parallel text DIR/{self.folder}/<split>.{self.source} and .{self.target}")
        with open(path, encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle]

    def _load_hub(self, split: str, data_dir: str | None) -> list[Example]:
        try:
            import datasets

            rows = datasets.load_dataset(self.hub_dataset, self.hub_config, split=self.hub_splits[split])
        except Exception as error:  # offline, missing package, gated: all mean "no data here"
            local = ""
            if self.offline_splits:
                local = (f" The local folder {self.folder}/ holds only the {', '.join(self.offline_splits)} "
                         f"splits ({', '.join(f'{self.files[s]}.{self.source}' for s in self.offline_splits)}); "
                         f"{split} comes from the hub at full scale.")
            reason = (str(error).splitlines() or [""])[0][:200]
            raise UsageError(f"{self.name}: cannot load {split} from the hub {self.hub_dataset} "
                             f"({type(error).__name__}: {reason}).{local}") from None
        pairs = [row["translation"] if "translation" in row else row for row in rows]
        return [Example(p[self.source], None, p[self.target]) for p in pairs]


def _both_directions(corpus: str, languages: tuple[str, str], **fields) -> list[TranslationTask]:
    """One declaration per corpus: en->de and de->en share files, splits and hub source."""
    first, second = languages
    return [TranslationTask(name=f"mt-{corpus}-{src}-{tgt}", source=src, target=tgt, **fields)
            for src, tgt in ((first, second), (second, first))]


TRANSLATION_TASKS = (
    *_both_directions(
        "multi30k", ("en", "de"), folder="multi30k",
        files={"train": "train", "val": "val", "test": "test_2016_flickr"},
        eval_splits={"": "test"},
        hub_dataset="bentrevett/multi30k", hub_config=None,
        hub_splits={"train": "train", "val": "validation", "test": "test"},
    ),
    *_both_directions(
        "wmt14", ("en", "de"), folder="wmt14_en_de",
        files={"train": "train", "dev": "newstest2013", "test": "newstest2014"},
        eval_splits={"": "test"},
        hub_dataset="wmt14", hub_config="de-en",
        hub_splits={"train": "train", "dev": "validation", "test": "test"},
        offline_splits=("dev", "test"),
    ),
)

for _t in TRANSLATION_TASKS:
    TASKS.register(_t.name, _t, family="translation", paper=PAPER[_t.folder], metric=_t.metric,
                   higher_is_better=True, kind=_t.kind)
