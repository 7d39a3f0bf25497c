"""The record of one cell, read through one class (lm-evaluation-harness's result schema idea).

The runner writes a record as a plain JSON dict (bench/runner.py assembles it, bench/storage/store.py
writes it). Every reader -- the tables, `bench compare` -- goes through `Record`, so the chain
is decoded, the primary metric chosen and the latency shapes parsed in one place.

Accessors tolerate the sections a record lacks: a failed cell holds only the envelope
(status, error, config, provenance) and an architecture-only cell has no metrics and no
training wall time, so a missing section reads as empty (`{}`, `[]`) or None, never a KeyError.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

Status = Literal["success", "failed", "oom", "timeout", "invalid"]


def latency_key(batch_size: int, seq_len: int) -> str:
    """How a record names a timed input shape: 'b1_s128'."""
    return f"b{batch_size}_s{seq_len}"


def parse_latency_key(key: str) -> tuple[int, int]:
    """(batch size, sequence length) of a latency key: 'b32_s128' -> (32, 128)."""
    batch, seq = key.split("_")
    return int(batch[1:]), int(seq[1:])


def primary_keys(metrics: dict, metric: str) -> list[str]:
    """The keys of a task's primary metric: 'accuracy', or one per dev set on tasks with
    several ('accuracy_m' and 'accuracy_mm' for MNLI; bench/task.py names them so)."""
    return [key for key in metrics if key == metric or key.startswith(metric + "_")]


@dataclass(frozen=True, eq=False)
class Record:
    """A stored record (the JSON dict in `data`, unchanged) with typed accessors."""

    data: dict

    @classmethod
    def of(cls, record: Record | dict) -> Record:
        return record if isinstance(record, Record) else cls(record)

    @classmethod
    def all(cls, records: Iterable[Record | dict]) -> list[Record]:
        """Tables take dicts (tests, `bench run`) or Records; this accepts both."""
        return [cls.of(record) for record in records]

    @classmethod
    def load_all(cls, records_dir: str | Path) -> list[Record]:
        from bench.storage.store import load_records

        return [cls(data) for data in load_records(records_dir)]

    # --- envelope: every record has these, whatever its status ---------------------------

    @property
    def status(self) -> Status:
        return self.data["status"]

    @property
    def succeeded(self) -> bool:
        return self.data.get("status") == "success"

    @property
    def error(self) -> str | None:
        return self.data.get("error")

    @property
    def identity(self) -> str:
        """The config's hash without package versions (the same experiment across versions)."""
        return self.data.get("identity") or self.data["key"]

    @property
    def config(self) -> dict:
        return self.data.get("config") or {}

    @cached_property
    def cell(self):
        from bench.cell import Cell

        return Cell.from_dict(self.config)

    @property
    def chain(self) -> tuple:
        """The method chain as `bench.cell.Stage`s (JSON lists back to tuples)."""
        return self.cell.chain

    @property
    def chain_label(self) -> str:
        return self.data.get("chain_label") or self.cell.chain_label

    @cached_property
    def method_label(self) -> str:
        """The chain's label without learning rates: the method a table row names."""
        from bench.cell import Stage

        stages = [Stage(s.method, tuple(kv for kv in s.options if kv[0] != "lr")) for s in self.chain]
        return (" -> ".join(stage.label() for stage in stages) or "none") + self.cell.precision_suffix

    @property
    def learning_rate(self) -> float | None:
        """The first stage's learning rate (a sweep varies the rate of every training stage)."""
        return next((s.options_dict()["lr"] for s in self.chain if "lr" in s.options_dict()), None)

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def arch_only(self) -> bool:
        return bool(self.config.get("arch_only"))

    @property
    def budget(self) -> dict:
        return self.config.get("budget") or {}

    @property
    def device(self) -> str | None:
        return self.data.get("device")

    @property
    def gpu_shared(self) -> bool:
        """Whether the cell asked for only a share of its GPU (Ray, `--cells-per-gpu`): other cells
        may have run beside it, so its timings, training's included, need not be the model's alone."""
        return bool((self.data.get("executor") or {}).get("gpu_shared"))

    @property
    def provenance(self) -> dict:
        return self.data.get("provenance") or {}

    @property
    def date(self) -> str:
        return self.provenance.get("date") or ""

    # --- accuracy ----------------------------------------------------------------------------

    @property
    def metrics(self) -> dict:
        return self.data.get("metrics") or {}

    @property
    def metric(self) -> str | None:
        """The task's primary metric name ('accuracy', 'matthews_corr')."""
        return (self.data.get("task_meta") or {}).get("metric")

    @property
    def higher_is_better(self) -> bool:
        return (self.data.get("task_meta") or {}).get("higher_is_better", True)

    @property
    def primary_keys(self) -> list[str]:
        return primary_keys(self.metrics, self.metric) if self.metric else []

    @property
    def primary_value(self) -> float | None:
        """The primary metric; tasks with several dev sets (MNLI m/mm) give their mean."""
        values = [self.metrics[key] for key in self.primary_keys]
        return statistics.fmean(values) if values else None

    @property
    def retention(self) -> dict | None:
        return self.data.get("retention")

    # --- measurements ------------------------------------------------------------------------

    @cached_property
    def latency(self) -> dict[tuple[int, int], dict]:
        """{(batch size, sequence length): latency statistics}, parsed from the stored keys once."""
        return {parse_latency_key(key): stats for key, stats in (self.data.get("latency") or {}).items()}

    def p50(self, batch_size: int) -> float | None:
        """Median latency at a batch size (any sequence length), or None when not timed."""
        return next((stats["p50"] for (batch, _), stats in self.latency.items() if batch == batch_size), None)

    def section(self, name: str) -> dict:
        """A measurement section ('params', 'flops', 'size', 'memory', 'machine', 'model_meta')."""
        return self.data.get(name) or {}

    @property
    def params(self) -> dict:
        return self.section("params")

    @property
    def flops(self) -> dict:
        return self.section("flops")

    def decode_tokens_per_s(self, batch_size: int = 1) -> float | None:
        """A generation cell's decode speed at a batch size (median over timed runs), or None."""
        runs = self.section("generation").get("runs") or {}
        return (runs.get(str(batch_size)) or {}).get("decode_tokens_per_s_median")

    @property
    def size(self) -> dict:
        return self.section("size")

    @property
    def memory(self) -> dict:
        return self.section("memory")

    @property
    def runtime(self) -> str | None:
        """What served the final model: 'torch', 'torch.compile', 'onnxruntime'..."""
        return self.section("model_meta").get("runtime")

    # --- training and stages -----------------------------------------------------------------

    @property
    def training(self) -> list[dict]:
        """One entry per training stage of the chain (loaded ones carry `from_cache`)."""
        return self.data.get("training") or []

    @property
    def last_training(self) -> dict:
        return self.training[-1] if self.training else {}

    @property
    def s_per_step(self) -> float | None:
        return self.last_training.get("s_per_step")

    @property
    def train_wall_s(self) -> float | None:
        """Seconds all training stages took; None when none trained (architecture-only cells)."""
        walls = [t["wall_s"] for t in self.training if "wall_s" in t]
        return sum(walls) if walls else None

    def stage(self, name: str) -> dict | None:
        """What a stage recorded under `stages[name]` ('int8_dynamic', 'distillation'), or None."""
        return (self.data.get("stages") or {}).get(name)
