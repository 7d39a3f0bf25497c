"""Two steps of a cell (bench/runner.py): evaluate the chain's final model, then measure it.

Evaluation asks the task for its splits and its official scores; measurement times the model
and counts its FLOPs and bytes (bench/measure/), so the runner itself times nothing. Both run
in one inference memory window: its peak is the deployable model's, not training's.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.storage.record import latency_key, primary_keys

DATA_SEED = 0  # the training subset is the same for every seed and method: equal data


@dataclass
class Evaluation:
    metrics: dict
    evaluated: dict  # split -> examples scored and whether the evaluation was limited
    retention: dict | None
    outputs: dict | None = None  # split -> what a generator wrote (classifiers: None)


@dataclass
class Measurements:
    latency: dict
    flops: dict | None
    size: dict | None
    machine: dict | None
    inference_peak: int
    inference_cuda: dict | None
    process_peak: int
    sections: dict  # what the task's evaluator adds to the record ("generation": decode speed)


class ClassifierEvaluator:
    """How classification and regression tasks are predicted and timed: one forward pass per
    batch gives class ids (argmax) or scores; latency is one forward at fixed shapes."""

    def predict(self, task, artifact, tokenizer, examples, cell, prompt=None, data_dir=None) -> list:
        from bench.data import encode
        from bench.errors import UsageError

        if prompt is not None:
            raise UsageError(f"{task.name} is {task.kind}: prompt formats serve generation tasks (gsm8k)")
        from bench.runtime.predict import predict

        features = encode(tokenizer, examples, cell.budget.max_seq_len, with_labels=False)
        return predict(artifact.predictor(), tokenizer, features, task.kind, cell.budget.eval_batch_size, cell.device)

    def measure(self, artifact, tokenizer, cell, flops_module) -> tuple[dict, dict | None, dict]:
        """(latency, FLOPs of `flops_module` at batch 1 and the reference length, extra sections)."""
        from bench.measure.flops import count_flops, reference_inputs

        latency = measure_latencies(artifact, cell)
        flops = None
        if cell.measure.flops:
            inputs = reference_inputs(artifact.vocab_size, 1, cell.measure.seq_len, cell.device)
            flops = count_flops(flops_module, inputs).to_dict()
        return latency, flops, {}

    def describe(self, task) -> dict | None:
        return None


CLASSIFIER = ClassifierEvaluator()


def load_examples(task, split: str, data_dir, limit, shuffle: bool):
    """A split's examples; training subsets are shuffled with one seed for every cell (equal data)."""
    examples = task.load(split, data_dir)
    if shuffle:
        random.Random(DATA_SEED).shuffle(examples)
    return examples[:limit] if limit is not None else examples


def evaluate(cell, task, tokenizer, data_dir, artifact, reference=None, prompt=None) -> Evaluation:
    """The task's metrics on its dev splits and, after post-training stages, the accuracy kept
    against the fp32 `reference` module; `prompt` is the format a prompting stage chose."""
    from bench.measure.memory import reset_cuda_peaks
    from bench.measure.rss_window import reset_rss_peak
    from bench.runtime.artifact import TorchArtifact

    # The inference window opens here and closes after the timings in measure().
    reset_rss_peak()
    reset_cuda_peaks(cell.device)
    if cell.arch_only:
        return Evaluation({}, {}, None)
    metrics, evaluated, outputs = score_splits(artifact, cell, task, tokenizer, data_dir, prompt)
    kept = None
    if reference is not None:
        reference_metrics, _, _ = score_splits(TorchArtifact(reference), cell, task, tokenizer, data_dir, prompt)
        kept = retention(metrics, reference_metrics, task.metric)
    return Evaluation(metrics, evaluated, kept, outputs)


def score_splits(artifact, cell, task, tokenizer, data_dir, prompt=None) -> tuple[dict, dict, dict | None]:
    """Predict every dev split of the task and score it with the task's own metrics; keep what
    generators wrote (per split) so their scores can be re-checked.

    Metric keys of a suffixed split are f"{name}_{suffix}" (MNLI: accuracy_m, accuracy_mm).
    """
    from bench.trivial import trivial_scores

    metrics, evaluated, outputs = {}, {}, {}
    limit = cell.budget.eval_limit
    evaluator = task.evaluator
    for suffix, split in task.eval_splits.items():
        examples = load_examples(task, split, data_dir, limit, shuffle=False)
        started = time.perf_counter()
        predictions = evaluator.predict(task, artifact, tokenizer, examples, cell, prompt=prompt, data_dir=data_dir)
        wall = time.perf_counter() - started
        references = [e.label for e in examples]
        scores = task.score(predictions, references)
        metrics.update({f"{name}_{suffix}" if suffix else name: value for name, value in scores.items()})
        # Batches are sorted by length (bench/data.py sorted_batches), so this is compute-bound throughput.
        evaluated[split] = {"examples": len(examples), "limited": limit is not None, "wall_s": wall,
                            "examples_per_s": len(examples) / wall if wall > 0 else None,
                            "trivial": trivial_scores(task, references)}
        if hasattr(evaluator, "transcript"):
            outputs[split] = evaluator.transcript(predictions)
    return metrics, evaluated, outputs or None


def retention(metrics: dict, reference: dict, primary: str) -> dict | None:
    """Accuracy kept against the fp32 reference, with the MLPerf-style tag (-99, -99.9)."""
    keys = primary_keys(reference, primary)
    if not keys or not all(reference[k] for k in keys):
        return None
    kept = min(metrics[k] / reference[k] for k in keys)
    tag = "-99.9" if kept >= 0.999 else "-99" if kept >= 0.99 else None
    return {"retention": kept, "tag": tag, "reference_metrics": reference, "metric": primary}


def measure(cell, task, tokenizer, artifact, flops_module, flops_source: str, workdir=None) -> Measurements:
    """What the task's evaluator times and counts (latency, FLOPs of `flops_module`), then the
    inference memory peaks, size and, when asked, the matmul peak of the runtime that served
    the cell (and torch's), measured here so the cell is read against its own machine."""
    import tempfile

    import torch

    from bench.measure.memory import cuda_peaks, peak_rss_bytes
    from bench.measure.rss_window import rss_peak_bytes

    # Timed runs must not pay for deterministic kernels (PROTOCOL: Reproducibility).
    torch.use_deterministic_algorithms(False)
    latency, flops, sections = task.evaluator.measure(artifact, tokenizer, cell, flops_module)
    if flops is not None:
        flops["flops_source"] = flops_source
    inference_peak, inference_cuda = rss_peak_bytes(), cuda_peaks(cell.device)
    machine = None
    if cell.measure.matmul_peak:
        from bench.measure.peak import matmul_peaks

        # ORT and OpenVINO artifacts chose their threads; their runtime's peak runs with the same.
        runtime_threads = getattr(artifact, "threads", None)
        runtime = getattr(artifact, "runtime", "torch")
        # "matmul_peaks", not the older single torch "matmul_peak": tables tell the two apart.
        arithmetic = getattr(artifact, "arithmetic", "fp32")  # int8 cells: their runtime's int8 peak too
        machine = {"matmul_peaks": matmul_peaks(runtime, cell.device, runtime_threads, arithmetic)}
    size = None
    if cell.measure.size:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            size = {"model_bytes": artifact.save(Path(tmp) / "model")}
            if hasattr(artifact, "delta_bytes"):
                size["delta_bytes"] = artifact.delta_bytes(Path(tmp) / "delta")
    return Measurements(latency, flops, size, machine, inference_peak, inference_cuda, peak_rss_bytes(), sections)


def measure_latencies(artifact, cell) -> dict:
    """Latency statistics per (batch size, sequence length) of the cell's settings."""
    from bench.measure.flops import reference_inputs
    from bench.measure.latency import LATENCY_PRESETS, measure_latency
    from bench.progress import report

    if cell.measure.latency == "off":
        return {}
    settings = LATENCY_PRESETS[cell.measure.latency]
    results = {}
    for batch_size in cell.measure.batch_sizes:
        report("measure", detail=f"latency b{batch_size}")
        inputs = reference_inputs(artifact.vocab_size, batch_size, cell.measure.seq_len, cell.device)
        result = measure_latency(artifact.timed_call(inputs), device=cell.device, **settings)
        results[latency_key(batch_size, cell.measure.seq_len)] = dict(result.to_dict(), preset=cell.measure.latency)
    return results
