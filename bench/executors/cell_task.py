"""What a Ray task does on its node: one cell in its own process, its record returned, not written.

The cell runs exactly as under the local executor (bench/executors/process.py: `python -m
bench.runner`, a timeout, killed with its task), so an OOM, a crash or a timeout fails that
cell alone and its peak memory is its own. Its record goes to a scratch folder of the node and
comes back to the driver, which writes it into the records folder: the node needs no access
to it. A process that died without a record gets the crash record the local executor writes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

from bench.errors import INTERRUPTED

INTERRUPTED_RESULT = {"interrupted": True}  # the cell process got Ctrl-C: no record, the next run computes it


def run_cell_task(payload: dict, *shipped: dict) -> tuple[dict, dict]:
    """(the cell's record, or INTERRUPTED_RESULT; the cache entries its dependents need).

    `payload`: the job (bench/executors/ray.py `_payload`); `shipped`: the entries its producers packed.
    """
    from bench.cell import Cell, result_versions
    from bench.executors import shipping
    from bench.executors.planning import crash_record, crash_status
    from bench.executors.process import run_process
    from bench.storage.store import read_record

    cell, key, timeout = Cell.from_dict(payload["cell"]), payload["key"], payload["timeout"]
    placement = {"name": "ray", "node": socket.gethostname(), "resources": payload["resources"],
                 "gpu_shared": cell.device == "cuda" and payload["resources"].get("num_gpus", 0) < 1}
    if (versions := result_versions()) != payload["versions"]:
        # The key names the driver's versions: a record computed with others would lie about them.
        error = f"this node has {versions}, the driver {payload['versions']}: install the same versions on every node"
        return dict(crash_record(cell, key, payload["versions"], "failed", error, "", 0.0), executor=placement), {}
    placement["installed"] = shipping.install(shipped, payload["needs"])
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-ray-cell-") as scratch, _working_directory(payload["cwd"]):
        path = Path(scratch) / "record.json"
        returncode, stderr = run_process(cell, key, path, payload["data_dir"], timeout, payload["workdir"])
        if returncode in (INTERRUPTED, -signal.SIGINT) and not path.exists():
            return INTERRUPTED_RESULT, {}
        if path.exists():
            record = read_record(path)
        else:
            status, error = crash_status(returncode, timeout)
            record = crash_record(cell, key, payload["versions"], status, error, stderr, time.time() - started)
    record["executor"] = placement
    return record, shipping.pack(payload["ships"])


@contextlib.contextmanager
def _working_directory(path: str):
    """Run the cell from the driver's working directory where this node has it (relative model
    paths in a cell are the user's, as under the local executor); else from the worker's own."""
    before = os.getcwd()
    if os.path.isdir(path):
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
