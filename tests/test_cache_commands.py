"""`bench cache list|size|clean`, run as a user runs it: what the cache holds, by kind and age,
and cleaning that deletes old entries only, and nothing while a running cell holds the cache."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.as_user import bench as run_bench

DAY = 86400


def bench(args, cwd: Path, cache: Path):
    return run_bench(args, cwd, BENCH_CACHE=str(cache))


def entry(cache: Path, name: str, size: int, days_old: float) -> Path:
    folder = cache / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x" * size)
    (folder / "manifest.json").write_text("{}")
    then = time.time() - days_old * DAY
    for path in (*folder.iterdir(), folder):
        os.utime(path, (then, then))
    return folder


def fill(cache: Path) -> None:
    entry(cache, "train-" + "a" * 64, 3 * 2**20, days_old=10)
    entry(cache, "train-" + "b" * 64, 2**20, days_old=0)
    entry(cache, "targets-teacher", 2048, days_old=40)
    entry(cache, "tokenizer-" + "c" * 64, 100, days_old=2)


def test_list_and_size_show_entries_by_kind_size_and_age(tmp_path):
    cache = tmp_path / "cache"
    fill(cache)
    done = bench(["cache", "list"], tmp_path, cache)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"cache {cache}: 4 entries"
    assert [line.split()[0] for line in lines[1:]] == ["targets", "train", "tokenizer", "train"]  # oldest first
    assert "3.0 MiB" in lines[2] and "10.0 days" in lines[2]
    done = bench(["cache", "size"], tmp_path, cache)
    assert done.stdout.splitlines()[0] == f"cache {cache}: 4.0 MiB in 4 entries"
    assert any(line.split()[:3] == ["train", "4.0", "MiB"] for line in done.stdout.splitlines())


def test_clean_older_than_deletes_only_old_entries(tmp_path):
    cache = tmp_path / "cache"
    fill(cache)
    done = bench(["cache", "clean", "--older-than", "5", "--dry-run"], tmp_path, cache)
    assert done.returncode == 0 and "would delete 2 entries" in done.stdout
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 4
    done = bench(["cache", "clean", "--older-than", "5"], tmp_path, cache)
    assert done.returncode == 0 and "deleted 2 entries, 3.0 MiB" in done.stdout
    assert sorted(p.name.split("-")[0] for p in cache.iterdir() if p.is_dir()) == ["tokenizer", "train"]
    assert bench(["cache", "clean"], tmp_path, cache).returncode == 0
    assert [p for p in cache.iterdir() if p.is_dir()] == []


def test_clean_deletes_nothing_while_a_running_cell_holds_the_cache(tmp_path):
    cache = tmp_path / "cache"
    fill(cache)
    # A cell process: whatever reads or writes an entry takes the cache folder first.
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from bench.storage.cache import cache_root; "
                               "cache_root(); print('held', flush=True); time.sleep(60)"],
                              env={**os.environ, "BENCH_CACHE": str(cache)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = bench(["cache", "clean"], tmp_path, cache)
        assert done.returncode == 2 and "in use by a running cell" in done.stderr
        assert len([p for p in cache.iterdir() if p.is_dir()]) == 4
    finally:
        holder.kill()
        holder.wait()
    assert bench(["cache", "clean"], tmp_path, cache).returncode == 0  # the holder is gone: its lock with it
    assert [p for p in cache.iterdir() if p.is_dir()] == []


def test_an_empty_or_missing_cache(tmp_path):
    assert bench(["cache", "list"], tmp_path, tmp_path / "none").stdout.startswith(f"cache {tmp_path / 'none'}: 0 entries")
    done = bench(["cache", "clean", "--older-than", "-1"], tmp_path, tmp_path / "none")
    assert done.returncode == 2 and "--older-than" in done.stderr
