"""Matrix specs (YAML or flags) validated strictly and expanded into cells before any runs.

A method item is a chain string ("lora(r=8) -> merge-lora"), a mapping with `name` and
options ({name: full-ft, lr: 3e-5}), or a mapping with `chain` (a list of such items).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.cell import Budget, Cell, MeasureSettings, Stage
from bench.errors import UsageError
from bench.typed import build, parse_scalar

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


@dataclass(frozen=True)
class MatrixSpec:
    tasks: tuple[str, ...]
    methods: tuple[Any, ...]
    models: tuple[str, ...]
    name: str | None = None
    description: str | None = None
    scale: Literal["small", "full"] | None = None
    seeds: tuple[int, ...] = (0,)
    budget: dict = field(default_factory=dict)
    measure: dict = field(default_factory=dict)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    arch_only: bool = False
    # Learning rates to try for every chain's first training stage, so methods are compared
    # at their best rate and equal budget (tables keep the best rate on the dev metric).
    lr_sweep: tuple[float, ...] = ()


def load_spec_file(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"spec file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"malformed spec {path}: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"malformed spec {path}: the top level must be a mapping of options")
    return data


def preset_path(name: str) -> Path:
    """A preset is the spec of a committed results folder: results/NAME/spec.yaml."""
    from bench.errors import unknown_name

    presets = sorted(p.parent.name for p in RESULTS_DIR.glob("*/spec.yaml"))
    if name not in presets:
        raise unknown_name("preset", name, presets)
    return RESULTS_DIR / name / "spec.yaml"


_STAGE = re.compile(r"^\s*([\w.-]+)\s*(?:\((.*)\))?\s*$")


def _stage_from_text(text: str) -> dict:
    match = _STAGE.match(text)
    if not match:
        raise UsageError(f"malformed method {text!r}: expected NAME or NAME(key=value,...)")
    options = {}
    for pair in filter(None, (p.strip() for p in (match.group(2) or "").split(","))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"malformed option {pair!r} in {text!r}: expected key=value")
        options[key.strip()] = parse_scalar(value.strip())
    return {"name": match.group(1), **options}


def _chain_items(item) -> list[dict]:
    if isinstance(item, str):
        return [_stage_from_text(part) for part in item.split("->")]
    if isinstance(item, dict) and "chain" in item:
        if set(item) != {"chain"}:
            raise UsageError(f"a chain item takes only 'chain', got {sorted(item)}")
        return [stage for part in item["chain"] for stage in _chain_items(part)]
    if isinstance(item, dict) and "name" in item:
        return [dict(item)]
    raise UsageError(f"malformed method item {item!r}: expected a string, {{name: ...}} or {{chain: [...]}}")


def parse_chain(item) -> tuple[Stage, ...]:
    """Stages with every option validated against the method's options dataclass."""
    from bench.registry import METHODS

    stages = []
    for raw in _chain_items(item):
        raw = dict(raw)
        name = str(raw.pop("name"))
        entry = METHODS.get(name)
        options = build(entry.meta.options, raw, where=f"method {name!r}")
        stages.append(Stage(name, tuple(sorted(dataclasses.asdict(options).items()))))
    return tuple(stages)


def with_lr(chain: tuple[Stage, ...], lr: float) -> tuple[Stage, ...]:
    """The chain with its first training stage's learning rate set to `lr`."""
    from bench.registry import METHODS

    if lr <= 0:
        raise UsageError(f"lr_sweep: learning rates must be positive, got {lr}")
    for index, stage in enumerate(chain):
        options = stage.options_dict()
        if METHODS.get(stage.method).meta.stage == "train" and "lr" in options:
            changed = Stage(stage.method, tuple(sorted({**options, "lr": float(lr)}.items())))
            return chain[:index] + (changed,) + chain[index + 1:]
    return chain  # nothing trains (post-training only): one cell, not one per rate


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def expand(spec_data: dict) -> list[Cell]:
    """Every cell of the matrix, all names and options validated first (exit 2 on error)."""
    from bench.modeling.load import resolve
    from bench.registry import TASKS

    spec = build(MatrixSpec, spec_data, where="spec")
    for required in ("tasks", "models") if spec.arch_only else ("tasks", "methods", "models"):
        if not getattr(spec, required):
            raise UsageError(f"spec: {required!r} must list at least one entry")
    for task in spec.tasks:
        TASKS.get(task)
    for model in spec.models:
        resolve(model)
    # Architecture-only cells may have no method: the model as configured is measured.
    chains = [parse_chain(item) for item in spec.methods] or [()]
    if spec.lr_sweep:
        chains = list(dict.fromkeys(with_lr(chain, lr) for chain in chains for lr in spec.lr_sweep))
    budget = build(Budget, spec.budget, where="budget")
    measure = build(MeasureSettings, spec.measure, where="measure")
    device = resolve_device(spec.device)
    return [
        Cell(task=t, chain=c, model=m, seed=s, budget=budget, device=device, measure=measure, arch_only=spec.arch_only)
        for t, m, c, s in itertools.product(spec.tasks, spec.models, chains, spec.seeds)
    ]
