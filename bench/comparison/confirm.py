"""A latency slowdown seen between two runs, confirmed or dismissed by `bench ab` against the
baseline's own revision.

Two runs an hour apart on a shared machine disagree by more than a regression (identical code
read 1.29x and 1.32x slower here), so `bench baseline check` does not fail on their latency
alone. Where they show a slowdown, it builds the baseline's revision (the git commit its records
name) in a temporary worktree and times both sides interleaved on the flagged cells and shapes
(bench/comparison/ab.py: 0 false alarms and 20 of 20 one-layer slowdowns on this machine,
results/speed/detection.md). A slowdown `bench ab` confirms fails the check; one it does not is
the machine's. Where the revision cannot be built here (a shallow clone, an installed package, a
baseline from uncommitted code) the slowdown stays a warning, and the reason is said.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.errors import UsageError

CHECKOUT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def revision_worktree(revision: str, checkout: Path = CHECKOUT) -> Iterator[Path]:
    """A temporary detached worktree of `revision`, removed afterwards; UsageError when git or
    the revision is not there."""
    with tempfile.TemporaryDirectory(prefix="bench-ab-base-") as folder:
        try:
            added = subprocess.run(["git", "-C", str(checkout), "worktree", "add", "--detach", folder, revision],
                                   capture_output=True, text=True)
        except FileNotFoundError:
            raise UsageError("git is not installed") from None
        if added.returncode != 0:
            raise UsageError(f"revision {revision}: {added.stderr.strip() or 'git worktree add failed'}")
        try:
            yield Path(folder).resolve()
        finally:
            subprocess.run(["git", "-C", str(checkout), "worktree", "remove", "--force", folder], capture_output=True)


def baseline_revision(records) -> tuple[str | None, str | None]:
    """(the one clean git commit the baseline records were made at, or None; why not)."""
    revisions = {((r.provenance.get("git") or {}).get("sha"), bool((r.provenance.get("git") or {}).get("dirty")))
                 for r in records}
    if len(revisions) != 1:
        return None, f"the baseline records name {len(revisions)} revisions"
    ((sha, dirty),) = revisions
    if not sha:
        return None, "the baseline records name no git revision"
    if dirty:
        return None, f"the baseline was made from uncommitted changes on {sha[:12]}"
    return sha, None


def flagged_latency(result) -> dict[str, set[int]]:
    """{cell label: batch sizes} of the latency slowdowns a comparison only warned about."""
    from bench.comparison.difference import WARNING
    from bench.storage.record import parse_latency_key

    flagged: dict[str, set[int]] = {}
    for difference in result.differences:
        if difference.flag == WARNING and difference.quantity.startswith("latency."):
            batch, _ = parse_latency_key(difference.quantity.split(".")[1])
            flagged.setdefault(difference.cell, set()).add(batch)
    return flagged


def confirm(flagged: dict[str, set[int]], baseline_records, say=print) -> tuple[list, str | None]:
    """(the `bench ab` results of the flagged cells, BASE at the baseline's revision against this
    checkout; why nothing could be timed, or None)."""
    from bench.compare import label

    revision, why = baseline_revision(baseline_records)
    if revision is None:
        return [], why
    by_label = {label(record): record for record in baseline_records}
    pairs = []
    for cell_label, batches in sorted(flagged.items()):
        cell = by_label[cell_label].cell
        cell = dataclasses.replace(cell, measure=dataclasses.replace(cell.measure, batch_sizes=tuple(sorted(batches))))
        pairs.append((cell_label, cell, cell))
    try:
        with revision_worktree(revision) as base_dir:
            return time_pairs(pairs, base_dir, CHECKOUT, say), None
    except UsageError as error:
        return [], f"the baseline's revision cannot be built here ({error})"


def time_pairs(pairs: list[tuple], base_dir: Path, new_dir: Path, say=print) -> list:
    """`bench ab` with its defaults over (label, BASE cell, NEW cell) pairs."""
    from bench.comparison.ab import Side, ab_compare

    return ab_compare(pairs, Side("BASE", sys.executable, str(base_dir)), Side("NEW", sys.executable, str(new_dir)),
                      say=say)
