"""Run one cell and return its record. The runner times nothing by hand (DESIGN principle 6).

Invoked as `python -m bench.runner CELL_JSON RECORD_PATH` by the local executor, so each
cell has its own process and its own peak memory. `run_cell` is a list of named steps:
prepare the cell, apply its chain, evaluate and measure the result (bench/inference.py),
assemble the record (whose readers go through bench/storage/record.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from bench.cell import SCHEMA_VERSION, Cell
from bench.errors import INTERRUPTED
from bench.inference import Evaluation, Measurements, evaluate, load_examples, measure
from bench.modeling.regression_head import start_at_label_mean
from bench.precision import autocast
from bench.progress import report, training_steps
from bench.progress import start as start_progress


@dataclass
class Prepared:
    """What the chain starts from: the loaded model and the context its stages share."""

    task: Any
    source: Any  # bench.modeling.source.ModelSource
    model: Any
    base_total: int  # parameters of the base model: trainable % is relative to it
    ctx: Any  # bench.method.StageContext
    deterministic: bool


@dataclass
class Chained:
    """What the chain made, and what measuring it needs from the way there."""

    artifact: Any  # the final model, ready to predict and be timed
    reference: Any  # the trained fp32 module before the first post-training stage, or None
    flops_module: Any  # the graph whose FLOPs are counted (see apply_chain)
    flops_source: str  # "final" or "reference"
    training: list  # one entry per training stage
    train_peak: int | None


def seed_everything(seed: int, deterministic: bool) -> None:
    import torch
    import transformers

    if deterministic:
        transformers.enable_full_determinism(seed, warn_only=True)
        # Deterministic mode also fills every torch.empty with NaN, so a read of uninitialised
        # memory shows. No kernel here reads it (torch's docs: then results stay deterministic
        # without the fill), and the fill costs each training step time for nothing.
        torch.utils.deterministic.fill_uninitialized_memory = False
    else:
        transformers.set_seed(seed)


def run_cell(cell: Cell, data_dir: str | None = None, workdir: str | None = None) -> dict:
    """Everything the PROTOCOL asks of one cell, as a record without key and provenance."""
    clock = {"start": time.perf_counter()}
    report("load")
    prepared = prepare(cell, data_dir, workdir)
    clock["loaded"] = time.perf_counter()
    chained = apply_chain(cell, prepared)
    clock["stages"] = time.perf_counter()
    ctx = prepared.ctx
    report("evaluate")
    with autocast(cell.precision, cell.device):  # inference computes in the cell's precision too
        evaluation = evaluate(cell, prepared.task, ctx.tokenizer, ctx.data_dir, chained.artifact, chained.reference,
                              prompt=ctx.prompt)
    clock["evaluated"] = time.perf_counter()
    report("measure")
    with autocast(cell.precision, cell.device):
        measured = measure(cell, prepared.task, ctx.tokenizer, chained.artifact, chained.flops_module,
                           chained.flops_source, workdir)
    clock["measured"] = time.perf_counter()
    return assemble_record(prepared, chained, evaluation, measured, clock)


def prepare(cell: Cell, data_dir: str | None, workdir: str | None) -> Prepared:
    """Threads, seeds, the model with the task's head, its tokenizer and the training split."""
    from bench.measure.threads import set_threads
    from bench.method import StageContext
    from bench.modeling.load import load_model, load_tokenizer, resolve
    from bench.registry import TASKS
    from bench.runtime.artifact import TorchArtifact
    from bench.task import data_dir_from_env

    set_threads(cell.measure.threads)
    deterministic = cell.measure.deterministic and not cell.arch_only
    seed_everything(cell.seed, deterministic)
    data_dir = data_dir_from_env(data_dir)
    task = TASKS.get(cell.task).obj
    source = resolve(cell.model)
    ctx = StageContext(cell=cell, task=task, tokenizer=None, device=cell.device, workdir=workdir, data_dir=data_dir)
    if not cell.arch_only:
        ctx.train_examples = load_examples(task, task.train_split, data_dir, cell.budget.train_limit, shuffle=True)
        # A model trained from scratch learns its vocabulary from this text (sources and targets).
        ctx.tokenizer = load_tokenizer(source, training_text=training_text(ctx.train_examples))
    model = load_model(source, task, tokenizer=ctx.tokenizer)
    if not cell.arch_only:
        ctx.train_features = training_features(task, model, ctx.tokenizer, ctx.train_examples, cell.budget.max_seq_len)
        start_at_label_mean(model, task, ctx.train_features)  # before any method wraps the head
    base_total = TorchArtifact(model).parameters().total
    model.to(cell.device)
    return Prepared(task, source, model, base_total, ctx, deterministic)


def training_features(task, model, tokenizer, examples, max_len: int) -> list[dict]:
    """The training split as token ids. Tasks with a prompt format (gsm8k) train on the prompt and
    its target: one sequence for a decoder-only model, source and labels for an encoder-decoder
    (bench/data.py `encode_prompted`); other tasks take their sources and labels as they are."""
    from bench.data import encode, encode_prompted, is_decoder_only

    decoder_only = task.kind == "generation" and is_decoder_only(model)
    if hasattr(task, "prompt"):
        return encode_prompted(tokenizer, [task.prompt(e) for e in examples], [task.target(e) for e in examples],
                               max_len, decoder_only)
    if decoder_only:
        from bench.errors import UsageError

        raise UsageError(f"{task.name} has no prompt format for decoder-only models; use an encoder-decoder")
    return encode(tokenizer, examples, max_len)


def training_text(examples) -> list[str]:
    """Every text of the training examples, targets that are text included (translations)."""
    texts = [text for e in examples for text in (e.text_a, e.text_b) if text]
    return texts + [e.label for e in examples if isinstance(e.label, str)]


def apply_chain(cell: Cell, prepared: Prepared) -> Chained:
    """Run every stage in order; keep the fp32 reference and the graph whose FLOPs count."""
    import torch

    from bench.cell import result_versions
    from bench.measure.rss_window import reset_rss_peak, rss_peak_bytes
    from bench.registry import METHODS
    from bench.runtime.artifact import TorchArtifact, as_artifact
    from bench.storage.cache import prefix_key
    from bench.typed import build

    reset_rss_peak()
    versions, ctx, model = result_versions(), prepared.ctx, prepared.model
    reference = None  # the trained fp32 module, before any post-training stage
    # FLOPs are those of the fp32 graph: quantisation and runtime conversion keep the graph's
    # FLOPs, so they are counted on the stage's input; shape-changing stages (flops="own")
    # and training stages give the graph that is counted.
    flops_module = model
    for index, stage in enumerate(cell.chain):
        entry = METHODS.get(stage.method)
        is_post = entry.meta.stage == "post"
        if is_post and reference is None:
            reference = model
        options = build(entry.meta.options, stage.options_dict(), where=f"method {stage.method!r}")
        if not isinstance(model, torch.nn.Module) and not entry.meta.accepts_artifacts:
            from bench.errors import UsageError

            raise UsageError(f"{stage.method} needs a PyTorch module, but {cell.chain[index - 1].method} made a "
                             f"{getattr(model, 'runtime', type(model).__name__)} artifact; put "
                             f"{stage.method} before {cell.chain[index - 1].method} in the chain")
        ctx.cache_key, ctx.stage_index = prefix_key(cell, index, versions), index
        report("stage", stage=stage.method)
        ctx.on_step = training_steps(stage.method)
        model = entry.obj(model, options, ctx)
        if not is_post or entry.meta.flops == "own":
            flops_module = model
    training = ctx.records.pop("training", [])
    fresh = [t for t in training if not t.get("from_cache")]
    train_peak = rss_peak_bytes() if fresh else (training[-1]["peak_rss_bytes"] if training else None)
    artifact = as_artifact(model)
    if isinstance(artifact, TorchArtifact):
        artifact.module.eval()
    return Chained(artifact, reference, flops_module, "final" if flops_module is model else "reference",
                   training, train_peak)


def assemble_record(prepared: Prepared, chained: Chained, evaluation: Evaluation, measured: Measurements,
                    clock: dict) -> dict:
    """The record's result fields (bench/storage/record.py reads them back)."""
    task, artifact, training = prepared.task, chained.artifact, chained.training
    return {
        "status": "success",
        "error": None,
        "task_meta": {"metric": task.metric, "higher_is_better": task.higher_is_better, "kind": task.kind},
        "model_meta": {"architecture_only": prepared.source.architecture_only, "source": prepared.source.name,
                       "runtime": artifact.runtime, "runtime_info": getattr(artifact, "info", None)},
        "metrics": evaluation.metrics,
        "retention": evaluation.retention,
        "evaluated": evaluation.evaluated,
        "params": artifact.parameters(base_total=prepared.base_total).to_dict(),
        "flops": measured.flops,
        "latency": measured.latency,
        "machine": measured.machine,
        "memory": {
            "train_peak_rss_bytes": chained.train_peak,
            "inference_peak_rss_bytes": measured.inference_peak,
            "process_peak_rss_bytes": measured.process_peak,
            "train_cuda": training[-1].get("cuda_peaks") if training else None,
            "inference_cuda": measured.inference_cuda,
        },
        "size": measured.size,
        **measured.sections,
        "evaluation": _evaluation_section(task, prepared.ctx),
        "outputs": evaluation.outputs,
        "training": training,
        "stages": prepared.ctx.records,
        "determinism": {"accuracy": prepared.deterministic, "latency": False},
        "durations": {
            "load_s": clock["loaded"] - clock["start"],
            "stages_s": clock["stages"] - clock["loaded"],
            "eval_s": clock["evaluated"] - clock["stages"],
            "measure_s": clock["measured"] - clock["evaluated"],
            "total_s": clock["measured"] - clock["start"],
        },
    }


def _evaluation_section(task, ctx) -> dict | None:
    """How the task was evaluated: the evaluator's settings and the prompt format a stage chose."""
    section = task.evaluator.describe(task)
    if ctx.prompt is not None:
        section = dict(section or {}, prompt=ctx.prompt.to_dict())
    return section


def failure_status(error: BaseException) -> str:
    import torch

    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return "oom"
    return "failed"


def envelope(cell: Cell, key: str, versions: dict) -> dict:
    """The fields every record has, whatever its status."""
    from bench.provenance import provenance

    return {
        "schema_version": SCHEMA_VERSION,
        "key": key,
        "identity": cell.identity(),
        "config": cell.to_dict(),
        "chain_label": cell.chain_label,
        "versions": versions,
        "seed": cell.seed,
        "budget": cell.to_dict()["budget"],
        "device": cell.device,
        "precision": cell.precision,
        "provenance": provenance(),
    }


def main(argv=None) -> int:
    from bench.cell import result_versions
    from bench.storage.store import write_record

    parser = argparse.ArgumentParser(prog="python -m bench.runner", description="run one cell")
    parser.add_argument("cell_json")
    parser.add_argument("record_path")
    parser.add_argument("--data-dir")
    parser.add_argument("--workdir")
    parser.add_argument("--progress", help="a file to write the cell's phase to (bench/progress.py)")
    args = parser.parse_args(argv)
    with open(args.cell_json, encoding="utf-8") as handle:
        payload = json.load(handle)
    cell = Cell.from_dict(payload["cell"])
    versions = result_versions()
    started = time.time()
    start_progress(args.progress)
    try:
        result = run_cell(cell, args.data_dir, args.workdir)
        code = 0
    except KeyboardInterrupt:
        # Ctrl-C: the cell did not finish, and no record says it did or failed, so the next
        # run computes it. The executor sees the status and stops the matrix.
        return INTERRUPTED
    except BaseException as error:  # noqa: BLE001 - every failure becomes a record
        traceback.print_exc()
        result = {"status": failure_status(error), "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc()[-4000:]}
        code = 1
    record = envelope(cell, payload["key"], versions)
    record.update(result)
    runtime_info = (record.get("model_meta") or {}).get("runtime_info") or {}
    if "intra_op_num_threads" in runtime_info:  # ONNX Runtime threads belong with torch's
        record["provenance"]["threads"]["onnxruntime_intra_op"] = runtime_info["intra_op_num_threads"]
    record["wall_s"] = time.time() - started
    record.setdefault("durations", {"total_s": record["wall_s"]})
    write_record(args.record_path, record)
    return code


if __name__ == "__main__":
    sys.exit(main())
