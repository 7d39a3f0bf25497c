"""The `bench` command: list, show, run, table, compare, report, cache. Exit 2 on bad input, 1 on failed cells or
regressions, 130 on Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path

from bench.cell import LatencyPreset
from bench.cli import ab, baseline, speed
from bench.cli.run import DEFAULT_RECORDS, cmd_run
from bench.errors import INTERRUPTED, BenchError, UsageError, abridge

LIST_KINDS = ("tasks", "methods", "models", "tables", "presets")


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


def cmd_list(args) -> int:
    from bench.registry import METHODS, MODELS, TABLES, TASKS

    if args.options and args.kind != "methods":
        raise UsageError(f"--options lists method options (bench list methods --options); for {args.kind}, "
                         "bench show NAME")
    if args.kind == "presets":
        from bench.cli.describe import preset_description
        from bench.spec import preset_names

        for name in preset_names():
            print(f"{name:<26} {preset_description(name)}")
        return 0
    registry = {"tasks": TASKS, "methods": METHODS, "models": MODELS, "tables": TABLES}[args.kind]
    for entry in registry.entries():
        fields = entry.meta if isinstance(entry.meta, dict) else vars(entry.meta)
        meta = {k: v for k, v in fields.items() if k not in ("options", "order", "label") and v is not None}
        details = "  ".join(f"{k}={v}" for k, v in meta.items())
        print(f"{entry.name:<26} {details}")
        if args.options:
            from bench.cli.describe import options_table

            print(options_table(entry.meta.options) + "\n")
    return 0


def cmd_show(args) -> int:
    from bench.cli.describe import show
    from bench.preflight import data_dir_or_env

    data_dir = data_dir_or_env(args.data_dir)
    print(show(args.name, data_dir and str(data_dir)))
    return 0


def cmd_table(args) -> int:
    from bench.registry import TABLES
    from bench.spec import results_dir, results_folder
    from bench.storage.record import Record

    if args.all:
        return _table_all(args)
    if not args.name:
        raise UsageError("give a table NAME (bench list tables), or --all for every results folder")
    entry = TABLES.get(args.name)
    # A table's runs live in results/<its results folder>/records (several tables may share one).
    records_dir = Path(args.records) if args.records else results_dir() / results_folder(entry) / "records"
    if not args.records and not records_dir.is_dir():
        raise UsageError(f"table {args.name} reads {records_dir}, which does not exist; point it at a records "
                         f"folder with --records DIR (bench run writes to ./{DEFAULT_RECORDS} unless told otherwise)")
    table = entry.obj(Record.load_all(records_dir), arch_only=args.arch_only)
    print(table.render(args.format), end="")
    if args.save:
        table.save(args.save, args.name, args.format)
    return 0


def _table_all(args) -> int:
    from bench.cli.regenerate import plan, render_all
    from bench.spec import results_dir

    if args.name or args.records:
        raise UsageError("--all renders every table from its results folder; give no NAME nor --records")
    root = results_dir()
    jobs, skipped = plan(root)
    for name, folder, out in render_all(jobs, args.format, args.save, args.arch_only):
        if args.save:
            print(f"results/{folder.name}: {name} -> {', '.join(str(p) for p in out)}")
        else:
            print(f"<!-- results/{folder.name}: bench table {name} -->\n{out}")
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(f"{len(jobs)} table(s) rendered from {root}; {len(skipped)} skipped", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from bench.compare import Thresholds, compare, render

    limits = Thresholds(latency_ratio=args.latency_threshold, memory_growth=args.memory_threshold,
                        metric_drop=args.metric_tolerance, calibrate=args.calibrate)
    result = compare(args.base, args.new, limits)
    print(render(result))
    return 1 if result.failed else 0


def cmd_compare_benchmarks(args) -> int:
    from bench.comparison.pytest_benchmarks import compare_runs, load, render

    base, new = load(args.base), load(args.new)
    text, failed = render(base, new, compare_runs(base, new, args.threshold))
    print(text)
    return 1 if failed else 0


def cmd_report(args) -> int:
    from bench.reporting.page import write_folder_plots, write_report

    if args.all:
        from bench.spec import results_dir

        if args.records or args.base or args.plots:
            raise UsageError("--all writes every results folder's plots; give no RECORDS_DIR, --base or --plots")
        for folder, count in write_folder_plots(results_dir()):
            print(f"results/{folder}/plots: {count} plot(s)")
        return 0
    if not args.records:
        raise UsageError("give a RECORDS_DIR, or --all for every results folder's plots")

    report = write_report(args.records, args.output, args.base, args.plots)
    where = f"; PNGs in {args.plots}" if args.plots else ""
    print(f"wrote {args.output}: {len(report.plots)} plot(s), {report.tables} table(s){where}")
    return 0


def cmd_cache(args) -> int:
    from bench.storage.cache import cache_folder
    from bench.storage.cache_entries import clean, list_text, size_text

    root = cache_folder()
    if args.action == "clean":
        print(clean(root, args.older_than, args.dry_run))
    else:
        print((list_text if args.action == "list" else size_text)(root))
    return 0


def parser() -> argparse.ArgumentParser:
    from bench import __version__

    top = _OneLineParser(prog="bench", description="Benchmark harness for efficient NLP methods.")
    top.add_argument("--version", action="version", version=f"bench {__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    p = sub.add_parser("list", help="list registered tasks, methods, models, tables or presets")
    p.add_argument("kind", choices=LIST_KINDS)
    p.add_argument("--options", action="store_true", help="methods: every option's type, default, range and help")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="a method's options, a task's splits and metrics, a model's source and size, "
                                    "a table or a preset")
    p.add_argument("name")
    p.add_argument("--data-dir", help="count a task's rows in this data directory (else BENCH_DATA_DIR)")
    p.set_defaults(func=cmd_show)

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
    p.add_argument("--max-seq-len", type=int, help="tokens per training example, prompt and target (default 128)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--precision", help="comma-separated: fp32 (default), bf16 (autocast; refused where the CPU or "
                                       "GPU has no native bf16 matmuls); each is a cell of its own")
    p.add_argument("--latency", choices=typing.get_args(LatencyPreset),
                   help="default: until the p50's 95%% interval is within +-2%% (10 s cap); fixed: >= 50 calls "
                        "and 2 s; publish: >= 100 calls and 10 s; quick: 5 calls (smoke runs)")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes for latency (default 1,32)")
    p.add_argument("--arch-only", action="store_true", help="no data or training: parameters, FLOPs, latency")
    p.add_argument("--data-dir", help="local data directory (else BENCH_DATA_DIR, else the hub)")
    p.add_argument("--records", help=f"records directory (default {DEFAULT_RECORDS})")
    p.add_argument("--timeout", type=_positive_seconds, help="seconds per cell")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and list the cells with every option, and which are already recorded; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: one process per cell on this machine (default); ray: one Ray task per cell on a "
                        "cluster (extra `ray`)")
    p.add_argument("--ray-address", help="with --executor ray: the cluster (else RAY_ADDRESS, else a local Ray)")
    p.add_argument("--cells-per-gpu", type=int, metavar="N",
                   help="with --executor ray: cuda cells that share one GPU (each asks for 1/N of it; default 1)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("table", help="render a table from stored records")
    p.add_argument("name", nargs="?", help="a table (bench list tables)")
    p.add_argument("--all", action="store_true", help="every table from its results folder (results/*/records)")
    p.add_argument("--records", help="records directory (default results/NAME/records)")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md",
                   help="md for reading; csv and json carry numbers (mean, _std and _n columns)")
    p.add_argument("--arch-only", action="store_true", help="only the columns architecture-only cells give")
    p.add_argument("--save", metavar="DIR", help="also write DIR/NAME.md, .csv and the --format asked "
                                                 "(with --all: DIR/FOLDER/NAME.*)")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("compare", help="compare two records directories; exit 1 on a regression",
                       description="Deterministic quantities must match; a timing regressed when the whole 95% "
                                   "bootstrap interval of its p50 ratio NEW/BASE lies above --latency-threshold. "
                                   "Records from different machines compare timings only normalised by each "
                                   "record's matmul peak (a warning, not a failure), or not at all.")
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--latency-threshold", type=float, default=1.10,
                   help="p50 ratio NEW/BASE that the whole 95%% interval must exceed for a latency regression")
    p.add_argument("--memory-threshold", type=float, default=0.05, help="peak memory growth that is a regression")
    p.add_argument("--metric-tolerance", type=float, default=0.0, help="metric drop tolerated")
    p.add_argument("--calibrate", action="store_true", help="on one machine too, read both records' matmul peaks: "
                                                            "a run whose peak moved >10%% (a busy machine) only warns")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("compare-benchmarks", help="compare two pytest-benchmark JSON files of tests/benchmarks "
                                                  "(the harness's hot paths); exit 1 on a regression")
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--threshold", type=float, default=1.10,
                   help="median-time ratio the whole 95%% interval must exceed to be a regression")
    p.set_defaults(func=cmd_compare_benchmarks)

    p = sub.add_parser("report", help="one self-contained HTML page of a records folder: Pareto plots, latency "
                                      "distributions, tables, provenance (and a diff against --base)")
    p.add_argument("records", metavar="RECORDS_DIR", nargs="?")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--all", action="store_true", help="instead: every results folder's plots as PNGs in "
                                                      "results/FOLDER/plots (what the README shows)")
    p.add_argument("--base", metavar="BASE_RECORDS_DIR", help="add bench compare BASE RECORDS_DIR as a section")
    p.add_argument("--plots", metavar="DIR", help="also write each plot as DIR/<plot>.png")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("cache", help="show or free the cache of trained prefixes, teacher outputs and tokenizers",
                       description="The cache (BENCH_CACHE, default ~/.cache/bench) holds only what cells rebuild "
                                   "when it is missing, so cleaning it is always safe for results; it costs the next "
                                   "cells the time to rebuild. clean deletes nothing while a running cell uses the "
                                   "cache (it holds a lock on it).")
    p.add_argument("action", choices=("list", "size", "clean"))
    p.add_argument("--older-than", type=float, default=0.0, metavar="DAYS",
                   help="clean: only entries written more than DAYS days ago (default: every entry)")
    p.add_argument("--dry-run", action="store_true", help="clean: say what would be deleted, delete nothing")
    p.set_defaults(func=cmd_cache)

    speed.add_parser(sub)
    baseline.add_parser(sub)
    ab.add_parser(sub)
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
    except KeyboardInterrupt:
        resume = ("; finished cells are recorded, the interrupted one is not: run the same command again to resume"
                  if args.command == "run" else "")
        print(f"\nbench: interrupted{resume}", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `bench list methods --options | head`: the reader left, nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
