"""A cell of the matrix (task x method chain x model x seed x budget x device) and its key.

The normalised config of a cell hashes to its record path (DESIGN principle 7), so a
finished cell is never recomputed and a crashed matrix resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from bench.errors import UsageError
from bench.precision import Precision

SCHEMA_VERSION = 1
Device = Literal["cpu", "cuda"]
LatencyPreset = Literal["off", "quick", "default", "fixed", "publish"]


def _at_least(options, minimum: int, *names: str) -> None:
    """Reject out-of-range values before any cell runs, naming the option."""
    for name in names:
        value = getattr(options, name)
        if value is not None and value < minimum:
            section = type(options).__name__.lower().replace("settings", "")
            raise UsageError(f"{section}: {name} must be at least {minimum}, got {value}")


@dataclass(frozen=True)
class Budget:
    """How much training and evaluation a cell gets."""

    train_limit: int | None = None  # training examples (first N after a seeded shuffle)
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    eval_limit: int | None = None  # a limited evaluation is marked and never published unmarked
    batch_size: int = 16
    grad_accum: int = 1
    max_seq_len: int = 128
    eval_batch_size: int = 64

    def __post_init__(self):
        _at_least(self, 1, "train_limit", "max_steps", "eval_limit", "batch_size", "grad_accum", "eval_batch_size")
        _at_least(self, 8, "max_seq_len")
        if self.epochs <= 0:
            raise UsageError(f"budget: epochs must be > 0, got {self.epochs}")


@dataclass(frozen=True)
class MeasureSettings:
    """What to measure besides accuracy; PROTOCOL defaults."""

    latency: LatencyPreset = "default"
    batch_sizes: tuple[int, ...] = (1, 32)
    seq_len: int = 128
    flops: bool = True
    size: bool = True
    threads: int | None = None  # torch intra-op threads; None keeps the machine default
    deterministic: bool = True  # full determinism for accuracy cells (latency is timed as is)
    matmul_peak: bool = False  # also time the fp32 matmul ceiling of torch and the cell's runtime (roofline)

    def __post_init__(self):
        _at_least(self, 1, "seq_len", "threads")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UsageError(f"measure: batch_sizes must be positive, got {self.batch_sizes}")


@dataclass(frozen=True)
class Stage:
    """One method of a chain with its options (validated against the method's dataclass)."""

    method: str
    options: tuple[tuple[str, object], ...] = ()

    def options_dict(self) -> dict:
        return dict(self.options)

    def label(self) -> str:
        """The method with the options that differ from its defaults: 'full-ft(lr=3e-05)'."""
        import dataclasses

        from bench.registry import METHODS

        defaults = dataclasses.asdict(METHODS.get(self.method).meta.options())
        return self._text([(k, v) for k, v in self.options if defaults.get(k, object()) != v])

    def full_label(self) -> str:
        """The method with every option, defaults included: what the cell really runs."""
        return self._text(self.options)

    def _text(self, pairs) -> str:
        return f"{self.method}({','.join(f'{k}={v}' for k, v in pairs)})" if pairs else self.method


@dataclass(frozen=True)
class Cell:
    task: str
    chain: tuple[Stage, ...]
    model: str
    seed: int = 0
    budget: Budget = field(default_factory=Budget)
    device: Device = "cpu"
    measure: MeasureSettings = field(default_factory=MeasureSettings)
    arch_only: bool = False  # no data, no training: parameters, FLOPs, latency from the config
    precision: Precision = "fp32"  # bf16: forward passes under autocast (bench/precision.py)
    # Content fingerprints of the data and model files the cell reads, (label, fingerprint)
    # sorted; filled by the executor (bench/storage/fingerprint.py), so editing a file changes the key.
    inputs: tuple[tuple[str, str], ...] = ()

    @property
    def chain_label(self) -> str:
        return (" -> ".join(stage.label() for stage in self.chain) or "none") + self.precision_suffix

    @property
    def full_chain_label(self) -> str:
        """The chain with every option of every stage, defaults included (what `--dry-run` shows)."""
        return (" -> ".join(stage.full_label() for stage in self.chain) or "none") + self.precision_suffix

    @property
    def precision_suffix(self) -> str:
        """' [bf16]' after a label of a reduced-precision cell, so every table row says so."""
        return "" if self.precision == "fp32" else f" [{self.precision}]"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Cell:
        def option(key, value):  # JSON turns tuples into lists; options hold tuples
            return key, tuple(value) if isinstance(value, list) else value

        chain = tuple(Stage(s["method"], tuple(option(*kv) for kv in s["options"])) for s in data["chain"])
        measure = dict(data["measure"], batch_sizes=tuple(data["measure"]["batch_sizes"]))
        return cls(
            task=data["task"],
            chain=chain,
            model=data["model"],
            seed=data["seed"],
            budget=Budget(**data["budget"]),
            device=data["device"],
            measure=MeasureSettings(**measure),
            arch_only=data["arch_only"],
            precision=data.get("precision", "fp32"),  # records before the field are fp32
            inputs=tuple(tuple(pair) for pair in data.get("inputs", ())),  # records before the field have none
        )

    def _hashed(self) -> dict:
        """The config that keys hash. `inputs` only when there are some, `precision` only when not
        fp32: a cell that reads no local file (hub data, an architecture-only model) or computes in
        fp32 keeps the key it had before the field."""
        from bench.modeling.regression_head import recipe

        data = self.to_dict()
        if not data["inputs"]:
            del data["inputs"]
        if data["precision"] == "fp32":
            del data["precision"]
        if tag := recipe(self.task):  # regression cells since their heads start at the label mean
            data["recipe"] = tag
        return data

    def identity(self) -> str:
        """Hash of the config (with the inputs' content) alone: the same experiment across package versions."""
        return _digest(self._hashed())

    def key(self, versions: dict[str, str]) -> str:
        """Hash of the config, the inputs' content and the package versions that change results."""
        return _digest({"schema": SCHEMA_VERSION, "cell": self._hashed(), "versions": versions})

    def slug(self) -> str:
        chain = "+".join(stage.method for stage in self.chain) or "none"
        return f"{self.task}__{self.model.replace('/', '_')}__{chain}__s{self.seed}"


def _digest(data: dict) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def result_versions() -> dict[str, str]:
    """Versions of the packages whose change may change a number (part of the cell key)."""
    from importlib import metadata

    versions = {}
    for package in ("torch", "transformers"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions
