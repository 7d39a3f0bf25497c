"""Content fingerprints of the local files a cell reads, so that its key changes when they do.

A cell's config names its data and models by name or path, not by what the files hold:
edit a TSV or retrain the weights in a model directory and the old key would serve a stale
record and stale cached weights. `cell_inputs` lists what a cell reads (its task's splits,
its model directory, models and tasks its options name) as (label, fingerprint) pairs that
the executor puts into `Cell.inputs` before computing keys. Labels are relative names and
fingerprints depend on content only (never paths or times), so committed records match on
another machine that holds the same files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WHOLE_FILE_LIMIT = 64 * 2**20  # files up to this size are hashed whole (a GLUE split, BERT-base weights)
EDGE_BYTES = 2**20  # larger ones by their size and first and last MiB: hashing GBs per run costs minutes
# Options of the KD methods (bench/distill/options.py) that name a model whose files the cell loads.
MODEL_OPTIONS = ("teacher", "teachers", "student")
_memo: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> fingerprint: a matrix hashes a file once


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _memo:
        _memo[memo_key] = _fingerprint(path, stat.st_size)
    return _memo[memo_key]


def _fingerprint(path: Path, size: int) -> str:
    if size <= WHOLE_FILE_LIMIT:
        return "sha256:" + sha256_file(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(EDGE_BYTES))
        handle.seek(size - EDGE_BYTES)
        digest.update(handle.read(EDGE_BYTES))
    return f"size:{size}+edges-sha256:{digest.hexdigest()}"


def model_files(directory: Path) -> list[Path]:
    """The files of a model directory and of its direct subfolders (sentence-transformers' 1_Pooling/).

    Hidden entries (.git, .gitattributes), __pycache__ and Python sources are not model
    content (a package's __init__.py; this harness never runs a model's own code).
    """
    files = []
    for entry in sorted(directory.iterdir()):
        if _skipped(entry):
            continue
        if entry.is_file():
            files.append(entry)
        elif entry.is_dir():
            files.extend(sorted(f for f in entry.iterdir() if f.is_file() and not _skipped(f)))
    return files


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__pycache__" or path.suffix in (".py", ".pyc")


def model_inputs(name: str, role: str = "model") -> list[tuple[str, str]]:
    """Fingerprints of the files of model `name`'s directory (a local path or an installed package)."""
    from bench.errors import UsageError
    from bench.modeling.load import resolve

    try:
        source = resolve(name)
        location = None if source.architecture_only else source.location()
    except UsageError:
        return []  # the cell itself fails on it and records why
    if location is None or not Path(location).is_dir():
        return []  # a config (architecture-only) or a hub id: no local files to read
    directory = Path(location)
    return [(f"{role}/{f.relative_to(directory).as_posix()}", file_fingerprint(f)) for f in model_files(directory)]


def data_inputs(task, splits, data_dir: str | None, role: str = "data") -> list[tuple[str, str]]:
    """Fingerprints of the local files of `splits`, labelled by their path under the data directory."""
    from bench.task import data_dir_from_env

    data_dir = data_dir_from_env(data_dir)
    files = getattr(task, "data_files", None)
    if data_dir is None or files is None:
        return []  # the hub (its revision is not pinned here), or a task that does not list its files
    root = Path(data_dir).expanduser()
    rows = []
    for split in splits:
        for path in files(split, data_dir):
            if path.is_file():  # a missing split fails the cell, which records why
                label = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
                rows.append((f"{role}/{label}", file_fingerprint(path)))
    return rows


def cell_inputs(cell, data_dir: str | None) -> tuple[tuple[str, str], ...]:
    """What `cell` reads, as sorted (label, fingerprint) pairs: the value of `Cell.inputs`."""
    from bench.registry import TASKS

    rows = model_inputs(cell.model)
    if not cell.arch_only:  # architecture-only cells read no data
        task = TASKS.get(cell.task).obj
        rows += data_inputs(task, [task.train_split, *task.eval_splits.values()], data_dir)
    for index, stage in enumerate(cell.chain):
        options = stage.options_dict()
        for option, name in _named_models(options):
            rows += model_inputs(name, f"chain[{index}].{option}")
        unlabelled = options.get("unlabelled")
        if unlabelled not in (None, "train") and not cell.arch_only:  # another task's text the teacher labels
            other = TASKS.get(unlabelled).obj
            rows += data_inputs(other, [other.train_split], data_dir, f"chain[{index}].unlabelled")
    return tuple(sorted(dict(rows).items()))


def _named_models(options: dict) -> list[tuple[str, str]]:
    from bench.distill.students import parse_student

    named = []
    for option in MODEL_OPTIONS:
        value = options.get(option)
        if option == "student" and value is not None and parse_student(value).kind != "model":
            continue  # truncate:K or lstm: built from the cell's own model
        values = value if isinstance(value, tuple) else () if value is None else (value,)
        named += [(option if len(values) == 1 else f"{option}[{i}]", v) for i, v in enumerate(values)]
    return named


def teacher_inputs(student_inputs: tuple, teacher_model: str) -> tuple[tuple[str, str], ...]:
    """The inputs of the full-ft cell that trains a KD teacher: the task's data and the teacher's files.

    Exactly what that full-ft cell of the matrix gets from `cell_inputs`, so the two share
    one training. A cell that was never fingerprinted (built directly, as tests do) has
    no inputs, and neither has its teacher.
    """
    if not student_inputs:
        return ()
    rows = [(label, value) for label, value in student_inputs if label.startswith("data/")]
    return tuple(sorted(dict(rows + model_inputs(teacher_model)).items()))
