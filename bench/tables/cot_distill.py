"""CoT distillation table (Magister et al. 2022, as the tutorial prints it): GSM8K accuracy of the
answer-only baseline, the CoT-finetuned student and the few-shot CoT teacher, without and with
the calculator; the training-set size each used; our parameters, decode speed and memory; the
published T5-XXL / PaLM 540B figures beside ours (MAWPS and ASDiv: published only).

Rows come from chains: answer-only is the Baseline, cot-distill CoT-finetuned (its teacher
named), few-shot-cot the teacher row; a post-training stage after them (int8-dynamic) makes a
row of its own with the accuracy it kept.
"""

from __future__ import annotations

import math
import statistics

from bench.registry import TABLES
from bench.report import Table, count, describe_budget, describe_hardware, fmt, mean_std, printed, successful
from methods.cot_distill import PAPER

ROWS = {"answer-only": "Baseline", "cot-distill": "CoT-finetuned", "few-shot-cot": "Few-shot CoT"}
# The tutorial's table: (GSM8K acc, acc with calculator, training-set size), then MAWPS and
# ASDiv the same way. The baseline has no calculator figure (it writes no annotations).
PUBLISHED = {
    "Baseline": ("T5-XXL", (8.11, None, 6725), (54.15, None, 1590), (39.64, None, 1844)),
    "CoT-finetuned": ("T5-XXL on PaLM 540B's CoT", (21.99, 38.21, 5337), (70.41, 88.22, 1590), (42.12, 60.73, 1544)),
    "Few-shot CoT": ("PaLM 540B, 8-shot", (56.90, 58.60, None), (93.00, 93.66, None), (73.9, 72.6, None)),
}
COLUMNS = ("Task", "Model", "System", "Chain", "Acc", "Acc (calc)", "Acc flexible", "Train examples",
           "Test questions", "#Params", "Trainable", "Decode tok/s (b1)", "Decode tok/s (b32)", "TTFT b1 (ms)",
           "Peak RSS infer (MiB)", "Kept", "Seeds", "Pub. model", "Acc pub.", "Acc (calc) pub.", "Train size pub.",
           "MAWPS pub.", "ASDiv pub.")


def system_of(record) -> tuple[str | None, tuple[str, ...]]:
    """(the Magister row the chain's first stage makes, the stages after it)."""
    first, *rest = record.chain or (None,)
    return (ROWS.get(first.method) if first else None), tuple(stage.label() for stage in rest)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _mib(value):
    return None if value is None else value / 2**20


def _train_examples(record) -> int | None:
    for name in ("answer_only", "cot_distill"):
        section = record.stage(name)
        if section and "examples" in section:
            return section["examples"]
    return 0 if record.stage("few_shot_cot") else None


def _teacher(record) -> str:
    stage = record.chain[0]
    if stage.method == "cot-distill":
        teacher = stage.options_dict().get("teacher", "references")
        return "human rationales (teacher=references)" if teacher == "references" else f"teacher {teacher}"
    if stage.method == "few-shot-cot":
        return f"{stage.options_dict().get('shots', 8)}-shot, no training"
    return "final answer only"


def _published(system: str | None, after: tuple) -> dict:
    entry = PUBLISHED.get(system) if not after else None
    if entry is None:
        return {"Pub. model": "-", "Acc pub.": "-", "Acc (calc) pub.": "-", "Train size pub.": "-",
                "MAWPS pub.": "-", "ASDiv pub.": "-"}
    model, gsm8k, mawps, asdiv = entry

    def pair(figures):
        acc, calc, _ = figures
        return printed(f"{acc:.2f}") if calc is None else f"{acc:.2f} / {calc:.2f}"

    return {"Pub. model": model, "Acc pub.": printed(f"{gsm8k[0]:.2f}"),
            "Acc (calc) pub.": "-" if gsm8k[1] is None else printed(f"{gsm8k[1]:.2f}"),
            "Train size pub.": "-" if gsm8k[2] is None else printed(str(gsm8k[2])),
            "MAWPS pub.": pair(mawps), "ASDiv pub.": pair(asdiv)}


def _row(key, members) -> dict:
    task, model, system, after, label = key
    retention = [r.retention["retention"] for r in members if r.retention]
    return {
        "Task": task, "Model": model, "System": (system or members[0].method_label) + (
            f" -> {' -> '.join(after)}" if after else ""),
        "Chain": f"{members[0].method_label} ({label})",
        "Acc": mean_std([r.metrics.get("exact_match") for r in members]),
        "Acc (calc)": mean_std([r.metrics.get("exact_match_calc") for r in members]),
        "Acc flexible": mean_std([r.metrics.get("exact_match_flexible") for r in members]),
        "Train examples": fmt(_median(_train_examples(r) for r in members), ".0f"),
        "Test questions": fmt(_median((r.data.get("evaluated") or {}).get("test", {}).get("examples")
                                      for r in members), ".0f"),
        "#Params": count(_median(r.params.get("total") for r in members), 1e6, ".1f", "M"),
        "Trainable": count(_median(r.last_training.get("trainable_parameters") for r in members), 1e6, ".2f", "M")
        if members[0].training else "0",
        "Decode tok/s (b1)": fmt(_median(r.decode_tokens_per_s(1) for r in members), ".1f"),
        "Decode tok/s (b32)": fmt(_median(r.decode_tokens_per_s(32) for r in members), ".0f"),
        "TTFT b1 (ms)": fmt(_median((r.section("generation").get("ttft") or {}).get("p50") for r in members), ".1f"),
        "Peak RSS infer (MiB)": fmt(_mib(_median(r.memory.get("inference_peak_rss_bytes") for r in members)), ".0f"),
        "Kept": fmt(statistics.fmean(retention) * 100 if retention else None, ".1f", "%"),
        "Seeds": str(len(members)), **_published(system, after),
    }


def _mean_of(groups, task: str, model: str, system: str, metric: str) -> float | None:
    """Mean x100 of `metric` over the seeds of a plain row (no post-training stage after it)."""
    values = [r.metrics.get(metric) for key, members in groups.items() if key[:3] == (task, model, system)
              and not key[3] for r in members if r.metrics.get(metric) is not None]
    return 100 * statistics.fmean(values) if values else None


def _questions(groups, task: str, model: str, system: str) -> int | None:
    counts = [(r.data.get("evaluated") or {}).get("test", {}).get("examples") for key, members in groups.items()
              if key[:3] == (task, model, system) and not key[3] for r in members]
    counts = [c for c in counts if c]
    return sum(counts) if counts else None


def verdict(better: float, worse: float, questions: int | None) -> str:
    """'holds' when `better` beats `worse` by more than two binomial standard errors of the
    difference (both scored on `questions` answers, percentages), 'does NOT hold' when it loses
    by as much, else 'not shown': exact match on a few hundred questions moves in steps of
    1/N, and a difference of one or two answers says nothing."""
    if not questions:
        return "holds" if better > worse else "does NOT hold"
    p = (better + worse) / 200
    noise = 2 * 100 * math.sqrt(max(p * (1 - p), 1e-9) * 2 / questions)
    if better - worse > noise:
        return "holds"
    if worse - better > noise:
        return "does NOT hold"
    return f"not shown (a difference of {better - worse:+.1f} points is within ±{noise:.1f}, two standard errors)"


def _findings(groups) -> list[str]:
    """Magister's finding per (task, model): CoT fine-tuning beats the answer-only baseline, and
    the calculator helps the CoT-finetuned model further; judged against the binomial noise of
    the questions scored (over all seeds)."""
    lines = []
    for task, model in sorted({(key[0], key[1]) for key in groups}):
        base = _mean_of(groups, task, model, "Baseline", "exact_match")
        cot = _mean_of(groups, task, model, "CoT-finetuned", "exact_match")
        calc = _mean_of(groups, task, model, "CoT-finetuned", "exact_match_calc")
        n_base, n_cot = _questions(groups, task, model, "Baseline"), _questions(groups, task, model, "CoT-finetuned")
        if base is not None and cot is not None:
            lines.append(f"Finding (CoT fine-tuning beats the answer-only baseline) on {task}, {model}: "
                         f"{cot:.1f} vs {base:.1f}: {verdict(cot, base, min(n_base or 0, n_cot or 0))}.")
        if cot is not None and calc is not None:
            lines.append(f"Finding (the calculator helps the CoT-finetuned model) on {task}, {model}: "
                         f"{calc:.1f} with vs {cot:.1f} without: {verdict(calc, cot, n_cot)}.")
    return lines


def _kd_cost(records) -> str:
    costs = [r.stage("cot_distill")["kd_cost"] for r in records if (r.stage("cot_distill") or {}).get("kd_cost")]
    if not costs:
        return ("KD cost: every CoT-finetuned row trained on the human reference rationales (teacher=references), "
                "so no teacher ran.")
    computed = [c for c in costs if not c["from_cache"]]
    return (f"KD cost: {len(costs)} cell(s) with a teacher; its rationales were generated in {len(computed)} "
            f"({sum(c['generate_s'] for c in computed):.0f} s, {sum(c['generated_tokens'] for c in computed)} tokens) "
            f"and read from the cache in the others; kept {sum(c['kept'] for c in costs)} of "
            f"{sum(c['questions'] for c in costs)} (strict answer equals the reference).")


@TABLES.register("cot-distill", results="cot-distill", title="CoT distillation: GSM8K accuracy with and without a "
                 "calculator, size and decode speed", paper=PAPER)
def cot_distill(records, arch_only: bool = False) -> Table:
    trained = [r for r in successful(records) if not r.arch_only and r.task == "gsm8k"]
    groups: dict = {}
    for record in trained:
        system, after = system_of(record)
        label = _teacher(record) if system else "-"
        groups.setdefault((record.task, record.model, system, after, label), []).append(record)
    order = {name: i for i, name in enumerate(PUBLISHED)}
    keys = sorted(groups, key=lambda k: (k[0], k[1], order.get(k[2], 9), k[3], k[4]))
    rows = [_row(key, groups[key]) for key in keys]
    shown = {k[2] for k in keys if not k[3]}
    for system in PUBLISHED:
        if system not in shown:
            rows.append({**dict.fromkeys(COLUMNS, "-"), "Task": "not run here", "System": system,
                         **_published(system, ())})
    notes = [
        describe_hardware(trained), describe_budget(trained),
        "Acc: exact match of the final number, strict extraction (the number after '#### '), mean ± std over seeds "
        "(x100); Acc (calc): the same with the calculator writing the value of every `<<expr=` annotation; Acc "
        "flexible: the last number of the output. Greedy decoding, at most 256 new tokens, stopped at a blank line "
        "or 'Question:'. Outputs are in each record ('outputs').",
        "Published (Magister et al. 2022 as the tutorial prints it): T5-XXL (11B) students fine-tuned on GSM8K "
        "training sets of the printed sizes (6,725 question-answer pairs for the baseline; 5,337 PaLM rationales "
        "for CoT, those the answer filter kept), PaLM 540B 8-shot CoT as the teacher; MAWPS and ASDiv are published figures only (acc / acc with calculator). Ours: "
        "a 135M decoder on a training subset and a test subset (the budget above), and teacher=references trains "
        "on GSM8K's human rationales instead of PaLM's: compare the order of the rows, not their values.",
        "Decode tok/s and TTFT: the record's timed decoding (96-token random prompts, 64 new tokens, EOS ignored) "
        "at batch 1 and 32; Peak RSS infer: the evaluation and timing window of the cell. Kept: accuracy retained "
        "against the fp32 model before a post-training stage.",
        _kd_cost(trained), *_findings(groups),
    ]
    return Table("CoT distillation (Magister et al. 2022), GSM8K", [{c: row.get(c, "-") for c in COLUMNS}
                                                                     for row in rows], notes)
