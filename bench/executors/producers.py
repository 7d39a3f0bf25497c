"""Which cell of a matrix produces each shared training artifact, and which cells wait for it.

Cells share expensive intermediates through the cache (bench/storage/cache.py): the trained
weights of a chain prefix (`lora -> merge-lora` and `lora -> merge-lora -> int8-dynamic`)
and fine-tuned teachers, whose key is the prefix key of the `full-ft` cell that trains them
(bench/distill/teachers.py). Run one after another, the first cell builds the entry and the
others load it. Run side by side, every cell that found no entry would build its own. So a
parallel executor runs, for each key, one producer first and its dependents after it.

The producer of a key is the first cell that needs it, in the matrix's order, except that
cells needing no teacher come first: a `full-ft` cell of the matrix trains its model's teacher
(nothing else to train), before any KD cell that would train it as a side task. Every cell
then depends only on cells before it in that order, so the graph has no cycle.
"""

from __future__ import annotations

from dataclasses import dataclass


def teacher_refs(cell, options) -> list:
    """The fine-tuned teachers a stage with these options uses (bench/distill/teachers.py).

    Every method that fine-tunes its teacher names it with the same options: `teacher_seeds`
    (kd-multi-teacher: every model at every seed) or `teacher_seed` (one teacher: kd-soft,
    kd-hard, kd-feature, kd-multi-student, word-kd, seq-kd, seq-inter). A `teacher` option
    without them (kd-online's peer, cot-distill's rationale writer) is not fine-tuned here.
    """
    from bench.distill.teachers import teacher_ensemble, the_teacher

    if hasattr(options, "teacher_seeds"):
        return teacher_ensemble(cell, options.teachers, options.teacher_seeds, options.teacher_epochs,
                                options.teacher_lr)
    if hasattr(options, "teacher_seed"):
        return the_teacher(cell, options)
    return []


@dataclass(frozen=True)
class Needs:
    """The cache keys a cell reads or builds: its trained prefixes, and the teachers it uses."""

    prefixes: tuple[str, ...]
    teachers: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return self.prefixes + tuple(k for k in self.teachers if k not in self.prefixes)


def needs(cell, versions: dict) -> Needs:
    """The shared keys of a planned cell (one with its inputs' fingerprints: they are in the keys)."""
    from bench.registry import METHODS
    from bench.storage.cache import prefix_key
    from bench.typed import build

    if cell.arch_only:  # no training: nothing cached
        return Needs((), ())
    prefixes, teachers = [], []
    for index, stage in enumerate(cell.chain):
        entry = METHODS.get(stage.method)
        if entry.meta.stage != "train":
            continue
        prefixes.append(prefix_key(cell, index, versions))
        options = build(entry.meta.options, stage.options_dict(), where=f"method {stage.method!r}")
        teachers += [ref.key(cell) for ref in teacher_refs(cell, options)]
    return Needs(tuple(dict.fromkeys(prefixes)), tuple(dict.fromkeys(teachers)))


@dataclass(frozen=True)
class Schedule:
    """Per cell (by index): the cells it waits for, and the keys it produces that others wait for."""

    after: list[set[int]]
    ships: list[tuple[str, ...]]
    needs: list[Needs]

    def dependents(self, index: int) -> list[int]:
        return [i for i, producers in enumerate(self.after) if index in producers]


def schedule(cells: list, versions: dict) -> Schedule:
    """Producers first: each key's producer, and for each cell the producers it waits for."""
    wanted = [needs(cell, versions) for cell in cells]
    order = sorted(range(len(cells)), key=lambda i: bool(wanted[i].teachers))  # stable: the matrix's order
    producer: dict[str, int] = {}
    for index in order:
        for key in wanted[index].keys:
            producer.setdefault(key, index)
    after = [{producer[key] for key in wanted[i].keys} - {i} for i in range(len(cells))]
    awaited = {key for i in range(len(cells)) for key in wanted[i].keys if producer[key] != i}
    ships = [tuple(k for k in wanted[i].keys if producer[k] == i and k in awaited) for i in range(len(cells))]
    return Schedule(after, ships, wanted)
