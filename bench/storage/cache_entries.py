"""`bench cache list|size|clean`: what the cache holds, and freeing it safely.

The cache (BENCH_CACHE, default ~/.cache/bench) holds only what cells can rebuild: trained
prefixes (`train-*`), teacher outputs (`targets-*`), sequence-KD beams and top-k logits
(`beams-*`, `topk-*`), CoT teachers' rationales (`rationales-*`), masked-LM language adapters (`mlm-*`) and subword tokenizers
(`tokenizer-*`). Deleting an entry costs the next cell that needs it the time to rebuild
it, never a result. Every process that reads or writes an entry holds the cache folder
(a shared flock on the folder, bench/storage/cache.py), so `clean` deletes nothing while a run uses it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.storage.cache import STAGING_PREFIX

DAY_S = 86400.0


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    kind: str  # the name's prefix: train, targets, tokenizer, ...; "building" for a staging folder
    bytes: int
    modified: float  # newest modification time of the folder or its files (written, not read)

    @property
    def age_days(self) -> float:
        return max(0.0, time.time() - self.modified) / DAY_S


def entries(root: Path) -> list[CacheEntry]:
    """Every entry of the cache folder, oldest first; staging folders of writers count too."""
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if not path.is_dir():
            continue  # entries are folders
        files = [p for p in path.rglob("*") if p.is_file()]
        stats = [f.stat() for f in files]
        modified = max([path.stat().st_mtime, *(s.st_mtime for s in stats)])
        kind = "building" if path.name.startswith(STAGING_PREFIX) else path.name.split("-", 1)[0]
        found.append(CacheEntry(path, kind, sum(s.st_size for s in stats), modified))
    return sorted(found, key=lambda e: e.modified)


def human(size: float) -> str:
    """Bytes as a reader wants them: '812 B', '87.3 MiB', '1.2 GiB'."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


def list_text(root: Path) -> str:
    found = entries(root)
    lines = [f"{e.kind:<10} {human(e.bytes):>10} {e.age_days:7.1f} days  {e.path.name}" for e in found]
    return "\n".join([f"cache {root}: {len(found)} entr{'y' if len(found) == 1 else 'ies'}", *lines])


def size_text(root: Path) -> str:
    found = entries(root)
    kinds: dict[str, list[CacheEntry]] = {}
    for entry in found:
        kinds.setdefault(entry.kind, []).append(entry)
    lines = [f"{kind:<10} {human(sum(e.bytes for e in group)):>10}  {len(group)} entries"
             for kind, group in sorted(kinds.items())]
    return "\n".join([f"cache {root}: {human(sum(e.bytes for e in found))} in {len(found)} entries", *lines])


def clean(root: Path, older_than_days: float = 0.0, dry_run: bool = False) -> str:
    """Delete the entries written more than `older_than_days` ago, unless a run holds the cache."""
    from bench.storage.cache import hold

    if older_than_days < 0:
        raise UsageError(f"--older-than: a number of days >= 0, got {older_than_days:g}")
    if not root.is_dir():
        return f"cache {root}: empty; nothing deleted"
    lock = hold(root, exclusive=True)  # held while listing too: no run can start an entry meanwhile
    if lock is None:
        raise UsageError(f"cache {root} is in use by a running cell (bench run); nothing deleted. "
                         "Try again when the run has finished")
    try:
        old = [e for e in entries(root) if e.age_days >= older_than_days]
        if not dry_run:
            for entry in old:
                shutil.rmtree(entry.path, ignore_errors=True)
    finally:
        os.close(lock)
    if not old:
        return f"cache {root}: nothing written more than {older_than_days:g} days ago; nothing deleted"
    verb = "would delete" if dry_run else "deleted"
    return f"cache {root}: {verb} {len(old)} entries, {human(sum(e.bytes for e in old))}"
