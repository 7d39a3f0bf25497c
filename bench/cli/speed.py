"""`bench speed train|latency|detection|executors`: the harness against the tools a user would pick instead, and its
latency rules against each other, side by side in one run (bench/speed/)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("speed", help="speed benchmarks against the tools a user would pick instead, side by side")
    kinds = p.add_subparsers(dest="kind", required=True)
    t = kinds.add_parser("train", help="time per training step: the harness, HF Trainer grouped by length, "
                                       "HF Trainer padded to max length (run_glue's default)")
    t.add_argument("--task", default="glue-sst2")
    t.add_argument("--model", default="minilm-l6")
    t.add_argument("--train-limit", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--max-seq-len", type=int, default=128)
    t.add_argument("--threads", type=int, help="torch intra-op threads (default: the machine's)")
    t.add_argument("--repeats", type=int, default=2, help="alternating repeats of every path (default 2)")
    t.add_argument("--precision", default="fp32", help="comma-separated; bf16 adds the harness and the grouped "
                                                       "Trainer under bf16 autocast (refused where not native)")
    t.add_argument("--data-dir", help="local data directory (else BENCH_DATA_DIR, else the hub)")
    t.add_argument("--out", help="folder for train.json and train.md (default: print only)")
    t.set_defaults(func=cmd_speed)

    lat = kinds.add_parser("latency", help="a cell's latency measurement phase under the fixed rule and the "
                                           "adaptive default: time spent and the p50's interval, side by side")
    lat.add_argument("--task", default="glue-sst2", help="the task whose head the model gets")
    lat.add_argument("--model", default="minilm-l6")
    lat.add_argument("--repeats", type=int, default=3)
    lat.add_argument("--threads", type=int, help="torch intra-op threads (default: the machine's)")
    lat.add_argument("--batch-sizes", default="1,32")
    lat.add_argument("--out", help="folder for latency.json and latency.md (default: print only)")
    lat.set_defaults(func=cmd_speed_latency)

    det = kinds.add_parser("detection", help="false alarms and detected slowdowns of bench compare and bench ab "
                                             "on this machine (issue 12's goals)")
    det.add_argument("--model", default="minilm-l6")
    det.add_argument("--pairs", type=int, default=20)
    det.add_argument("--mode", default="records,ab", help="comma-separated: records (bench compare), ab (bench ab); "
                                                          "with --out, a mode not run keeps its figures from there")
    det.add_argument("--out", help="folder for detection.json and detection.md (default: print only)")
    det.set_defaults(func=cmd_speed_detection)

    ex = kinds.add_parser("executors", help="cells per hour: the local executor (one and two processes) against "
                                            "Ray, the same matrix of small real cells")
    ex.add_argument("--cells", type=int, default=8)
    ex.add_argument("--repeats", type=int, default=2)
    ex.add_argument("--task", default="glue-sst2")
    ex.add_argument("--model", default="minilm-l6")
    ex.add_argument("--data-dir", help="local data directory (else BENCH_DATA_DIR, else the hub)")
    ex.add_argument("--out", help="folder for executors.json and executors.md (default: print only)")
    ex.set_defaults(func=cmd_speed_executors)


def cmd_speed(args) -> int:
    from bench.errors import UsageError
    from bench.precision import check_precision, require_native
    from bench.registry import TASKS
    from bench.speed.compare_training import STEM, compare, table
    from bench.speed.train_paths import Setup

    TASKS.get(args.task)  # a misspelt task fails here, with the closest name
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    for precision in precisions:
        if check_precision(precision) != "fp32":
            require_native(precision, "cpu")
    if args.repeats < 1 or args.train_limit < args.batch_size * 2:
        raise UsageError("--repeats must be >= 1 and --train-limit at least two batches")
    setup = Setup(task=args.task, model=args.model, data_dir=args.data_dir, train_limit=args.train_limit,
                  batch_size=args.batch_size, max_seq_len=args.max_seq_len, threads=args.threads)
    result = compare(setup, args.repeats, precisions)
    return _show(result, args.out, STEM, table)


def cmd_speed_latency(args) -> int:
    from bench.errors import UsageError
    from bench.registry import TASKS
    from bench.speed.compare_latency import STEM, compare_rules, table

    TASKS.get(args.task)
    try:
        batch_sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    except ValueError:
        raise UsageError(f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}") from None
    if args.repeats < 1 or min(batch_sizes) < 1:
        raise UsageError("--repeats and every batch size must be at least 1")
    result = compare_rules(args.model, args.task, args.repeats, batch_sizes=batch_sizes, threads=args.threads)
    return _show(result, args.out, STEM, table)


def cmd_speed_detection(args) -> int:
    import json

    from bench.errors import UsageError, unknown_name
    from bench.speed.detection import MODES, STEM, measure_detection, table

    if args.pairs < 1:
        raise UsageError("--pairs must be at least 1")
    modes = tuple(m.strip() for m in args.mode.split(",") if m.strip())
    for mode in modes:
        if mode not in MODES:
            raise unknown_name("detection mode", mode, MODES)
    earlier = Path(args.out or ".") / f"{STEM}.json"
    earlier = json.loads(earlier.read_text()) if args.out and earlier.exists() and set(modes) != set(MODES) else None
    if earlier is None and set(modes) != set(MODES):
        raise UsageError(f"--mode {args.mode}: the other mode's figures come from --out DIR/{STEM}.json, not found")
    result = measure_detection(args.model, args.pairs, modes=modes, earlier=earlier)
    return _show(result, args.out, STEM, table)


def cmd_speed_executors(args) -> int:
    from bench.errors import UsageError
    from bench.registry import TASKS
    from bench.speed.executors import STEM, measure, table

    TASKS.get(args.task)
    if args.cells < 1 or args.repeats < 1:
        raise UsageError("--cells and --repeats must be at least 1")
    try:
        import ray  # noqa: F401 - refuse before the local runs rather than after them
    except ImportError:
        raise UsageError("bench speed executors needs Ray: pip install 'efficient-nlp-bench[ray]'") from None
    result = measure(args.cells, args.repeats, args.model, args.task, args.data_dir)
    return _show(result, args.out, STEM, table)


def _show(result: dict, out: str | None, stem: str, table) -> int:
    """Print a benchmark's table; with --out, also write its JSON and Markdown there."""
    from bench.speed.result_files import write

    print(table(result))
    if out:
        print("wrote " + " and ".join(map(str, write(result, Path(out), stem, table))))
    return 0
