"""Records folders hold temporary files and locks beside the records: readers skip them, runs clean
the temporary files that killed writers left."""

from __future__ import annotations

import json
import os
import time

from bench.storage.lock import this_host
from bench.storage.store import load_records, record_paths, records_frame, write_record
from tests.test_store_lock import dead_pid


def record(seed: int) -> dict:
    config = {"task": "glue-rte", "model": "m", "seed": seed, "device": "cpu", "arch_only": False,
              "budget": {"train_limit": None, "epochs": 1, "max_steps": 2, "eval_limit": None}}
    return {"key": f"k{seed}", "status": "success", "config": config, "metrics": {"accuracy": 0.5}}


def age(path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_readers_skip_temporary_files_and_locks(tmp_path):
    write_record(tmp_path / "cell-a.json", record(0))
    write_record(tmp_path / "cell-b.json", record(1))
    # What a writer killed mid-write leaves: a partial temporary file and a complete one.
    (tmp_path / f".tmp-{this_host()}-123-abcd1234.json").write_text('{"key": "k0", "status": "succ')
    (tmp_path / f".tmp-{this_host()}-124-abcd1235.json").write_text(json.dumps(record(0)))
    (tmp_path / ".lock-cell-c.json").write_text(json.dumps({"pid": 1, "host": "h", "started": 0}))
    assert [p.name for p in record_paths(tmp_path)] == ["cell-a.json", "cell-b.json"]
    assert sorted(r["key"] for r in load_records(tmp_path)) == ["k0", "k1"]
    frame = records_frame(tmp_path)
    assert sorted(frame["seed"]) == [0, 1]


def test_write_record_names_its_temporary_file_after_its_writer(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(source, target):
        seen.append(os.path.basename(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    write_record(tmp_path / "cell.json", record(0))
    (name,) = seen
    assert name.startswith(f".tmp-{this_host()}-{os.getpid()}-") and name.endswith(".json")
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]


def test_a_run_cleans_temporary_files_of_gone_or_old_writers(tmp_path):
    from bench.executors.local import run_matrix

    host, gone = this_host(), dead_pid()
    files = {
        "gone writer": f".tmp-{host}-{gone}-aaaaaaaa.json",
        "live writer": f".tmp-{host}-{os.getpid()}-bbbbbbbb.json",
        "other host, fresh": ".tmp-other-host-7-cccccccc.json",
        "other host, old": ".tmp-other-host-8-dddddddd.json",
        "old, no writer in its name": ".tmp-eeeeeeee.json",
        "fresh, no writer in its name": ".tmp-ffffffff.json",
    }
    for name in files.values():
        (tmp_path / name).write_text("{")
    age(tmp_path / files["other host, old"], 2 * 3600)
    age(tmp_path / files["old, no writer in its name"], 2 * 3600)
    write_record(tmp_path / "cell.json", record(0))

    assert run_matrix([], tmp_path, progress=False) == []
    left = {p.name for p in tmp_path.iterdir()}
    kept = ("live writer", "other host, fresh", "fresh, no writer in its name")
    assert left == {"cell.json", *(files[k] for k in kept)}


def test_records_are_readable_like_any_file_the_user_writes(tmp_path):
    import os
    import stat

    from bench.storage.store import write_record

    umask = os.umask(0o022)
    try:
        write_record(tmp_path / "r.json", {"status": "success"})
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644
