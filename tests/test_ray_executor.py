"""`--executor ray`: the local executor's records and guarantees, on a local Ray (2 CPUs, tiny cells).

The cluster tests skip when Ray is not installed (the `ray` extra); the plan, resources and
shipping of cache entries are checked without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.storage.store import load_records, record_paths
from tests.test_executor_cli import run_cli

DETERMINISTIC = ("key", "identity", "chain_label", "config", "params", "flops", "metrics", "status")
KD = ["kd-soft(student=truncate:1)", "kd-soft(student=truncate:1,alpha=0.9)", "kd-hard(student=truncate:1)"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray for the module; its workers (and their cells) use a cache of their own."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    previous = os.environ.get("BENCH_CACHE")
    os.environ["BENCH_CACHE"] = str(tmp_path_factory.mktemp("ray-cache"))  # inherited by Ray's workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield Path(os.environ["BENCH_CACHE"])
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("BENCH_CACHE", None)
        else:
            os.environ["BENCH_CACHE"] = previous


@pytest.fixture(scope="module")
def cells(fast_spec):
    from bench.spec import expand

    return expand(fast_spec(methods=["full-ft", "bitfit"], measure=dict(fast_spec()["measure"], latency="off")))


@pytest.fixture(scope="module")
def ray_records(cluster, cells, tiny_glue_dir, tmp_path_factory):
    from bench.executors.ray import run_matrix

    records = tmp_path_factory.mktemp("ray-records")
    outcomes = run_matrix(cells, records, data_dir=str(tiny_glue_dir), progress=False)
    assert [o.status for o in outcomes] == ["success", "success"]
    return records


@pytest.fixture
def writes(monkeypatch):
    """The record paths the Ray driver writes, in order."""
    from bench.executors import ray as executor

    written = []
    original = executor.write_record

    def counting(path, record):
        written.append(Path(path))
        original(path, record)

    monkeypatch.setattr(executor, "write_record", counting)
    return written


def by_identity(records_dir) -> dict:
    return {r["identity"]: r for r in load_records(records_dir)}


def test_records_equal_the_local_executors(ray_records, cells, tiny_glue_dir, tmp_path, monkeypatch):
    from bench.executors.local import run_matrix

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "local-cache"))  # trained here, not loaded from Ray's run
    run_matrix(cells, tmp_path / "local", data_dir=str(tiny_glue_dir), progress=False)
    local, ray = by_identity(tmp_path / "local"), by_identity(ray_records)
    assert local.keys() == ray.keys() and len(local) == 2
    assert sorted(p.name for p in record_paths(tmp_path / "local")) == sorted(p.name for p in record_paths(ray_records))
    for identity, record in local.items():
        assert {f: record[f] for f in DETERMINISTIC} == {f: ray[identity][f] for f in DETERMINISTIC}
        assert not record["training"][0].get("from_cache") and not ray[identity]["training"][0].get("from_cache")
        assert ray[identity]["executor"]["resources"] == {"num_cpus": 1, "num_gpus": 0}


def test_rerunning_schedules_nothing(ray_records, cells, tiny_glue_dir, monkeypatch, writes):
    from bench.executors import ray as executor

    def no_cluster(address=None):
        raise AssertionError("a finished matrix must not reach Ray")

    monkeypatch.setattr(executor, "connect", no_cluster)
    before = {p: p.stat().st_mtime_ns for p in record_paths(ray_records)}
    outcomes = executor.run_matrix(cells + cells[:1], ray_records, data_dir=str(tiny_glue_dir), progress=False)
    assert [(o.status, o.cached) for o in outcomes] == [("success", True)] * 3
    assert writes == [] and {p: p.stat().st_mtime_ns for p in record_paths(ray_records)} == before


def test_a_killed_cell_process_fails_its_cell_and_is_written_once(cluster, cells, tiny_glue_dir, tmp_path,
                                                                  monkeypatch, writes):
    from bench.executors import ray as executor

    task = executor.run_cell_task

    def killing_its_cell(payload, *shipped):  # runs on the worker: the cell process gets SIGKILL half a second in
        import signal
        import subprocess
        import threading

        started = subprocess.Popen

        class Killed(started):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                threading.Timer(0.5, self.send_signal, [signal.SIGKILL]).start()

        subprocess.Popen = Killed
        try:
            return task(payload, *shipped)
        finally:
            subprocess.Popen = started

    monkeypatch.setattr(executor, "run_cell_task", killing_its_cell)
    (outcome,) = executor.run_matrix(cells[:1], tmp_path / "records", data_dir=str(tiny_glue_dir), progress=False)
    (record,) = load_records(tmp_path / "records")
    assert outcome.status == record["status"] == "oom" and "SIGKILL" in record["error"]
    assert writes == [outcome.path]


def test_a_lost_worker_is_retried_and_its_cell_written_once(cluster, cells, tiny_glue_dir, tmp_path, monkeypatch,
                                                           writes):
    from bench.executors import ray as executor

    task, crashed = executor.run_cell_task, tmp_path / "crashed"

    def dying_once(payload, *shipped):  # the worker process dies on the first attempt: Ray retries the task
        import signal

        if not crashed.exists():
            crashed.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return task(payload, *shipped)

    monkeypatch.setattr(executor, "run_cell_task", dying_once)
    (outcome,) = executor.run_matrix(cells[1:], tmp_path / "records", data_dir=str(tiny_glue_dir), progress=False)
    assert crashed.exists() and outcome.status == "success"
    assert writes == [outcome.path] and len(load_records(tmp_path / "records")) == 1


def stub_record(payload: dict) -> dict:
    """What a task returns when no cell process runs (the driver only needs a status)."""
    return {"status": "success", "key": payload["key"], "config": payload["cell"]}


def test_a_cell_listed_twice_is_computed_and_written_once(cluster, cells, tiny_glue_dir, tmp_path, monkeypatch,
                                                          writes):
    from bench.executors import ray as executor

    calls = tmp_path / "calls"
    calls.mkdir()

    def counted(payload, *shipped):
        import tempfile

        tempfile.mkstemp(dir=calls)
        return stub_record(payload), {}

    monkeypatch.setattr(executor, "run_cell_task", counted)
    outcomes = executor.run_matrix([cells[0]] * 2, tmp_path / "records", data_dir=str(tiny_glue_dir), progress=False)
    assert [(o.status, o.cached) for o in outcomes] == [("success", False), ("success", True)]
    assert len(list(calls.iterdir())) == 1 and writes == [outcomes[0].path]


def test_ctrl_c_cancels_the_running_cells_and_writes_nothing_more(cluster, cells, tiny_glue_dir, tmp_path,
                                                                   monkeypatch):
    """Ctrl-C once the first record is written: the other cell's task is cancelled, its process killed."""
    import time

    from bench.executors import ray as executor

    started = tmp_path / "started"
    started.mkdir()

    def one_quick_one_slow(payload, *shipped):
        import subprocess

        from bench.executors.process import _wait

        if payload["cell"]["chain"][0]["method"] == "full-ft":
            return stub_record(payload), {}
        process = subprocess.Popen(["sleep", "60"])  # a cell process, waited for as run_process does
        (started / str(process.pid)).touch()
        _wait(process, None, lambda: None)
        return stub_record(payload), {}

    written = executor.write_record

    def then_ctrl_c(path, record):
        written(path, record)
        deadline = time.monotonic() + 30
        while not any(started.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise KeyboardInterrupt

    monkeypatch.setattr(executor, "run_cell_task", one_quick_one_slow)
    monkeypatch.setattr(executor, "write_record", then_ctrl_c)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        executor.run_matrix(cells, tmp_path / "records", data_dir=str(tiny_glue_dir), progress=False)
    assert time.monotonic() - began < 30
    (pid,) = [int(p.name) for p in started.iterdir()]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed with its task
    (record,) = load_records(tmp_path / "records")
    assert record["config"]["chain"][0]["method"] == "full-ft"
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == [record_paths(tmp_path / "records")[0].name]


def test_kd_cells_train_their_teacher_once_and_ship_it_to_other_nodes(cluster, fast_spec, tiny_glue_dir, tmp_path,
                                                                      monkeypatch):
    """Three KD cells of one teacher: the first trains it, the others run after it, each as on a
    node of its own (an empty cache), where the teacher arrives with the producer's result."""
    from bench.executors import ray as executor
    from bench.spec import expand

    task, nodes = executor.run_cell_task, tmp_path / "nodes"

    def on_a_fresh_node(payload, *shipped):
        import tempfile

        if not shipped:  # the producer: the cluster's cache
            return task(payload, *shipped)
        before = os.environ["BENCH_CACHE"]
        os.environ["BENCH_CACHE"] = tempfile.mkdtemp(dir=nodes)  # read by the install and the cell's process
        try:
            return task(payload, *shipped)
        finally:
            os.environ["BENCH_CACHE"] = before

    nodes.mkdir()
    monkeypatch.setattr(executor, "run_cell_task", on_a_fresh_node)
    quiet = dict(fast_spec()["measure"], latency="off")
    kd = expand(fast_spec(methods=KD, seeds=[7], measure=quiet))  # a seed no other test trains: no cached teacher
    outcomes = executor.run_matrix(kd, tmp_path / "records", data_dir=str(tiny_glue_dir), progress=False)
    assert [o.status for o in outcomes] == ["success"] * 3
    records = [next(r for r in load_records(tmp_path / "records") if r["identity"] == o.cell.identity())
               for o in outcomes]
    teachers = [r["stages"]["distillation"]["teachers"][0] for r in records]
    assert len({t["key"] for t in teachers}) == 1
    assert [t["trained_in_this_cell"] for t in teachers] == [True, False, False]
    assert [r["executor"]["installed"] for r in records] == [[], [teachers[0]["key"]], [teachers[0]["key"]]]
    assert len(list(nodes.iterdir())) == 2


def test_the_dry_run_shows_the_plan_and_what_each_cell_asks_for(tmp_path, tiny_model_dir, tiny_glue_dir):
    """No cluster needed: the plan is the executor's, without Ray."""
    records = tmp_path / "records"
    common = ["--task", "glue-rte", "--model", tiny_model_dir, "--data-dir", tiny_glue_dir, "--records", records,
              "--seed", "0", "--device", "cpu", "--dry-run"]
    code, out, err = run_cli(["run", "--method", "kd-soft(student=truncate:1);full-ft;bitfit", "--threads", "2",
                              "--executor", "ray", *common])
    assert code == 0, err
    lines = out.splitlines()
    slugs = [line.split()[2] for line in lines[:3]]
    full_ft = next(slug for slug in slugs if "__full-ft__" in slug)
    kd = lines[slugs.index(next(slug for slug in slugs if "__kd-soft__" in slug))]
    assert kd.startswith("to run") and f"(2 CPUs; after {full_ft}__" in kd  # the full-ft cell trains its teacher
    assert all("(2 CPUs)" in line for line in lines[:3] if line != kd)
    assert lines[3] == f"3 cell(s): 0 already recorded, 3 to run -> {records}"
    assert not records.exists()

    code, _, err = run_cli(["run", "--method", "full-ft", "--cells-per-gpu", "4", *common])
    assert code == 2 and "--cells-per-gpu go with --executor ray" in err


def test_a_cell_asks_for_its_threads_a_gpu_share_and_the_memory_similar_records_peaked(fast_spec, tmp_path):
    import dataclasses

    from bench.executors.resources import cell_resources
    from bench.spec import expand
    from bench.storage.store import write_record

    (cell,) = expand(fast_spec())
    cuda = dataclasses.replace(cell, device="cuda", measure=dataclasses.replace(cell.measure, threads=4, latency="off"))
    write_record(tmp_path / "r.json", {"status": "success", "config": cell.to_dict(), "chain_label": cell.chain_label,
                                       "memory": {"process_peak_rss_bytes": 3 * 2**30}})
    plain, shared = cell_resources([cell, cuda], tmp_path, cells_per_gpu=8)
    assert plain.ray_options() == {"num_cpus": 1, "num_gpus": 0, "memory": 3 * 2**30}
    assert shared.describe() == "4 CPUs, 1/8 GPU, 3.0 GiB"
    assert cell_resources([cell], tmp_path / "none")[0].describe() == "1 CPU"
    # A cuda cell that times latency gets its GPU alone: a figure from a shared device is not the model's.
    timed = dataclasses.replace(cuda, measure=dataclasses.replace(cuda.measure, latency="quick"))
    assert cell_resources([timed], tmp_path, cells_per_gpu=8)[0].describe() == "4 CPUs, 1 GPU, 3.0 GiB"


def test_a_record_from_a_shared_gpu_says_so_and_the_summary_marks_its_timings(fast_spec, tmp_path):
    import dataclasses

    from bench.cell import result_versions
    from bench.executors.cell_task import run_cell_task
    from bench.spec import expand
    from bench.tables.summary import summary

    (cell,) = expand(fast_spec())
    cuda = dataclasses.replace(cell, device="cuda")
    payload = {"cell": cuda.to_dict(), "key": "k" * 64, "versions": {"stale": "versions"}, "data_dir": None,
               "timeout": None, "workdir": str(tmp_path), "cwd": str(tmp_path), "needs": [], "ships": [],
               "resources": {"num_cpus": 1, "num_gpus": 0.125}}
    record, _ = run_cell_task(payload)  # versions differ: refused before any process, but placed
    assert record["executor"]["gpu_shared"] is True
    alone, _ = run_cell_task(dict(payload, resources={"num_cpus": 1, "num_gpus": 1}))
    assert alone["executor"]["gpu_shared"] is False and result_versions() != payload["versions"]
    ran = {"status": "success", "config": cell.to_dict(), "chain_label": "full-ft", "seed": 0, "metrics": {},
           "params": {}, "flops": {}, "memory": {}, "training": [{"wall_s": 12.0}], "latency": {}}
    table = summary([dict(ran, executor={"gpu_shared": True})])
    assert table.rows[0]["train (s)"] == "12*" and table.frame()["train (s)"][0] == 12  # csv and json keep the number
    assert any("asked for a share of a GPU" in note for note in table.notes)
    assert summary([ran]).rows[0]["train (s)"] == "12"


def test_producers_run_first_and_ship_only_what_others_wait_for(fast_spec, tiny_glue_dir):
    from bench.cell import result_versions
    from bench.executors.planning import plan
    from bench.executors.producers import schedule
    from bench.spec import expand

    methods = ["kd-soft(student=truncate:1)", "lora", "full-ft", "lora -> merge-lora", "kd-hard(student=truncate:1)",
               "bitfit"]
    jobs = plan(expand(fast_spec(methods=methods)), "records", data_dir=tiny_glue_dir)
    plan_ = schedule([job.cell for job in jobs], result_versions())
    assert plan_.after == [{2}, set(), set(), {1}, {2}, set()]  # the full-ft cell trains the KD cells' teacher
    assert plan_.ships[2] == plan_.needs[0].teachers and plan_.ships[1] == plan_.needs[1].prefixes
    assert [plan_.ships[i] for i in (0, 3, 4, 5)] == [(), (), (), ()]


def test_a_shipped_cache_entry_is_installed_intact_where_it_is_missing(tmp_path, monkeypatch):
    from bench.executors.shipping import install, pack
    from bench.storage.cache import open_entry, store_entry

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "producer"))
    store_entry(tmp_path / "producer" / "train-abc", lambda folder: (folder / "model.safetensors").write_bytes(b"w"))
    shipped = pack(["train-abc", "train-missing"])
    assert shipped == {"train-abc": {"model.safetensors": b"w"}}
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "other-node"))
    assert install([shipped], ["train-abc"]) == ["train-abc"]
    assert open_entry(tmp_path / "other-node" / "train-abc") is not None
    assert install([shipped], ["train-abc"]) == []  # already there: left as it is
