"""Content-addressed cache of trained weights, so a chain prefix is trained once.

`lora -> merge-lora` and `lora -> merge-lora -> int8-dynamic` share their training: the
second cell loads the weights the first one trained (DESIGN principle 7). The key is the
cell's config up to and including the training stage, plus the package versions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

WEIGHTS = "model.safetensors"
STATS = "training.json"


def cache_root() -> Path:
    return Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench")


def prefix_key(cell, stage_index: int, versions: dict) -> str:
    """Key of the cell truncated after stage `stage_index` (evaluation settings excluded)."""
    import dataclasses

    prefix = dataclasses.replace(cell, chain=cell.chain[: stage_index + 1], measure=type(cell.measure)())
    return "train-" + prefix.key(versions)


def load_trained(model, key: str) -> dict | None:
    """Load cached weights into `model` (already prepared by its method); the stats, or None."""
    directory = cache_root() / key
    if not (directory / WEIGHTS).exists():
        return None
    from safetensors.torch import load_model

    load_model(model, str(directory / WEIGHTS), strict=True)
    return json.loads((directory / STATS).read_text())


def store_trained(model, key: str, stats: dict) -> None:
    """Save weights and stats into a temporary folder, then rename: never half a cache entry."""
    from safetensors.torch import save_model

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        save_model(model, str(staging / WEIGHTS), force_contiguous=True)
        (staging / STATS).write_text(json.dumps(stats))
        os.replace(staging, root / key)
    except OSError:
        # Another process stored the same key first (rename onto a non-empty folder): keep theirs.
        shutil.rmtree(staging, ignore_errors=True)
