"""Adapter swapping: what serving several tasks from one base model costs per task."""

from __future__ import annotations

from bench.registry import TABLES
from bench.report import Table, count, describe_hardware, fmt, with_stage


@TABLES.register("adapter-swap", results="adapter-swap", title="One base model, several task deltas",
                 paper="Houlsby et al. 2019; Hu et al. 2021")
def adapter_swap(records, arch_only: bool = False) -> Table:
    rows, measured = [], []
    for record, swap in with_stage(records, "adapter_swap"):
        measured.append(record)
        model_bytes = record.size.get("model_bytes")
        rows.append({
            "Task": record.task,
            "Model": record.model,
            "Method": record.method_label.replace(" -> adapter-swap", ""),
            "Delta parameters": count(swap["delta_parameters"], 1e6, ".3f", "M"),
            "Bytes per task (MB)": fmt(swap["bytes_per_task"] / 1e6, ".2f"),
            "Whole model (MB)": fmt(model_bytes / 1e6, ".1f") if model_bytes else "-",
            "Load from disk (ms)": fmt(swap["load_ms_p50"], ".2f"),
            "Switch in memory (ms)": fmt(swap["switch_ms_p50"], ".2f"),
            "Restored exactly": "yes" if swap["restored_exactly"] else "NO",
        })
    notes = [describe_hardware(measured),
             "A task's delta is every tensor its training stage trained (the task head included), saved as "
             "safetensors. Load: reading one task's delta file (p50); switch: copying a loaded delta into the live "
             "model (p50). After the timings the model is switched back to the first task and its logits must equal "
             "the originals bit for bit."]
    return Table("Adapter swapping", rows, notes)
