"""GLUE tasks: loading the original TSV layouts, label ids, scoring and clear errors."""

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bench.errors import UsageError
from bench.registry import TASKS
from tests.glue_files import write_split

GLUE_NAMES = [
    "glue-cola", "glue-sst2", "glue-mrpc", "glue-stsb", "glue-qqp",
    "glue-mnli", "glue-qnli", "glue-rte", "glue-wnli",
]

# task -> (folder, rows of (text_a, text_b, label in the file, expected label)).
ROWS = {
    "glue-cola": ("CoLA", [("The sailors rode the breeze clear of the rocks.", None, "1", 1),
                           ("NA", None, "0", 0), ('He said " go " .', None, "1", 1)]),
    "glue-sst2": ("SST-2", [("it 's a charming journey . ", None, "1", 1),
                            ("null", None, "0", 0)]),
    "glue-mrpc": ("MRPC", [('He was " 100 percent behind " it .', "He agreed .", "1", 1),
                           ("A cat sat .", "A dog ran .", "0", 0)]),
    "glue-stsb": ("STS-B", [("A man is dancing.", "A man dances.", "5.000", 5.0),
                            ("A child rides.", "A horse runs.", "1.250", 1.25),
                            ("NaN", "n/a", "0.000", 0.0)]),
    "glue-qqp": ("QQP", [("Why?", "Why not?", "0", 0),
                         ("How to cook?", "How do I cook?", "1", 1)]),
    "glue-mnli": ("MNLI", [("The rights are nice", "Everyone likes them", "neutral", 1),
                           ("It rains.", "It is wet.", "entailment", 0),
                           ("It rains.", "It is dry.", "contradiction", 2)]),
    "glue-qnli": ("QNLI", [("What came?", "The republic came.", "entailment", 0),
                           ("Where?", "Nowhere in particular.", "not_entailment", 1)]),
    "glue-rte": ("RTE", [("Reeve died of cancer.", "Reeve had an accident.", "not_entailment", 1),
                         ("Bacteria mutate fast.", "Bacteria win.", "entailment", 0)]),
    "glue-wnli": ("WNLI", [("The drain is clogged with hair.", "The hair is clogged.", "0", 0),
                           ("Jane knocked.", "Susan did not answer.", "1", 1)]),
}


def write_glue(root: Path, only=None) -> Path:
    """A tiny GLUE download under root/glue: every split of every task, a few rows each."""
    for name, (folder, rows) in ROWS.items():
        task = TASKS.get(name).obj
        splits = [task.train_split, *task.eval_splits.values()]
        for split in only or splits:
            write_split(root / "glue" / folder / f"{split}.tsv", folder, [(a, b, y) for a, b, y, _ in rows])
    return root


@pytest.fixture
def glue_dir(tmp_path):
    return write_glue(tmp_path)


def test_all_nine_glue_tasks_are_registered():
    glue = [e for e in TASKS.entries() if e.meta.get("family") == "glue"]
    assert sorted(e.name for e in glue) == sorted(GLUE_NAMES)
    for entry in glue:
        task = entry.obj
        assert entry.metric == task.metric == task.metrics[0]
        assert entry.higher_is_better is task.higher_is_better is True
        assert entry.kind == task.kind and entry.paper.startswith("Wang et al. 2018")


@pytest.mark.parametrize("name", GLUE_NAMES)
def test_loads_original_layout_and_scores_perfect_predictions(glue_dir, name):
    task = TASKS.get(name).obj
    expected = [(a, b, label) for a, b, _, label in ROWS[name][1]]
    for split in (task.train_split, *task.eval_splits.values()):
        examples = task.load(split, data_dir=str(glue_dir))
        assert [(e.text_a, e.text_b, e.label) for e in examples] == expected
        assert all(type(e.label) is (float if task.kind == "regression" else int) for e in examples)
        refs = [e.label for e in examples]
        scores = task.score(list(refs), refs)
        assert set(scores) == set(task.metrics)
        assert scores[task.metric] == pytest.approx(1.0)


def test_task_shapes():
    mnli, stsb, cola = (TASKS.get(n).obj for n in ("glue-mnli", "glue-stsb", "glue-cola"))
    assert mnli.eval_splits == {"m": "dev_matched", "mm": "dev_mismatched"}
    assert mnli.label_names == ("entailment", "neutral", "contradiction") and mnli.num_labels == 3
    assert (stsb.kind, stsb.num_labels, stsb.label_names) == ("regression", 1, None)
    assert stsb.metrics == ("pearson", "spearman") and cola.metric == "matthews_corr"
    assert TASKS.get("glue-mrpc").obj.metrics == ("f1", "accuracy")
    assert TASKS.get("glue-qqp").obj.metrics == ("f1", "accuracy")


def test_data_dir_may_be_the_glue_folder_or_come_from_env(glue_dir, monkeypatch):
    task = TASKS.get("glue-sst2").obj
    assert len(task.load("dev", data_dir=str(glue_dir / "glue"))) == 2
    monkeypatch.setenv("BENCH_DATA_DIR", str(glue_dir))
    assert len(task.load("dev")) == 2


def test_unknown_task_suggests_the_closest_name():
    with pytest.raises(UsageError, match="glue-sst2"):
        TASKS.get("glue-sst")


def test_missing_split_names_the_path_and_existing_splits(tmp_path):
    write_glue(tmp_path, only=["train"])
    with pytest.raises(UsageError) as info:
        TASKS.get("glue-rte").obj.load("dev", data_dir=str(tmp_path))
    message = str(info.value)
    assert str(tmp_path / "glue" / "RTE" / "dev.tsv") in message and "train" in message


def test_unknown_split_is_a_usage_error(glue_dir):
    with pytest.raises(UsageError, match="dev_matched"):
        TASKS.get("glue-mnli").obj.load("dev_matchd", data_dir=str(glue_dir))


def test_bad_label_is_a_usage_error(tmp_path):
    folder = tmp_path / "glue" / "RTE"
    folder.mkdir(parents=True)
    (folder / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(UsageError, match="maybe"):
        TASKS.get("glue-rte").obj.load("dev", data_dir=str(tmp_path))


def test_unreachable_hub_says_how_to_use_local_data(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub")

    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(UsageError) as info:
        TASKS.get("glue-cola").obj.load("dev")
    message = str(info.value)
    assert "unreachable" in message and "--data-dir" in message and "BENCH_DATA_DIR" in message


def test_import_is_light():
    heavy = "{'pandas', 'datasets', 'sklearn', 'scipy'}"
    code = f"import sys, tasks.glue; print(sorted({heavy} & set(sys.modules)))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


REAL_DEV_ROWS = {
    ("glue-sst2", "dev"): 872, ("glue-mnli", "dev_matched"): 9815, ("glue-cola", "dev"): 1043,
    ("glue-stsb", "dev"): 1500, ("glue-mrpc", "dev"): 408, ("glue-mnli", "dev_mismatched"): 9832,
    ("glue-qqp", "dev"): 40430, ("glue-qnli", "dev"): 5463, ("glue-rte", "dev"): 277,
    ("glue-wnli", "dev"): 71,
}


def test_real_glue_data_row_counts():
    """Integration: the project's offline copy (../shared/data or BENCH_DATA_DIR)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    data_dir = Path(os.environ.get("BENCH_DATA_DIR") or default)
    if not (data_dir / "glue").is_dir():
        pytest.skip(f"no GLUE data at {data_dir}")
    for (name, split), rows in REAL_DEV_ROWS.items():
        task = TASKS.get(name).obj
        examples = task.load(split, data_dir=str(data_dir))
        assert len(examples) == rows, (name, split)
        labels = {e.label for e in examples}
        if task.kind == "regression":
            assert min(labels) >= 0.0 and max(labels) <= 5.0
        else:
            assert labels == set(range(task.num_labels)), name
        assert all(e.text_a for e in examples[:50])
        assert (examples[0].text_b is None) == (len(task.text_columns) == 1)
