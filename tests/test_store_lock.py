"""Cell locks (bench/storage/lock.py): one holder at a time, stale holders taken over by exactly one taker."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from bench.storage.lock import GRACE_S, acquire, is_stale, process_gone, release, this_host

RACERS = 8


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def write_lock(path, pid, host=None, started=None, timeout=None):
    path.write_text(json.dumps({"pid": pid, "host": host or this_host(), "started": started or time.time(),
                                "timeout": timeout}))


def holder(path) -> dict:
    return json.loads(path.read_text())


def test_a_free_lock_is_acquired_with_its_holder_and_released(tmp_path):
    lock = tmp_path / ".lock-cell.json"
    assert acquire(lock, timeout=30)
    info = holder(lock)
    assert info["pid"] == os.getpid() and info["host"] == this_host() and info["timeout"] == 30
    assert abs(info["started"] - time.time()) < 60
    assert not acquire(lock)  # held (by this very process): not a second time
    release(lock)
    assert not lock.exists()


def test_a_live_holder_keeps_its_lock_and_release_leaves_it_alone(tmp_path, live_pid):
    lock = tmp_path / ".lock-cell.json"
    write_lock(lock, live_pid)
    before = lock.read_text()
    assert not acquire(lock)
    release(lock)  # not ours
    assert lock.read_text() == before


def test_a_lock_whose_holder_died_is_taken_over(tmp_path):
    lock = tmp_path / ".lock-cell.json"
    write_lock(lock, dead_pid())
    assert acquire(lock)
    assert holder(lock)["pid"] == os.getpid()
    assert not (tmp_path / ".lock-cell.json.takeover").exists()


def test_a_live_holder_past_its_timeout_and_grace_is_stale(tmp_path, live_pid):
    lock = tmp_path / ".lock-cell.json"
    write_lock(lock, live_pid, started=time.time() - GRACE_S - 20, timeout=10)
    assert is_stale(lock, lock.read_text())
    write_lock(lock, live_pid, started=time.time() - GRACE_S - 20, timeout=None)  # no timeout: its life bounds it
    assert not is_stale(lock, lock.read_text())
    write_lock(lock, live_pid, started=time.time() - GRACE_S - 20, timeout=10)
    assert acquire(lock) and holder(lock)["pid"] == os.getpid()


def test_holders_on_other_hosts_are_never_judged_dead(tmp_path):
    lock = tmp_path / ".lock-cell.json"
    write_lock(lock, dead_pid(), host="another-machine")
    assert not process_gone("another-machine", 1)
    assert not acquire(lock)


def test_an_unwritten_lock_is_stale_only_once_old(tmp_path):
    lock = tmp_path / ".lock-cell.json"
    lock.write_text("")  # created, its writer died before writing
    assert not acquire(lock)
    old = time.time() - 60
    os.utime(lock, (old, old))
    assert acquire(lock)


def _contend(path, barrier, results):
    """One racer: wait for all, try once, report, and stay alive until all have tried (a dead
    winner's lock would be stale and rightly taken over by a slower racer)."""
    barrier.wait()
    results.put(acquire(path))
    barrier.wait()


@pytest.mark.parametrize("initial", ["free", "stale"])
def test_racing_processes_exactly_one_wins(tmp_path, initial):
    lock = tmp_path / ".lock-cell.json"
    if initial == "stale":
        write_lock(lock, dead_pid())
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    racers = [context.Process(target=_contend, args=(lock, barrier, results)) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    wins = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(timeout=60)
    assert wins.count(True) == 1, wins
    assert holder(lock)["pid"] in {r.pid for r in racers}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock-cell.json"]
