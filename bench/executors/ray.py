"""`bench run --executor ray`: every cell a Ray task on an existing cluster (or a local Ray).

Connects to `--ray-address`, else RAY_ADDRESS, else a cluster started on this machine with
`ray start`, else starts a local Ray and stops it at the end. Each cell is one task asking for
what it needs (bench/executors/resources.py: CPUs = its torch threads, a 1/--cells-per-gpu share
of a GPU for cuda cells, memory where similar records know it) and runs the cell in its own
process on its node, as the local executor does (bench/executors/cell_task.py).

Guarantees, as under `local`:
- The records: the task returns its record and this driver writes it into the records folder
  (content-addressed, atomic), so the nodes need no shared filesystem. Finished cells are
  skipped before anything is scheduled. A cell is written at most once: only the first result
  of a key is written, and Ray returns one result per task even when it retried it after a
  lost worker or node. A task that fails past its retries gets a `failed` record.
- Shared records folders: this driver locks each cell it schedules (bench/storage/lock.py);
  cells another run holds are waited for at the end, as the local executor does.
- Ctrl-C cancels the running tasks (their cell processes are killed) and writes nothing more:
  every record written is complete, the interrupted cells have none and run next time.
- Same keys, identities and deterministic fields: the plan (bench/executors/planning.py) and
  the cell process are the local executor's; the node's torch and transformers must be the
  driver's (a task on a node with other versions fails its cell and says so).

Shared training artifacts (bench/executors/producers.py). A matrix of 10 KD cells of one
teacher trains the teacher once: the first of them (or the matrix's `full-ft` cell of that
model, task, budget and seed: it trains the same cache key) is the producer and runs first;
the other nine are submitted when it is done. Across nodes the producer's task ships the
teacher's cache entry along with its record (bench/executors/shipping.py): Ray moves it to
each dependent's node, which installs it in its own cache (BENCH_CACHE) before the cell starts,
so no node retrains it. Limits: the dependents wait for the producer's whole cell, not only
its teacher; the entry travels through Ray's object store, which must hold it (a full model:
440 MB for BERT-base; LoRA or BitFit prefixes are small deltas); teacher outputs (logits,
beams) are not shipped but rebuilt once per node (one teacher pass); a producer whose task
is lost ships nothing, and then each dependent that finds no entry trains its own. An entry
already in a node's cache is used as is; one only in the driver's cache is not shipped.

Data and model paths in the cells are the driver's: each node must have them at the same
paths (or use hub names), and the harness installed (the same checkout or version).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.executors.cell_task import INTERRUPTED_RESULT, run_cell_task
from bench.executors.planning import Job, Outcome, absolute, crash_record, last_error_line, plan
from bench.storage.store import write_record

RETRIES = 3  # Ray resubmits a task whose worker or node died this many times (the cell is still written once)
WAIT_S = 1.0  # the progress line refreshes at least this often
CANCEL_WAIT_S = 30.0  # after Ctrl-C, how long the cancelled tasks get to kill their cell processes


def connect(address: str | None = None):
    """The `ray` module, connected; and whether this call started it (then `ray.shutdown()` ends it)."""
    from bench.errors import UsageError

    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'efficient-nlp-bench[ray]'") from None
    if ray.is_initialized():  # a caller (a notebook, the tests) connected already
        return ray, False
    import logging

    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise UsageError(f"cannot reach the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: {error}") \
            from None
    return ray, True


def run_matrix(cells: list, records_dir, *, data_dir=None, timeout: float | None = None, workdir=None,
               progress: bool = True, address: str | None = None, cells_per_gpu: int = 1) -> list[Outcome]:
    """Run every cell not yet recorded in `records_dir` on Ray; the outcomes in the order of `cells`."""
    from bench.executors.local import wait_for_other_run
    from bench.storage.lock import acquire, release
    from bench.storage.store import clean_stale_temps, lock_path

    jobs = plan(cells, records_dir, data_dir=data_dir, timeout=timeout, workdir=workdir)
    records_dir = Path(absolute(records_dir))
    records_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(records_dir)
    outcomes: dict[int, Outcome] = {}
    first: dict[Path, int] = {}  # a cell listed twice runs once
    for index, job in enumerate(jobs):
        if job.recorded:
            outcomes[index] = Outcome(job.cell, job.path, "success", cached=True)
        else:
            first.setdefault(job.path, index)
    locked, held = [], []  # cells this run holds; cells another run holds (waited for at the end)
    for index in first.values():
        # No timeout in the lock: a task may wait in Ray's queue for long before its cell starts.
        (locked if acquire(lock_path(jobs[index].path)) else held).append(index)
    ray, started, run = None, False, None
    try:
        if locked:  # nothing to compute: Ray is not even reached
            ray, started = connect(address)
            run = _Run(ray, jobs, locked, records_dir, cells_per_gpu, progress, len(outcomes))
            outcomes.update(run.until_done())
        for index in held:
            outcomes[index] = wait_for_other_run(jobs[index])
    finally:
        for index in locked:
            release(lock_path(jobs[index].path))
        if run:
            run.bar.close()
        if started:
            ray.shutdown()
    for index, job in enumerate(jobs):  # the repeats of a cell: the record its first listing got
        if index not in outcomes:
            outcomes[index] = Outcome(job.cell, job.path, outcomes[first[job.path]].status, cached=True)
    return [outcomes[i] for i in range(len(jobs))]


class _Run:
    """The tasks of one run: each submitted when its producers are done, each result written once."""

    def __init__(self, ray, jobs: list[Job], indices: list[int], records_dir: Path, cells_per_gpu: int,
                 progress: bool, recorded: int):
        from tqdm import tqdm

        from bench.executors.producers import schedule
        from bench.executors.resources import cell_resources

        self.ray, self.jobs, self.indices = ray, [jobs[i] for i in indices], indices
        cells = [job.cell for job in self.jobs]
        self.schedule = schedule(cells, jobs[indices[0]].versions)
        self.resources = _feasible(ray, cell_resources(cells, records_dir, cells_per_gpu))
        self.remote = ray.remote(run_cell_task)
        self.blocked = [len(after) for after in self.schedule.after]  # producers not yet done
        self.unsubmitted_dependents = [len(self.schedule.dependents(i)) for i in range(len(cells))]
        self.entries: dict[int, object] = {}  # producer -> the ObjectRef of the entries it shipped
        self.running: dict[object, int] = {}  # record ObjectRef -> cell
        self.written: set[Path] = set()
        self.outcomes: dict[int, Outcome] = {}
        self.shown = ""
        self.bar = tqdm(total=recorded + len(cells), initial=recorded, disable=not progress, unit="cell",
                        file=sys.stderr, dynamic_ncols=True, desc="ray")

    def until_done(self) -> dict[int, Outcome]:
        """Every cell's outcome, by its index in the matrix; Ctrl-C cancels what runs and re-raises."""
        try:
            for index in range(len(self.jobs)):
                if not self.blocked[index]:
                    self._submit(index)
            while self.running:
                self._show()
                done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=WAIT_S)
                for ref in done:
                    self._finish(self.running.pop(ref), ref)
            self._show()
        except KeyboardInterrupt:
            self._cancel()
            raise
        return {self.indices[i]: outcome for i, outcome in self.outcomes.items()}

    def _submit(self, index: int) -> None:
        job, after = self.jobs[index], self.schedule.after[index]
        shipped = [self.entries[p] for p in after if self.entries.get(p) is not None]
        payload = _payload(job, self.resources[index], self.schedule.needs[index].keys, self.schedule.ships[index])
        options = dict(self.resources[index].ray_options(), num_returns=2, max_retries=RETRIES,
                       name=f"bench {job.cell.slug()}")
        record_ref, entries_ref = self.remote.options(**options).remote(payload, *shipped)
        self.running[record_ref] = index
        if self.schedule.ships[index]:
            self.entries[index] = entries_ref
        for producer in after:  # an entry no dependent still waits for leaves the object store
            self.unsubmitted_dependents[producer] -= 1
            if not self.unsubmitted_dependents[producer]:
                self.entries.pop(producer, None)

    def _finish(self, index: int, ref) -> None:
        job = self.jobs[index]
        try:
            record = self.ray.get(ref)
        except self.ray.exceptions.RayError as error:  # lost past its retries: the cell fails, the run goes on
            self.entries[index] = None  # its entries are lost too: dependents build their own
            message = f"its Ray task failed (a lost worker is retried {RETRIES} times): {type(error).__name__}: {error}"
            record = crash_record(job.cell, job.key, job.versions, "failed", message[:4000], "", 0.0)
        if record == INTERRUPTED_RESULT:
            raise KeyboardInterrupt  # Ctrl-C reached the cell's process: stop, as the local executor does
        if job.path not in self.written:  # the first result of a key is its record
            write_record(job.path, record)
            self.written.add(job.path)
        status = record["status"]
        if status != "success":
            self.bar.write(f"cell {job.cell.slug()} {status}: {last_error_line(record)}", file=sys.stderr)
        self.outcomes[index] = Outcome(job.cell, job.path, status, cached=False)
        self.bar.update(1)
        for dependent in self.schedule.dependents(index):
            self.blocked[dependent] -= 1
            if not self.blocked[dependent]:
                self._submit(dependent)

    def _show(self) -> None:
        """The counts in the bar's postfix: on a terminal every second (the clock moves), in a log
        (where each refresh is a new line) only when a count changes."""
        failed = sum(o.status != "success" for o in self.outcomes.values())
        waiting = sum(1 for i, b in enumerate(self.blocked) if b and i not in self.outcomes)
        text = f"{len(self.running)} running or queued, {waiting} after a producer, {failed} failed"
        if text != self.shown or sys.stderr.isatty():
            self.shown = text
            self.bar.set_postfix_str(text)

    def _cancel(self) -> None:
        """Cancel every task (a running one gets KeyboardInterrupt and kills its cell process) and
        give them a moment to do so: a driver that stops Ray at once would orphan those processes."""
        refs = list(self.running)
        for ref in refs:
            self.ray.cancel(ref)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S)


def _payload(job: Job, resources, needs: tuple[str, ...], ships: tuple[str, ...]) -> dict:
    """What a task gets to run its cell (plain data: it travels to any node)."""
    return {"cell": job.cell.to_dict(), "key": job.key, "versions": job.versions, "data_dir": job.data_dir,
            "timeout": job.timeout, "workdir": job.workdir, "cwd": os.getcwd(), "needs": list(needs),
            "ships": list(ships), "resources": resources.ray_options()}


def _feasible(ray, resources: list) -> list:
    """Memory asks capped at the largest node's: an estimate from records must not make a cell
    unschedulable (CPUs and GPUs are the user's to ask; Ray waits for a node that has them)."""
    import dataclasses

    largest = max((node["Resources"].get("memory", 0) for node in ray.nodes() if node.get("Alive")), default=0)
    return [dataclasses.replace(r, memory=min(r.memory, int(largest)) or None) if r.memory else r
            for r in resources]


def placements(jobs: list[Job], records_dir, cells_per_gpu: int = 1) -> list[str]:
    """For `--dry-run`: what each job's task asks for, and the producers it runs after (named by
    their record's name: a slug alone does not tell two chains' options apart)."""
    from bench.executors.producers import schedule
    from bench.executors.resources import cell_resources

    if not jobs:
        return []
    cells = [job.cell for job in jobs]
    after = schedule(cells, jobs[0].versions).after
    return [resources.describe() + (f"; after {', '.join(jobs[p].path.stem for p in sorted(after[i]))}"
                                    if after[i] else "")
            for i, resources in enumerate(cell_resources(cells, records_dir, cells_per_gpu))]
