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
from bench.errors import UsageError, abridge
from bench.precision import Precision, require_native
from bench.typed import build, parse_scalar


def results_dir() -> Path:
    """The committed results folders: BENCH_RESULTS, else the checkout's results/ (an editable
    install), else ./results in the caller's folder (a non-editable install ships no results)."""
    import os

    if os.environ.get("BENCH_RESULTS"):
        return Path(os.environ["BENCH_RESULTS"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1] / "results"
    return checkout if checkout.is_dir() else Path.cwd() / "results"


@dataclass(frozen=True)
class MatrixSpec:
    tasks: tuple[str, ...] = ()
    methods: tuple[Any, ...] = ()
    models: tuple[str, ...] = ()
    name: str | None = None
    description: str | None = None
    scale: Literal["small", "medium", "full"] | None = None
    seeds: tuple[int, ...] = (0,)
    budget: dict = field(default_factory=dict)
    measure: dict = field(default_factory=dict)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Each precision is a cell of its own (an axis): fp32, and bf16 autocast where it is native.
    precisions: tuple[Precision, ...] = ("fp32",)
    arch_only: bool = False
    # Learning rates to try for every chain's first training stage, so methods are compared
    # at their best rate and equal budget (tables keep the best rate on the dev metric).
    lr_sweep: tuple[float, ...] = ()


def preset_names() -> list[str]:
    """The committed results folders that hold a spec.yaml, by name."""
    return sorted(p.parent.name for p in results_dir().glob("*/spec.yaml"))


def results_folder(table_entry) -> str:
    """The results folder whose records a table renders (several tables may share one: peft)."""
    return table_entry.meta.get("results", table_entry.name)


def preset_path(name: str) -> Path:
    """A preset is the spec of a committed results folder: results/NAME/spec.yaml."""
    from bench.errors import unknown_name

    root = results_dir()
    presets = preset_names()
    if name not in presets:
        if not presets:
            raise UsageError(f"unknown preset {name!r}: no results folders at {root} (set BENCH_RESULTS to a "
                             "checkout's results/)")
        raise unknown_name("preset", name, presets)
    return root / name / "spec.yaml"


_STAGE = re.compile(r"^\s*([\w.-]+)\s*(?:\((.*)\))?\s*$")


def _stage_from_text(text: str) -> dict:
    match = _STAGE.match(text)
    if not match:
        raise UsageError(f"malformed method {abridge(repr(text))}: expected NAME or NAME(key=value,...)")
    options = {}
    for pair in filter(None, (p.strip() for p in (match.group(2) or "").split(","))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"malformed option {abridge(repr(pair))} in {abridge(repr(text))}: expected key=value")
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
    raise UsageError(f"malformed method item {abridge(repr(item))}: expected a string, {{name: ...}} or "
                     f"{{chain: [...]}}")


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
    check_order(tuple(stages))
    return tuple(stages)


def check_order(chain: tuple[Stage, ...]) -> None:
    """A stage that needs an fp32 PyTorch module may not follow one that made a reduced model
    (another dtype, int8, a compiled graph or a runtime session): it would fail only after the
    training before it. The error names the order that works."""
    from bench.registry import METHODS

    reduced_by = None
    for stage in chain:
        info = METHODS.get(stage.method).meta
        if reduced_by and not info.accepts_artifacts:
            raise UsageError(f"{stage.method} needs an fp32 PyTorch module, but {reduced_by} before it makes a "
                             f"reduced model; put {stage.method} before {reduced_by} in the chain")
        if info.makes == "reduced":
            reduced_by = stage.method


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
    """cpu or cuda; asking for cuda on a machine without a usable GPU is refused before any run."""
    if device == "cpu":
        return device
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device on this machine "
                         f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use --device cpu")
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_precision_fits_chains(precision: str, chains) -> None:
    """A reduced training/inference precision composes with training stages only: post-training
    stages (int8, casts, ONNX) set their own numerics, and autocast over them would blur what
    each one measures."""
    from bench.registry import METHODS

    for chain in chains:
        post = [stage.method for stage in chain if METHODS.get(stage.method).meta.stage == "post"]
        if post:
            raise UsageError(f"precision {precision} applies to training and torch inference; {post[0]!r} is a "
                             "post-training stage with numerics of its own: run it with precision fp32")


def check_model_fits_task(source, task) -> None:
    """Generation needs a model that generates; a classifier head needs one that does not
    (decoders serve both). Checked for aliases, whose architecture is known before loading."""
    if source.local_path or source.hub_id:
        return
    generates = source.arch in ("encoder-decoder", "decoder")
    if task.kind == "generation" and not generates:
        raise UsageError(f"{task.name} generates text; model {source.name!r} is an {source.arch} without a "
                         "decoder: use an encoder-decoder or decoder model (see `bench list models`)")
    if task.kind != "generation" and source.arch == "encoder-decoder":
        raise UsageError(f"{task.name} is {task.kind}; model {source.name!r} is an encoder-decoder for "
                         "generation tasks (translation)")


def expand(spec_data: dict) -> list[Cell]:
    """Every cell of the matrix, all names and options validated first (exit 2 on error)."""
    from bench.modeling.load import resolve
    from bench.registry import TASKS

    spec = build(MatrixSpec, spec_data, where="spec")
    for required in ("tasks", "models") if spec.arch_only else ("tasks", "methods", "models"):
        if not getattr(spec, required):
            flag = required[:-1]
            raise UsageError(f"nothing to run: no {flag} given (--{flag} NAME, or '{required}:' in a spec file)")
    for task in spec.tasks:
        TASKS.get(task)
    for model in spec.models:
        source = resolve(model)
        for task in spec.tasks:
            check_model_fits_task(source, TASKS.get(task).obj)
    # Architecture-only cells may have no method: the model as configured is measured.
    chains = [parse_chain(item) for item in spec.methods] or [()]
    if spec.lr_sweep:
        chains = list(dict.fromkeys(with_lr(chain, lr) for chain in chains for lr in spec.lr_sweep))
    budget = build(Budget, spec.budget, where="budget")
    measure = build(MeasureSettings, spec.measure, where="measure")
    device = resolve_device(spec.device)
    for precision in spec.precisions:
        if precision != "fp32":
            require_native(precision, device)
            check_precision_fits_chains(precision, chains)
    return [
        Cell(task=t, chain=c, model=m, seed=s, budget=budget, device=device, measure=measure, arch_only=spec.arch_only,
             precision=p)
        for t, m, c, s, p in itertools.product(spec.tasks, spec.models, chains, spec.seeds, spec.precisions)
    ]
