"""Content-addressed cache of trained weights, so a chain prefix is trained once.

`lora -> merge-lora` and `lora -> merge-lora -> int8-dynamic` share their training: the
second cell loads the weights the first one trained (DESIGN principle 7). The key is the
cell's config up to and including the training stage (with its inputs' content), plus
the package versions.

Every cache entry (trained weights here, teacher outputs in bench/distill/targets.py) is
a folder built aside and renamed into place, with a manifest of its files' sizes and
sha256. A reader checks the manifest: a corrupt entry (a truncated file, garbage, no
manifest) is deleted and rebuilt instead of failing its cells on every run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

WEIGHTS = "model.safetensors"
STATS = "training.json"
MANIFEST = "manifest.json"
STAGING_PREFIX = ".tmp-"  # an entry being built; `bench cache` lists these as "building"


_held: dict[str, int] = {}  # cache folder -> the descriptor through which this process holds it


def cache_folder() -> Path:
    """The cache folder (BENCH_CACHE, default ~/.cache/bench), without holding it."""
    return Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench")


def cache_root() -> Path:
    """The cache folder, held by this process until it exits: every reader and writer of an
    entry comes through here, so `bench cache clean` (bench/storage/cache_entries.py) can tell that a
    run is using the cache and delete nothing under it."""
    root = cache_folder()
    if str(root) not in _held:
        _held[str(root)] = hold(root, exclusive=False)
    return root


def hold(root: Path, exclusive: bool) -> int | None:
    """A descriptor of the cache folder with a lock on it (flock on the folder itself: no file is
    added to the cache), released when closed or when the process ends. Shared locks wait for
    a clean to finish; an exclusive one is refused (None) while any process holds the folder.
    None too where there is no flock or the folder cannot be made."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: nothing to hold
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root, os.O_RDONLY)
    except OSError:  # a read-only place: nothing can be stored there, nor deleted
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return None
    return fd


def prefix_key(cell, stage_index: int, versions: dict) -> str:
    """Key of the cell truncated after stage `stage_index` (evaluation settings excluded)."""
    import dataclasses

    prefix = dataclasses.replace(cell, chain=cell.chain[: stage_index + 1], measure=type(cell.measure)())
    return "train-" + prefix.key(versions)


def store_entry(directory: Path, write: Callable[[Path], None]) -> None:
    """Build an entry with `write(folder)` in a temporary folder, add its manifest, rename it into place.

    Never half an entry; when another process stored the same entry first, theirs is kept.
    """
    from bench.storage.fingerprint import sha256_file

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory.parent))
    try:
        write(staging)
        files = sorted(p for p in staging.iterdir() if p.is_file())
        manifest = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)} for p in files}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except OSError as error:  # a full disk or a read-only cache: the cell goes on uncached
        shutil.rmtree(staging, ignore_errors=True)
        print(f"bench: warning: cannot store cache entry {directory}: {error}", file=sys.stderr)
        return
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.replace(staging, directory)
    except OSError:  # renaming onto a non-empty folder: another process stored it first
        shutil.rmtree(staging, ignore_errors=True)


def open_entry(directory: Path) -> Path | None:
    """`directory` when it is a complete entry (every file of its manifest, same size and sha256).

    A corrupt entry is deleted, with a warning, and None returned: the caller rebuilds it.
    """
    if not directory.exists():
        return None
    problem = _problem(directory)
    if problem is None:
        return directory
    return _discard(directory, problem)


def _discard(directory: Path, problem: str) -> None:
    """Delete a bad entry, saying why: its caller rebuilds it (and gets None here)."""
    print(f"bench: warning: cache entry {directory} {problem}; deleted, rebuilding it", file=sys.stderr)
    shutil.rmtree(directory, ignore_errors=True)


def _problem(directory: Path) -> str | None:
    """What is wrong with an entry, or None."""
    from bench.storage.fingerprint import sha256_file

    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return "has no manifest (written by an older version or cut short)"
    except (OSError, ValueError):
        return "has an unreadable manifest"
    if not isinstance(manifest, dict) or not manifest:
        return "has an unreadable manifest"
    for name, expected in manifest.items():
        path = directory / name
        if Path(name).name != name or not path.is_file():
            return f"lacks {name}"
        if not isinstance(expected, dict):
            return "has an unreadable manifest"
        if path.stat().st_size != expected.get("size") or sha256_file(path) != expected.get("sha256"):
            return f"has {name} differing from its manifest (truncated or overwritten)"
    return None


def is_trained(key: str | None) -> bool:
    """Whether an intact entry holds the weights of this key (a corrupt one is deleted)."""
    return bool(key) and open_entry(cache_root() / key) is not None


STORED = "stored"  # the key of training.json that says how the weights are stored (not part of the stats)


def trainable_names(model) -> list[str]:
    """The names of the parameters that train (shared ones once, as `named_parameters` gives them)."""
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def persistent_buffers(model) -> dict:
    """The buffers that the state dict holds (running statistics and the like), by name."""
    parameters = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    return {name: value for name, value in model.state_dict().items() if name not in parameters}


def buffer_snapshot(model) -> dict:
    """Copies of the persistent buffers before training: `store_trained` keeps those that changed."""
    return {name: value.detach().clone() for name, value in persistent_buffers(model).items()}


def load_trained(model, key: str) -> dict | None:
    """Load cached weights into `model` (already prepared by its method); the stats, or None.

    A delta entry (see `store_trained`) is loaded over the model as the caller prepared it,
    its frozen weights untouched; a delta whose tensors are not exactly the model's trainable
    parameters is corrupt: deleted, and None returned so the caller trains again.
    """
    directory = open_entry(cache_root() / key)
    if directory is None:
        return None
    stats = json.loads((directory / STATS).read_text())
    stored = stats.pop(STORED, {"weights": "full"})  # entries from before deltas hold the full model
    if stored.get("weights") != "delta":
        from safetensors.torch import load_model

        load_model(model, str(directory / WEIGHTS), strict=True)
        return stats
    from safetensors.torch import load_file

    tensors = load_file(str(directory / WEIGHTS))
    buffers = list(stored.get("buffers", []))
    expected = set(trainable_names(model)) | set(buffers)
    problem = None
    if set(tensors) != expected:
        problem = (f"is a delta whose tensors are not the model's trainable parameters "
                   f"({len(set(tensors) - expected)} unknown, {len(expected - set(tensors))} missing)")
    elif not set(buffers) <= set(persistent_buffers(model)):
        problem = "is a delta with buffers the model does not have"
    if problem is not None:
        return _discard(directory, problem)
    unexpected = model.load_state_dict(tensors, strict=False).unexpected_keys
    if unexpected:  # checked above; a model whose state dict names differ from its parameters' names
        raise RuntimeError(f"cache entry {directory}: tensors the model does not have: {unexpected[:5]}")
    return stats


def store_trained(model, key: str, stats: dict, base: dict | None = None, buffers_before: dict | None = None) -> None:
    """Store the weights a training prefix produced, with its stats.

    When some parameters were frozen (`requires_grad=False`) the entry holds only the
    trainable ones (a LoRA adapter, BitFit's biases: 0.1% of the model) plus the persistent
    buffers that changed since `buffers_before` (all of them when not given): a delta.
    The frozen weights need no storing: the key names the base they come from (the model
    source, its content fingerprint `cell.inputs`, the earlier stages and this stage's
    options), and the reader reproduces them by loading the model and replaying the prefix
    (the runner loads the earlier stages' own cached weights first, and the method prepares
    the model again) before `load_trained` puts the delta over it. `base` describes that
    base in the entry's stats, for a reader of the cache. Full fine-tuning stores the full model.
    """
    import torch

    parameters = dict(model.named_parameters())
    trainable = trainable_names(model)
    delta = bool(trainable) and len(trainable) < len(parameters)
    tensors = {}
    if delta:
        tensors = {name: parameters[name] for name in trainable}
        current = persistent_buffers(model)
        buffers = [name for name, value in current.items()
                   if buffers_before is None or name not in buffers_before
                   or not torch.equal(value.detach().cpu(), buffers_before[name].detach().cpu())]
        tensors.update({name: current[name] for name in buffers})
        stored = {"weights": "delta", "of": base or {"key": key}, "buffers": buffers,
                  "trainable_parameters": sum(parameters[name].numel() for name in trainable),
                  "frozen": "reproduced by loading the base model and replaying the prefix this key names"}
    else:
        stored = {"weights": "full"}

    def write(folder: Path) -> None:
        if delta:
            from safetensors.torch import save_file

            save_file({name: value.detach().cpu().contiguous() for name, value in tensors.items()},
                      str(folder / WEIGHTS))
        else:
            from safetensors.torch import save_model

            save_model(model, str(folder / WEIGHTS), force_contiguous=True)
        (folder / STATS).write_text(json.dumps(dict(stats, **{STORED: stored})))

    store_entry(cache_root() / key, write)
