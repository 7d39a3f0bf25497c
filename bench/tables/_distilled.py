"""Accuracy rows of the TinyBERT table: the teacher, students without KD, with each KD method.

One row per (student, distillation) over every task and seed of the records; published rows
(Jiao et al. 2020, Table 1) follow ours. The notes state the cost of KD and, plainly,
whether the distilled students beat the undistilled ones.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.report import Table, describe_budget, describe_hardware, fmt, mean_std, p50

TEACHER_METHOD = "full-ft"
METHOD_ORDER = ("student-only", "kd-hard", "kd-soft", "kd-feature", "kd-multi-teacher", "kd-online")
METHOD_NAMES = {
    "student-only": "none (gold labels only)",
    "kd-hard": "teacher's labels",
    "kd-soft": "soft targets",
    "kd-feature": "soft targets + hidden/attention (TinyBERT)",
    "kd-multi-teacher": "soft targets of several teachers",
    "kd-online": "online (mutual learning)",
}
# The paper's column order and metrics: F1 for MRPC and QQP, Spearman for STS-B, MCC for CoLA.
TASK_ORDER = ("glue-mnli", "glue-qqp", "glue-qnli", "glue-sst2", "glue-cola", "glue-stsb", "glue-mrpc", "glue-rte")
TASK_METRICS = {"glue-mnli": ("accuracy_m", "accuracy_mm"), "glue-qqp": ("f1",), "glue-mrpc": ("f1",),
                "glue-stsb": ("spearman",), "glue-cola": ("matthews_corr",)}
METRIC_SHORT = {"accuracy": "acc", "f1": "F1", "spearman": "Spearman", "matthews_corr": "MCC", "accuracy_m": "acc m/mm"}


def row_identity(record: dict) -> tuple[tuple, str, str]:
    """(sort key, system, distillation) of the row a record belongs to."""
    from bench.cell import Stage
    from bench.distill.students import parse_student

    chain = [Stage(s["method"], tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in s["options"]))
             for s in record["config"]["chain"]]
    model = record["config"]["model"]
    if [stage.method for stage in chain] == [TEACHER_METHOD]:
        return (model, 0, 0, 0), f"{model} (teacher)", "- (fine-tuned, full-ft)"
    first = chain[0] if chain else None
    if first is None or first.method not in METHOD_ORDER:
        return (model, 3, 0, 99), model, record.get("chain_label", "none")
    options = first.options_dict()
    student = parse_student(options["student"])
    if student.kind == "truncate":
        system, order = f"{student.layers}-layer {model}", (1, student.layers)
    elif student.kind == "lstm":
        system, order = "BiLSTM", (2, 0)
    else:
        system, order = student.model, (1, 99)
    # Options that differ from the method's defaults (the student is in the System column).
    rest = Stage(first.method, tuple(kv for kv in first.options if kv[0] != "student")).label()
    distillation = METHOD_NAMES[first.method] + (f" [{rest}]" if rest != first.method else "")
    later = " -> ".join(stage.label() for stage in chain[1:])
    return (model, *order, METHOD_ORDER.index(first.method)), system, distillation + (f" -> {later}" if later else "")


def task_column(task: str, metrics: tuple[str, ...]) -> str:
    from bench.registry import TASKS

    name = getattr(TASKS.get(task).obj, "folder", task) if task in TASKS else task
    return f"{name} ({METRIC_SHORT.get(metrics[0], metrics[0])})"


def metrics_of(task: str, record: dict) -> tuple[str, ...]:
    return TASK_METRICS.get(task, (record["task_meta"]["metric"],))


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _speed_shapes(records: list[dict]) -> list[tuple[str, int]]:
    shapes = {(r["device"], int(key.split("_")[0][1:])) for r in records for key in (r.get("latency") or {})}
    return sorted(shapes)


def distilled_table(records: list[dict], published: list[dict]) -> Table:
    """Our rows (mean ± std over seeds per task) and the published rows beside them."""
    groups: dict[tuple, dict] = {}
    for record in records:
        order, system, distillation = row_identity(record)
        group = groups.setdefault(order, {"System": system, "Distillation": distillation, "records": []})
        group["records"].append(record)
    tasks = sorted({r["config"]["task"] for r in records}, key=lambda t: (TASK_ORDER.index(t) if t in TASK_ORDER else 99, t))
    columns = {task: task_column(task, metrics_of(task, next(r for r in records if r["config"]["task"] == task)))
               for task in tasks}
    shapes = _speed_shapes(records)
    teachers = {order[0]: group["records"] for order, group in groups.items() if order[1] == 0}
    rows = [_our_row(group, teachers.get(order[0], []), columns, shapes) for order, group in sorted(groups.items())]
    rows += [_published_row(entry, columns, shapes) for entry in published]
    return Table("TinyBERT: distilled students, accuracy, size and speed", rows, _notes(records, groups, columns, shapes))


def _our_row(group: dict, teacher: list[dict], columns: dict, shapes) -> dict:
    members = group["records"]
    row = {"System": group["System"], "Distillation": group["Distillation"], "Source": "ours (dev)",
           "#Params": fmt(_median(r["params"]["total"] / 1e6 for r in members), ".2f", "M"),
           "#FLOPs": fmt(_median(r["flops"]["flops"] / 1e9 for r in members if r.get("flops")), ".2f", "B")}
    for device, batch_size in shapes:
        ours = _median(p50(r, batch_size) for r in members if r["device"] == device)
        base = _median(p50(r, batch_size) for r in teacher if r["device"] == device)
        row[f"Speedup {device} b{batch_size}"] = fmt(base / ours if base and ours else None, ".1f", "x")
    for task, column in columns.items():
        seeds = [r for r in members if r["config"]["task"] == task]
        # MNLI shows matched / mismatched, each as mean ± std over seeds.
        values = [mean_std([r["metrics"].get(m) for r in seeds]) for m in metrics_of(task, seeds[0])] if seeds else ["-"]
        row[column] = " / ".join(values)
    row["Seeds"] = str(max(sum(r["config"]["task"] == task for r in members) for task in columns))
    return row


def _published_row(entry: dict, columns: dict, shapes) -> dict:
    row = {"System": entry["system"], "Distillation": entry["distillation"], "Source": "published (test)",
           "#Params": f"{entry['params']}M", "#FLOPs": f"{entry['flops']}B"}
    for device, batch_size in shapes:  # the paper's speedup, measured on its own hardware
        row[f"Speedup {device} b{batch_size}"] = fmt(entry["speedup"], ".1f", "x (pub.)")
    row.update({column: entry["glue"].get(task, "-") for task, column in columns.items()})
    row["Seeds"] = "-"
    return row


def _notes(records, groups, columns, shapes) -> list[str]:
    notes = [describe_hardware(records), describe_budget(records)]
    notes.append("Metrics x100 on the dev sets, mean ± std over seeds (n < 3 shown as such): "
                 + ", ".join(columns.values()) + ". Published rows: Jiao et al. 2020, Table 1, as the tutorial prints it (MNLI-m/mm and QQP "
                 "test-server scores only; the other columns are not quoted; BERT-base teacher, full training "
                 "sets, data augmentation for TinyBERT); compare the ordering of rows, not the values.")
    flops = next((r["flops"] for r in records if r.get("flops")), None)
    if flops:
        notes.append(f"#FLOPs: {flops['tool']}, {flops['convention']}, batch {flops['batch_size']}, sequence length "
                     f"{flops['seq_len']}; the published #FLOPs count otherwise (about twice ours for BERT-base, see the "
                     "architecture table). #Params: every parameter, task head included (median over tasks).")
    if shapes:
        presets = sorted({s.get("preset", "?") for r in records for s in (r.get("latency") or {}).values()})
        notes.append("Speedup: median p50 latency of the teacher over the row's, same device and batch, "
                     f"sequence length {flops['seq_len'] if flops else '?'}, measured here (latency preset "
                     f"{', '.join(presets)}; 'quick' is indicative only).")
    notes.append(_kd_cost(records))
    notes.extend(_verdicts(groups, columns))
    step_times = _step_time_ratios(groups)
    if step_times:
        notes.append("Time per training step against the undistilled student's (same student, task and seed; "
                     "median): " + ", ".join(f"{m} {r:.2f}x" for m, r in step_times.items())
                     + ". Offline KD reads cached teacher outputs, so the teacher costs no step time.")
    return notes


def _step_time_ratios(groups: dict) -> dict[str, float]:
    """Per KD method, the median ratio of its seconds per step to student-only's, freshly trained cells only."""
    def step_times(group) -> dict:
        return {(r["config"]["task"], r["config"]["seed"]): r["training"][-1]["s_per_step"] for r in group["records"]
                if r.get("training") and not r["training"][-1].get("from_cache") and r["training"][-1].get("s_per_step")}

    baselines = {order[:3]: step_times(g) for order, g in groups.items() if order[1] != 0 and order[3] == 0}
    ratios = defaultdict(list)
    for order, group in groups.items():
        baseline = baselines.get(order[:3]) if order[1] != 0 and 0 < order[3] < len(METHOD_ORDER) else None
        for cell, seconds in step_times(group).items() if baseline else ():
            if cell in baseline:
                ratios[METHOD_ORDER[order[3]]].append(seconds / baseline[cell])
    return {method: statistics.median(ratios[method]) for method in METHOD_ORDER if method in ratios}


def _kd_cost(records: list[dict]) -> str:
    kd = [r["stages"]["distillation"] for r in records if (r.get("stages") or {}).get("distillation")]
    if not kd:
        return "KD cost: no KD records."
    teachers = {t["key"]: t for d in kd for t in d.get("teachers", []) if "key" in t}
    computed = sum(1 for d in kd if d.get("teacher_forward_passes", 0) > 0 and d.get("mode") == "offline")
    passes = sum(d.get("teacher_forward_passes", 0) for d in kd if d.get("mode") == "offline")
    cache = {(t.get("outputs") and tuple(t["outputs"]), t.get("cache_bytes")) for d in kd for t in d.get("targets", [])}
    cache_mb = sum(b for _, b in cache if b) / 2**20
    return (f"KD cost: {len(teachers)} teacher(s), trained once each ({sum(t['train_wall_s'] for t in teachers.values()):.0f} s "
            f"in all, shared with the teacher rows); teacher outputs computed in {computed} of {len(kd)} KD cells "
            f"({passes} teacher forward batches), served from the cache in the rest (student training runs no "
            f"teacher pass); teacher-output cache about {cache_mb:.1f} MiB.")


def _verdicts(groups: dict, columns: dict) -> list[str]:
    """Per KD method: on how many (student, task) pairs its mean beats the undistilled student's."""
    means = defaultdict(dict)  # (model, student order) -> method index -> task -> mean primary metric
    for order, group in groups.items():
        if order[1] == 0:  # the teacher row
            continue
        for record in group["records"]:
            task = record["config"]["task"]
            value = statistics.fmean(record["metrics"].get(m, 0.0) for m in metrics_of(task, record))
            means[order[:3]].setdefault(order[3], defaultdict(list))[task].append(value)
    lines = []
    for method_index, method in enumerate(METHOD_ORDER[1:], start=1):
        wins = total = 0
        for per_method in means.values():
            if method_index not in per_method or 0 not in per_method:
                continue
            for task, values in per_method[method_index].items():
                if task in per_method[0]:
                    total += 1
                    wins += statistics.fmean(values) > statistics.fmean(per_method[0][task])
        if total:
            lines.append(f"{method} beats the undistilled student (same student, same budget) on {wins} of {total} "
                         f"(student, task) pairs by the mean over seeds.")
    return lines
