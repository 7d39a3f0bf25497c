"""The `bench` command: list, run, table, compare. Exit 2 on bad input, 1 on failed cells or regressions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError, UsageError, abridge

LIST_KINDS = ("tasks", "methods", "models", "tables")
DEFAULT_RECORDS = Path("runs") / "records"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _seeds(text: str) -> list[int]:
    seeds = []
    for part in _csv(text):
        try:
            seeds.append(int(part))
        except ValueError:
            raise UsageError(f"--seed: {abridge(repr(part), 40)} is not an integer (e.g. --seed 0,1,2)") from None
    return seeds


def _batch_sizes(text: str) -> list[int]:
    try:
        return [int(b) for b in _csv(text)]
    except ValueError:
        raise UsageError(f"--batch-sizes: {abridge(repr(text), 40)} is not a list of integers (e.g. 1,32)") from None


def _positive_seconds(text: str) -> float:
    """--timeout: a finite number of seconds above zero."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{abridge(repr(text), 40)} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """Bad flags exit 2 with one line naming the problem, like every other usage error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {abridge(message, 300)} (see {self.prog} --help)\n")


def _methods(text: str) -> list[str]:
    """Method chains separated by ';' or by commas outside parentheses: 'lora(r=8,alpha=16),full-ft'."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char in ",;" and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [item.strip() for item in items if item.strip()]


def cmd_list(args) -> int:
    from bench.registry import METHODS, MODELS, TABLES, TASKS

    registry = {"tasks": TASKS, "methods": METHODS, "models": MODELS, "tables": TABLES}[args.kind]
    for entry in registry.entries():
        fields = entry.meta if isinstance(entry.meta, dict) else vars(entry.meta)
        meta = {k: v for k, v in fields.items() if k not in ("options", "order", "label") and v is not None}
        details = "  ".join(f"{k}={v}" for k, v in meta.items())
        print(f"{entry.name:<26} {details}")
    return 0


def _spec_from_args(args) -> tuple[dict, Path | None]:
    """The spec file or preset, then flags on top; the records folder a preset implies."""
    from bench.spec import preset_path
    from bench.spec_file import load_spec_file

    spec, records = {}, None
    if args.spec and args.preset:
        raise UsageError("give --spec or --preset, not both")
    if args.preset:
        path = preset_path(args.preset)
        spec, records = load_spec_file(path), path.parent / "records"
    elif args.spec:
        spec = load_spec_file(args.spec)
    overrides = {
        "tasks": _csv(args.task) if args.task else None,
        "methods": _methods(args.method) if args.method else None,
        "models": _csv(args.model) if args.model else None,
        "seeds": _seeds(args.seed) if args.seed else None,
        "device": args.device,
        "arch_only": True if args.arch_only else None,
    }
    spec.update({k: v for k, v in overrides.items() if v is not None})
    budget = {"train_limit": args.train_limit, "epochs": args.epochs, "max_steps": args.max_steps,
              "eval_limit": args.eval_limit, "batch_size": args.batch_size}
    spec["budget"] = dict(spec.get("budget") or {}, **{k: v for k, v in budget.items() if v is not None})
    batch_sizes = _batch_sizes(args.batch_sizes) if args.batch_sizes else None
    measure = {"latency": args.latency, "threads": args.threads, "batch_sizes": batch_sizes}
    spec["measure"] = dict(spec.get("measure") or {}, **{k: v for k, v in measure.items() if v is not None})
    return spec, records


def cmd_run(args) -> int:
    from bench.executors.local import run_matrix
    from bench.preflight import absolute, check_data, check_records_dir, data_dir_or_env
    from bench.registry import TABLES
    from bench.spec import expand
    from bench.store import read_record

    spec, preset_records = _spec_from_args(args)
    cells = expand(spec)  # every name and option validated before anything runs
    # Paths are the caller's: cells run in other processes, and results must land where asked.
    records_dir = absolute(args.records or preset_records or DEFAULT_RECORDS)
    check_records_dir(records_dir)
    data_dir = data_dir_or_env(args.data_dir)
    check_data(cells, data_dir)
    if args.dry_run:
        for cell in cells:
            print(f"{cell.slug()}  {cell.chain_label}")
        print(f"{len(cells)} cell(s) -> {records_dir}")
        return 0
    outcomes = run_matrix(cells, records_dir, data_dir=data_dir and str(data_dir), timeout=args.timeout,
                          progress=not args.quiet)
    records = [read_record(o.path) for o in outcomes]
    print(TABLES.get("summary").obj(records).render("md"))
    cached = sum(o.cached for o in outcomes)
    failed = [o for o in outcomes if o.status != "success"]
    print(f"{len(outcomes)} cell(s): {len(outcomes) - len(failed)} succeeded ({cached} from records), "
          f"{len(failed)} failed. Records: {records_dir}")
    return 1 if failed else 0


def cmd_table(args) -> int:
    from bench.record import Record
    from bench.registry import TABLES
    from bench.spec import results_dir

    entry = TABLES.get(args.name)
    # A table's runs live in results/<its results folder>/records (several tables may share one).
    records_dir = Path(args.records) if args.records else results_dir() / entry.meta.get("results", args.name) / "records"
    table = entry.obj(Record.load_all(records_dir), arch_only=args.arch_only)
    print(table.render(args.format), end="")
    if args.save:
        save_dir = Path(args.save)
        save_dir.mkdir(parents=True, exist_ok=True)
        for fmt, suffix in (("md", "md"), ("csv", "csv")):
            (save_dir / f"{args.name}.{suffix}").write_text(table.render(fmt), encoding="utf-8")
    return 0


def cmd_compare(args) -> int:
    from tabulate import tabulate

    from bench.compare import Thresholds, compare

    limits = Thresholds(latency_ratio=args.latency_threshold, memory_growth=args.memory_threshold,
                        metric_drop=args.metric_tolerance)
    result = compare(args.base, args.new, limits)
    rows = [{"cell": d.cell, "quantity": d.quantity, "base": d.base, "new": d.new, "change": d.change,
             "verdict": "REGRESSION" if d.regression else "ok"} for d in result.differences]
    print(tabulate(rows, headers="keys", tablefmt="github") if rows else "no differences in matched cells")
    for cell in result.only_in_base:
        print(f"MISSING (only in BASE): {cell}")
    for cell in result.only_in_new:
        print(f"only in NEW: {cell}")
    print(result.verdict())
    return 1 if result.failed else 0


def parser() -> argparse.ArgumentParser:
    top = _OneLineParser(prog="bench", description="Benchmark harness for efficient NLP methods.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    p = sub.add_parser("list", help="list registered tasks, methods, models or tables")
    p.add_argument("kind", choices=LIST_KINDS)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a matrix of cells (flags, --spec FILE or --preset NAME)")
    p.add_argument("--spec", help="YAML spec file")
    p.add_argument("--preset", help="the spec of results/NAME/ (records go to results/NAME/records)")
    p.add_argument("--task", help="comma-separated task names")
    p.add_argument("--method", help="method chains: 'full-ft', 'lora(r=8) -> merge-lora'; several separated by ','")
    p.add_argument("--model", help="comma-separated model aliases, local directories or hub ids")
    p.add_argument("--seed", help="comma-separated seeds")
    p.add_argument("--train-limit", type=int)
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--eval-limit", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--latency", choices=("off", "quick", "default", "publish"))
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes for latency (default 1,32)")
    p.add_argument("--arch-only", action="store_true", help="no data or training: parameters, FLOPs, latency")
    p.add_argument("--data-dir", help="local data directory (else BENCH_DATA_DIR, else the hub)")
    p.add_argument("--records", help=f"records directory (default {DEFAULT_RECORDS})")
    p.add_argument("--timeout", type=_positive_seconds, help="seconds per cell")
    p.add_argument("--dry-run", action="store_true", help="validate and list the cells, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("table", help="render a table from stored records")
    p.add_argument("name")
    p.add_argument("--records", help="records directory (default results/NAME/records)")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md")
    p.add_argument("--arch-only", action="store_true", help="only the columns architecture-only cells give")
    p.add_argument("--save", metavar="DIR", help="also write DIR/NAME.md and DIR/NAME.csv")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("compare", help="compare two records directories; exit 1 on a regression")
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--latency-threshold", type=float, default=1.10, help="p50 ratio above which latency regressed")
    p.add_argument("--memory-threshold", type=float, default=0.05, help="peak memory growth that is a regression")
    p.add_argument("--metric-tolerance", type=float, default=0.0, help="metric drop tolerated")
    p.set_defaults(func=cmd_compare)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as error:
        print(f"bench: error: {abridge(error, 2000)}", file=sys.stderr)
        return 2
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
