"""The method interface: a stage turns a model into another (DESIGN principle 5).

A method registers a function `stage(model, options, ctx) -> model` with its options
dataclass. Training methods set which parameters train (or wrap the model) and call
`ctx.train(model, options)`: the one shared loop. Post-training methods transform the
trained model. Options of training methods extend `TrainOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.typed import option

Family = Literal["baseline", "peft", "distillation", "quantization", "pruning", "inference-format"]
StageKind = Literal["train", "post"]
# FLOPs of a post-training stage: counted on its input graph ("input": quantisation and
# runtime conversion keep the fp32 graph's FLOPs) or on what it returns ("own": pruning and
# merging change the graph's shape).
FlopsRule = Literal["input", "own"]
# What a stage returns: an fp32 PyTorch module later stages can train, prune or cast, or a
# reduced one (another dtype, int8 weights, a compiled graph or a runtime session) that only
# stages accepting artifacts (ONNX Runtime) may follow.
Makes = Literal["fp32", "reduced"]


@dataclass(frozen=True)
class MethodInfo:
    """Everything the harness knows about a method besides its code: one record per method,
    so tables, validation and `bench list` read the same facts (no parallel name dicts)."""

    options: type  # the frozen options dataclass; its fields carry their help
    family: Family
    stage: StageKind
    paper: str  # one line citing the method's paper
    label: str  # how a table names the method's row: "BitFit", "soft targets"
    order: int  # the row order tables use: baselines, PEFT, distillation, post-training
    flops: FlopsRule = "input"
    makes: Makes = "fp32"
    accepts_artifacts: bool = False  # may follow a stage that made a reduced model

    def __post_init__(self):
        import dataclasses
        import typing

        from bench.typed import _matches

        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            if f.name != "options" and not _matches(getattr(self, f.name), hints[f.name])[0]:
                raise ValueError(f"method metadata {f.name}={getattr(self, f.name)!r} is not {hints[f.name]}")
        if not dataclasses.is_dataclass(self.options):
            raise ValueError(f"method options must be a dataclass, got {self.options!r}")


@dataclass(frozen=True)
class TrainOptions:
    """Optimiser settings of the shared loop (AdamW, warmup then linear decay)."""

    lr: float = option(2e-5, "peak learning rate of AdamW", above=0)
    weight_decay: float = option(0.01, "AdamW weight decay", at_least=0)
    warmup_ratio: float = option(0.06, "fraction of the steps spent warming up", at_least=0, at_most=1)
    max_grad_norm: float = option(1.0, "gradient clipping norm", above=0)


@dataclass
class StageContext:
    """What a stage may use: the cell, its data, and the shared training loop."""

    cell: Any
    task: Any
    tokenizer: Any
    device: str
    train_features: list | None = None
    train_examples: list | None = None  # what train_features encode (methods that re-target them)
    prompt: Any = None  # bench.generation.reasoning.PromptSettings a prompting stage chose; None: zero-shot
    workdir: str | None = None
    data_dir: str | None = None  # resolved by the runner (flag, BENCH_DATA_DIR, else the hub)
    records: dict = field(default_factory=dict)  # stages add sections to the record here
    cache_key: str | None = None  # set by the runner per stage: where this prefix's weights live
    stage_index: int | None = None  # set by the runner with cache_key: the stage of the chain that runs
    on_step: Callable | None = None  # set by the runner: (step, steps, loss) after each training step

    def train(self, model, options: TrainOptions, compute_loss: Callable | None = None):
        """Train `model` with the shared loop, or load the weights an identical prefix trained.

        The statistics land in the record; loaded ones are marked `from_cache`.
        """
        from bench.storage.cache import buffer_snapshot, load_trained, store_trained
        from bench.train import train

        if self.cell.arch_only:
            # Architecture-only cells set up the method (which parameters train) but do
            # not train: the trainable counts of the PEFT tables need no data.
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            self.records.setdefault("training", []).append(
                {"trainable_parameters": trainable, "steps": 0, "arch_only": True, "from_cache": False})
            return model
        if self.train_features is None:
            raise RuntimeError("this cell has no training data (arch-only cells do not train)")
        if self.cache_key:
            cached = load_trained(model, self.cache_key)
            if cached is not None:
                model.to(self.device).eval()
                self.records.setdefault("training", []).append(dict(cached, from_cache=True))
                return model
        buffers_before = buffer_snapshot(model) if self.cache_key else None
        stats = train(
            model,
            self.tokenizer,
            self.train_features,
            budget=self.cell.budget,
            options=options,
            seed=self.cell.seed,
            device=self.device,
            compute_loss=compute_loss,
            on_step=self.on_step,
            precision=self.cell.precision,
        )
        if self.cache_key:
            store_trained(model, self.cache_key, stats.to_dict(), base=self.base(), buffers_before=buffers_before)
        self.records.setdefault("training", []).append(dict(stats.to_dict(), from_cache=False))
        return model

    def base(self) -> dict:
        """What this stage's trained weights start from: the model, its content, the stages before."""
        index = len(self.cell.chain) - 1 if self.stage_index is None else self.stage_index
        return {"model": self.cell.model, "inputs": [list(pair) for pair in self.cell.inputs],
                "stages_before": [stage.full_label() for stage in self.cell.chain[:index]],
                "stage": self.cell.chain[index].full_label() if self.cell.chain else None}
