"""Run one cell and return its record. The runner times nothing by hand (DESIGN principle 6).

Invoked as `python -m bench.runner CELL_JSON RECORD_PATH` by the local executor, so each
cell has its own process and its own peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from pathlib import Path

from bench.cell import SCHEMA_VERSION, Cell

DATA_SEED = 0  # the training subset is the same for every seed and method: equal data


def _seed_everything(seed: int, deterministic: bool) -> None:
    import transformers

    if deterministic:
        transformers.enable_full_determinism(seed, warn_only=True)
    else:
        transformers.set_seed(seed)


def _load_examples(task, split: str, data_dir, limit, shuffle: bool):
    examples = task.load(split, data_dir)
    if shuffle:
        random.Random(DATA_SEED).shuffle(examples)
    return examples[:limit] if limit is not None else examples


def _evaluate(artifact, task, tokenizer, cell, data_dir, device) -> tuple[dict, dict]:
    from bench.data import encode
    from bench.runtime.predict import predict

    metrics, evaluated = {}, {}
    limit = cell.budget.eval_limit
    predictor = artifact.predictor()
    for suffix, split in task.eval_splits.items():
        examples = _load_examples(task, split, data_dir, limit, shuffle=False)
        features = encode(tokenizer, examples, cell.budget.max_seq_len, with_labels=False)
        predictions = predict(predictor, tokenizer, features, task.kind, cell.budget.eval_batch_size, device)
        scores = task.score(predictions, [e.label for e in examples])
        metrics.update({f"{name}_{suffix}" if suffix else name: value for name, value in scores.items()})
        evaluated[split] = {"examples": len(examples), "limited": limit is not None}
    return metrics, evaluated


def _latency(artifact, cell, device) -> dict:
    from bench.measure.flops import reference_inputs
    from bench.measure.latency import LATENCY_PRESETS, measure_latency

    if cell.measure.latency == "off":
        return {}
    settings = LATENCY_PRESETS[cell.measure.latency]
    results = {}
    for batch_size in cell.measure.batch_sizes:
        inputs = reference_inputs(artifact.vocab_size, batch_size, cell.measure.seq_len, device)
        result = measure_latency(artifact.timed_call(inputs), device=device, **settings)
        results[f"b{batch_size}_s{cell.measure.seq_len}"] = dict(result.to_dict(), preset=cell.measure.latency)
    return results


def retention(metrics: dict, reference: dict, primary: str) -> dict | None:
    """Accuracy kept against the fp32 reference, with the MLPerf-style tag (-99, -99.9)."""
    keys = [k for k in reference if k == primary or k.startswith(primary + "_")]
    if not keys or not all(reference[k] for k in keys):
        return None
    kept = min(metrics[k] / reference[k] for k in keys)
    tag = "-99.9" if kept >= 0.999 else "-99" if kept >= 0.99 else None
    return {"retention": kept, "tag": tag, "reference_metrics": reference, "metric": primary}


def run_cell(cell: Cell, data_dir: str | None = None, workdir: str | None = None) -> dict:
    """Everything the PROTOCOL asks of one cell, as a record without key and provenance."""
    import tempfile

    import torch

    from bench.runtime.artifact import TorchArtifact, as_artifact
    from bench.cache import prefix_key
    from bench.cell import result_versions
    from bench.measure.flops import count_flops, reference_inputs
    from bench.measure.memory import cuda_peaks, peak_rss_bytes, reset_cuda_peaks
    from bench.measure.rss_window import reset_rss_peak, rss_peak_bytes
    from bench.measure.threads import set_threads
    from bench.method import StageContext
    from bench.modeling.load import load_model, load_tokenizer, resolve
    from bench.registry import METHODS, TASKS
    from bench.task import data_dir_from_env
    from bench.typed import build

    clock = {"start": time.perf_counter()}
    set_threads(cell.measure.threads)
    deterministic = cell.measure.deterministic and not cell.arch_only
    _seed_everything(cell.seed, deterministic)
    data_dir = data_dir_from_env(data_dir)
    task = TASKS.get(cell.task).obj
    device = cell.device
    source = resolve(cell.model)
    model = load_model(source, task)
    base = TorchArtifact(model).parameters()
    ctx = StageContext(cell=cell, task=task, tokenizer=None, device=device, workdir=workdir, data_dir=data_dir)
    if not cell.arch_only:
        from bench.data import encode

        ctx.tokenizer = load_tokenizer(source)
        train = _load_examples(task, task.train_split, data_dir, cell.budget.train_limit, shuffle=True)
        ctx.train_features = encode(ctx.tokenizer, train, cell.budget.max_seq_len)
    model.to(device)
    clock["loaded"] = time.perf_counter()

    reset_rss_peak()
    versions = result_versions()
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
        ctx.cache_key = prefix_key(cell, index, versions)
        model = entry.obj(model, options, ctx)
        if not is_post or entry.meta.flops == "own":
            flops_module = model
    flops_source = "final" if flops_module is model else "reference"
    training = ctx.records.pop("training", [])
    fresh = [t for t in training if not t.get("from_cache")]
    train_peak = rss_peak_bytes() if fresh else (training[-1]["peak_rss_bytes"] if training else None)
    clock["stages"] = time.perf_counter()
    artifact = as_artifact(model)
    if isinstance(artifact, TorchArtifact):
        artifact.module.eval()

    # Inference is measured in a fresh peak window: its peak is the deployable model's.
    reset_rss_peak()
    reset_cuda_peaks(device)
    metrics, evaluated, kept = {}, {}, None
    if not cell.arch_only:
        metrics, evaluated = _evaluate(artifact, task, ctx.tokenizer, cell, data_dir, device)
        if reference is not None:
            reference_metrics, _ = _evaluate(TorchArtifact(reference), task, ctx.tokenizer, cell, data_dir, device)
            kept = retention(metrics, reference_metrics, task.metric)
    clock["evaluated"] = time.perf_counter()
    # Timed runs must not pay for deterministic kernels (PROTOCOL: Reproducibility).
    torch.use_deterministic_algorithms(False)
    latency = _latency(artifact, cell, device)
    inference_peak, inference_cuda = rss_peak_bytes(), cuda_peaks(device)
    machine = None
    if cell.measure.matmul_peak:
        from bench.measure.peak import matmul_peak_gflops

        machine = {"matmul_peak": matmul_peak_gflops(device)}
    flops = None
    if cell.measure.flops:
        inputs = reference_inputs(artifact.vocab_size, 1, cell.measure.seq_len, device)
        flops = count_flops(flops_module, inputs).to_dict()
        flops["flops_source"] = flops_source
    size = None
    if cell.measure.size:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            size = {"model_bytes": artifact.save(Path(tmp) / "model")}
            if hasattr(artifact, "delta_bytes"):
                size["delta_bytes"] = artifact.delta_bytes(Path(tmp) / "delta")
    clock["measured"] = time.perf_counter()

    return {
        "status": "success",
        "error": None,
        "task_meta": {"metric": task.metric, "higher_is_better": task.higher_is_better, "kind": task.kind},
        "model_meta": {"architecture_only": source.architecture_only, "source": source.name,
                       "runtime": artifact.runtime, "runtime_info": getattr(artifact, "info", None)},
        "metrics": metrics,
        "retention": kept,
        "evaluated": evaluated,
        "params": artifact.parameters(base_total=base.total).to_dict(),
        "flops": flops,
        "latency": latency,
        "machine": machine,
        "memory": {
            "train_peak_rss_bytes": train_peak,
            "inference_peak_rss_bytes": inference_peak,
            "process_peak_rss_bytes": peak_rss_bytes(),
            "train_cuda": training[-1].get("cuda_peaks") if training else None,
            "inference_cuda": inference_cuda,
        },
        "size": size,
        "training": training,
        "stages": ctx.records,
        "determinism": {"accuracy": deterministic, "latency": False},
        "durations": {
            "load_s": clock["loaded"] - clock["start"],
            "stages_s": clock["stages"] - clock["loaded"],
            "eval_s": clock["evaluated"] - clock["stages"],
            "measure_s": clock["measured"] - clock["evaluated"],
            "total_s": clock["measured"] - clock["start"],
        },
    }


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
        "provenance": provenance(),
    }


def main(argv=None) -> int:
    from bench.cell import result_versions
    from bench.store import write_record

    parser = argparse.ArgumentParser(prog="python -m bench.runner", description="run one cell")
    parser.add_argument("cell_json")
    parser.add_argument("record_path")
    parser.add_argument("--data-dir")
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    with open(args.cell_json, encoding="utf-8") as handle:
        payload = json.load(handle)
    cell = Cell.from_dict(payload["cell"])
    versions = result_versions()
    started = time.time()
    try:
        result = run_cell(cell, args.data_dir, args.workdir)
        code = 0
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
