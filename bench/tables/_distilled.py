"""Accuracy rows of the TinyBERT table: the teacher, students without KD, with each KD method.

One row per (student, distillation) over every task and seed of the records; published rows
(Jiao et al. 2020, Table 1) follow ours. The notes state the cost of KD and, plainly,
whether the distilled students beat the undistilled ones.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.report import Num, Table, count, describe_budget, describe_hardware, fmt, mean_std, printed
from bench.tables._runs import task_column as task_name

TEACHER_METHOD = "full-ft"
BASELINE = "student-only"  # the undistilled student every KD row is held against
OTHER_CHAIN = 10**6  # rows of chains that are neither the teacher nor a KD method sort last
# The paper's column order and metrics: F1 for MRPC and QQP, Spearman for STS-B, MCC for CoLA.
TASK_ORDER = ("glue-mnli", "glue-qqp", "glue-qnli", "glue-sst2", "glue-cola", "glue-stsb", "glue-mrpc", "glue-rte")
TASK_METRICS = {"glue-mnli": ("accuracy_m", "accuracy_mm"), "glue-qqp": ("f1",), "glue-mrpc": ("f1",),
                "glue-stsb": ("spearman",), "glue-cola": ("matthews_corr",)}
METRIC_SHORT = {"accuracy": "acc", "f1": "F1", "spearman": "Spearman", "matthews_corr": "MCC", "accuracy_m": "acc m/mm"}


def distillation_methods() -> list[str]:
    """The distillation methods in their table order (their metadata): the baseline first."""
    from bench.registry import METHODS

    entries = [e for e in METHODS.entries() if e.meta.family == "distillation"]
    return [e.name for e in sorted(entries, key=lambda e: e.meta.order)]


def row_identity(record) -> tuple[tuple, str, str, str | None]:
    """(sort key, system, distillation, KD method or None) of the row a record belongs to."""
    from bench.cell import Stage
    from bench.distill.students import parse_student
    from bench.registry import METHODS

    chain, model = record.chain, record.model
    if [stage.method for stage in chain] == [TEACHER_METHOD]:
        return (model, 0, 0, 0), f"{model} (teacher)", "- (fine-tuned, full-ft)", None
    first = chain[0] if chain else None
    info = METHODS.get(first.method).meta if first else None
    if info is None or info.family != "distillation":
        return (model, 3, 0, OTHER_CHAIN), model, record.chain_label, None
    if "student" not in first.options_dict():  # a distillation method whose student is the cell's model
        return (model, 3, 0, OTHER_CHAIN), model, record.chain_label, None
    student = parse_student(first.options_dict()["student"])
    if student.kind == "truncate":
        system, order = f"{student.layers}-layer {model}", (1, student.layers)
    elif student.kind == "lstm":
        system, order = "BiLSTM", (2, 0)
    else:
        system, order = student.model, (1, 99)
    # Options that differ from the method's defaults (the student is in the System column).
    rest = Stage(first.method, tuple(kv for kv in first.options if kv[0] != "student")).label()
    distillation = info.label + (f" [{rest}]" if rest != first.method else "")
    later = " -> ".join(stage.label() for stage in chain[1:])
    return (model, *order, info.order), system, distillation + (f" -> {later}" if later else ""), first.method


def task_column(task: str, metrics: tuple[str, ...]) -> str:
    return f"{task_name(task)} ({METRIC_SHORT.get(metrics[0], metrics[0])})"


def metrics_of(task: str, record) -> tuple[str, ...]:
    return TASK_METRICS.get(task, (record.metric,))


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _speed_shapes(records) -> list[tuple[str, int]]:
    return sorted({(r.device, batch_size) for r in records for batch_size, _ in r.latency})


def distilled_table(records, published: list[dict]) -> Table:
    """Our rows (mean ± std over seeds per task) and the published rows beside them. Generation
    cells (translation, GSM8K) have their own KD tables: students of classifiers only here."""
    records = [r for r in records if r.section("task_meta").get("kind") != "generation"]
    groups: dict[tuple, dict] = {}
    for record in records:
        order, system, distillation, method = row_identity(record)
        group = groups.setdefault(order, {"System": system, "Distillation": distillation, "method": method,
                                          "records": []})
        group["records"].append(record)
    tasks = sorted({r.task for r in records}, key=lambda t: (TASK_ORDER.index(t) if t in TASK_ORDER else 99, t))
    columns = {task: task_column(task, metrics_of(task, next(r for r in records if r.task == task))) for task in tasks}
    shapes = _speed_shapes(records)
    teachers = {order[0]: group["records"] for order, group in groups.items() if order[1] == 0}
    rows = [_our_row(group, teachers.get(order[0], []), columns, shapes) for order, group in sorted(groups.items())]
    rows += [_published_row(entry, columns, shapes) for entry in published]
    return Table("TinyBERT: distilled students, accuracy, size and speed", rows, _notes(records, groups, columns, shapes))


def _our_row(group: dict, teacher: list[dict], columns: dict, shapes) -> dict:
    members = group["records"]
    row = {"System": group["System"], "Distillation": group["Distillation"], "Source": "ours (dev)",
           "#Params": count(_median(r.params["total"] for r in members)),
           "#FLOPs": count(_median(r.flops.get("flops") for r in members), 1e9, ".2f", "B")}
    for device, batch_size in shapes:
        ours = _median(r.p50(batch_size) for r in members if r.device == device)
        base = _median(r.p50(batch_size) for r in teacher if r.device == device)
        row[f"Speedup {device} b{batch_size}"] = fmt(base / ours if base and ours else None, ".1f", "x")
    for task, column in columns.items():
        seeds = [r for r in members if r.task == task]
        # MNLI shows matched / mismatched, each as mean ± std over seeds.
        values = [mean_std([r.metrics.get(m) for r in seeds]) for m in metrics_of(task, seeds[0])] if seeds else ["-"]
        row[column] = values[0] if len(values) == 1 else " / ".join(values)
    seeds = max(sum(r.task == task for r in members) for task in columns)
    row["Seeds"] = Num(str(seeds), seeds)
    return row


def _published_row(entry: dict, columns: dict, shapes) -> dict:
    row = {"System": entry["system"], "Distillation": entry["distillation"], "Source": "published (test)",
           "#Params": printed(f"{entry['params']}M"), "#FLOPs": printed(f"{entry['flops']}B")}
    for device, batch_size in shapes:  # the paper's speedup, measured on its own hardware
        row[f"Speedup {device} b{batch_size}"] = fmt(entry["speedup"], ".1f", "x (pub.)")
    row.update({column: printed(entry["glue"].get(task, "-")) for task, column in columns.items()})
    row["Seeds"] = "-"
    return row


def _notes(records, groups, columns, shapes) -> list[str]:
    notes = [describe_hardware(records), describe_budget(records)]
    notes.append("Metrics x100 on the dev sets, mean ± std over seeds (n < 3 shown as such): "
                 + ", ".join(columns.values()) + ". Published rows: Jiao et al. 2020, Table 1, as the tutorial prints it (MNLI-m/mm and QQP "
                 "test-server scores only; the other columns are not quoted; BERT-base teacher, full training "
                 "sets, data augmentation for TinyBERT); compare the ordering of rows, not the values.")
    flops = next((r.flops for r in records if r.flops), None)
    if flops:
        notes.append(f"#FLOPs: {flops['tool']}, {flops['convention']}, batch {flops['batch_size']}, sequence length "
                     f"{flops['seq_len']}; the published #FLOPs count otherwise (about twice ours for BERT-base, see the "
                     "architecture table). #Params: every parameter, task head included (median over tasks).")
    if shapes:
        presets = sorted({s.get("preset", "?") for r in records for s in r.latency.values()})
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
        return {(r.task, r.seed): r.s_per_step for r in group["records"]
                if r.training and not r.last_training.get("from_cache") and r.s_per_step}

    baselines = {order[:3]: step_times(g) for order, g in groups.items() if g["method"] == BASELINE}
    ratios = defaultdict(list)
    for order, group in groups.items():
        baseline = baselines.get(order[:3]) if group["method"] not in (None, BASELINE) else None
        for cell, seconds in step_times(group).items() if baseline else ():
            if cell in baseline:
                ratios[group["method"]].append(seconds / baseline[cell])
    return {method: statistics.median(ratios[method]) for method in distillation_methods() if method in ratios}


def _kd_cost(records: list[dict]) -> str:
    kd = [r.stage("distillation") for r in records if r.stage("distillation")]
    if not kd:
        return "KD cost: no KD records."
    teachers = {t["key"]: t for d in kd for t in d.get("teachers", []) if "key" in t}
    computed = sum(1 for d in kd if d.get("teacher_forward_passes", 0) > 0 and d.get("mode") == "offline")
    passes = sum(d.get("teacher_forward_passes", 0) for d in kd if d.get("mode") == "offline")
    cache_mb, exact = _cache_mib(kd)
    return (f"KD cost: {len(teachers)} teacher(s), trained once each ({sum(t['train_wall_s'] for t in teachers.values()):.0f} s "
            f"in all, shared with the teacher rows); teacher outputs computed in {computed} of {len(kd)} KD cells "
            f"({passes} teacher forward batches), served from the cache in the rest (student training runs no "
            f"teacher pass); teacher-output cache {'' if exact else 'at most '}{cache_mb:.1f} MiB on disk"
            f"{'' if exact else ' (older records give no per-output sizes: outputs two students share are counted twice)'}.")


def _cache_mib(kd: list[dict]) -> tuple[float, bool]:
    """MiB the teacher-output cache holds for these records, each stored output counted once,
    and whether that is exact. Records with per-output sizes name each entry; older ones give
    only the bytes of a teacher's whole set of outputs, so sets sharing outputs overlap."""
    entries, sets, exact = {}, {}, True
    for section in kd:
        keys = [t.get("key") for t in section.get("teachers", [])]
        for index, target in enumerate(section.get("targets", [])):
            if "entry_bytes" in target:
                entries.update({(target["entry"], name): size for name, size in target["entry_bytes"].items()})
            else:
                exact = False
                teacher = keys[index] if index < len(keys) else None
                sets[(teacher, tuple(target.get("outputs") or ()))] = target.get("cache_bytes") or 0
    return (sum(entries.values()) + sum(sets.values())) / 2**20, exact


def _verdicts(groups: dict, columns: dict) -> list[str]:
    """Per KD method: on how many (student, task) pairs its mean beats the undistilled student's."""
    means = defaultdict(dict)  # (model, student order) -> KD method -> task -> mean primary metric
    for order, group in groups.items():
        if group["method"] is None:  # the teacher and other chains
            continue
        for record in group["records"]:
            value = statistics.fmean(record.metrics.get(m, 0.0) for m in metrics_of(record.task, record))
            means[order[:3]].setdefault(group["method"], defaultdict(list))[record.task].append(value)
    lines = []
    for method in distillation_methods():
        wins = total = 0
        for per_method in means.values():
            if method == BASELINE or method not in per_method or BASELINE not in per_method:
                continue
            for task, values in per_method[method].items():
                if task in per_method[BASELINE]:
                    total += 1
                    wins += statistics.fmean(values) > statistics.fmean(per_method[BASELINE][task])
        if total:
            lines.append(f"{method} beats the undistilled student (same student, same budget) on {wins} of {total} "
                         f"(student, task) pairs by the mean over seeds.")
    return lines
