"""Cache entries that travel with a task's result, for nodes that share no cache folder.

A producer cell (bench/executors/producers.py) packs the entries its dependents need (a
teacher's or a trained prefix's weights: bench/storage/cache.py) into its Ray task's second
result; Ray hands that object to each dependent's node, which installs the entries missing
from its own cache before its cell starts. The cell then loads them as from any cache entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

Entries = dict[str, dict[str, bytes]]  # cache key -> file name -> content (the manifest aside: rebuilt)


def pack(keys: Iterable[str]) -> Entries:
    """The intact entries of `keys` in this node's cache (a missing or corrupt one is left out)."""
    from bench.storage.cache import MANIFEST, cache_folder, open_entry

    root, entries = cache_folder(), {}
    with _holding(root):
        for key in keys:
            directory = open_entry(root / key)
            if directory is not None:
                entries[key] = {p.name: p.read_bytes() for p in directory.iterdir()
                                if p.is_file() and p.name != MANIFEST}
    return entries


def install(shipped: Iterable[Entries], keys: Iterable[str]) -> list[str]:
    """Put the shipped entries of `keys` that this node's cache lacks into it; the keys installed."""
    from bench.storage.cache import cache_folder, open_entry, store_entry

    root, wanted, installed = cache_folder(), set(keys), []
    with _holding(root):
        for entries in shipped:
            for key, files in entries.items():
                if key in wanted and key not in installed and open_entry(root / key) is None:
                    store_entry(root / key, _writer(files))  # its manifest is recomputed from the files
                    installed.append(key)
    return installed


def _writer(files: dict[str, bytes]):
    def write(folder: Path) -> None:
        for name, content in files.items():
            (folder / name).write_bytes(content)

    return write


@contextmanager
def _holding(root: Path):
    """Hold the cache folder (a shared lock: `bench cache clean` deletes nothing meanwhile) for a
    block only: a Ray worker lives on after its task and must not keep the cache held."""
    from bench.storage.cache import hold

    fd = hold(root, exclusive=False)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)
