"""`bench run`: a matrix from flags, a spec file or a preset, validated whole before anything runs;
`--dry-run` lists its cells with every option, says which are already recorded, and estimates
the time of the others from similar records (with `--executor ray`, also what each cell asks
the cluster for and the cell it runs after)."""

from __future__ import annotations

from pathlib import Path

from bench.errors import UsageError, abridge

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
        "precisions": _csv(args.precision) if args.precision else None,
        "arch_only": True if args.arch_only else None,
    }
    spec.update({k: v for k, v in overrides.items() if v is not None})
    budget = {"train_limit": args.train_limit, "epochs": args.epochs, "max_steps": args.max_steps,
              "eval_limit": args.eval_limit, "batch_size": args.batch_size, "max_seq_len": args.max_seq_len}
    spec["budget"] = dict(spec.get("budget") or {}, **{k: v for k, v in budget.items() if v is not None})
    batch_sizes = _batch_sizes(args.batch_sizes) if args.batch_sizes else None
    measure = {"latency": args.latency, "threads": args.threads, "batch_sizes": batch_sizes}
    spec["measure"] = dict(spec.get("measure") or {}, **{k: v for k, v in measure.items() if v is not None})
    return spec, records


def _check_executor(args) -> None:
    if args.executor != "ray" and (args.ray_address or args.cells_per_gpu is not None):
        raise UsageError("--ray-address and --cells-per-gpu go with --executor ray")
    if args.cells_per_gpu is not None and args.cells_per_gpu < 1:
        raise UsageError(f"--cells-per-gpu must be at least 1, got {args.cells_per_gpu}")


def cmd_run(args) -> int:
    from bench.preflight import absolute, check_data, check_records_dir, data_dir_or_env
    from bench.registry import TABLES
    from bench.spec import expand
    from bench.storage.store import read_record

    _check_executor(args)
    spec, preset_records = _spec_from_args(args)
    cells = expand(spec)  # every name and option validated before anything runs
    # Paths are the caller's: cells run in other processes, and results must land where asked.
    records_dir = absolute(args.records or preset_records or DEFAULT_RECORDS)
    check_records_dir(records_dir)
    data_dir = data_dir_or_env(args.data_dir)
    check_data(cells, data_dir)
    cells_per_gpu = args.cells_per_gpu or 1
    if args.dry_run:
        return _dry_run(cells, records_dir, data_dir, cells_per_gpu if args.executor == "ray" else None)
    options = {"data_dir": data_dir and str(data_dir), "timeout": args.timeout, "progress": not args.quiet}
    if args.executor == "ray":
        from bench.executors.ray import run_matrix

        options.update(address=args.ray_address, cells_per_gpu=cells_per_gpu)
    else:
        from bench.executors.local import run_matrix
    outcomes = run_matrix(cells, records_dir, **options)
    records = [read_record(o.path) for o in outcomes]
    print(TABLES.get("summary").obj(records).render("md"))
    cached = sum(o.cached for o in outcomes)
    failed = [o for o in outcomes if o.status != "success"]
    print(f"{len(outcomes)} cell(s): {len(outcomes) - len(failed)} succeeded ({cached} from records), "
          f"{len(failed)} failed. Records: {records_dir}")
    return 1 if failed else 0


def _dry_run(cells, records_dir: Path, data_dir, ray_cells_per_gpu: int | None = None) -> int:
    """Every cell with every option of its stages, whether its record is already there, and for
    the cells to run a time estimated from similar records of the folder; for Ray (when
    `ray_cells_per_gpu` is given) also what each asks the cluster for and the cell it runs after."""
    from bench.executors.planning import estimate_wall_s, plan

    jobs = plan(cells, records_dir, data_dir=data_dir and str(data_dir))
    recorded_paths = {job.path for job in jobs if job.recorded}  # each record read once
    to_run = [job for job in jobs if job.path not in recorded_paths]
    estimates = dict(zip((job.path for job in to_run), estimate_wall_s([job.cell for job in to_run], records_dir),
                         strict=True))
    asks = {}
    if ray_cells_per_gpu is not None:
        from bench.executors.ray import placements

        texts = placements(to_run, records_dir, ray_cells_per_gpu)
        asks = {job.path: f"({text})  " for job, text in zip(to_run, texts, strict=True)}
    for job in jobs:
        if job.path in recorded_paths:
            print(f"{'recorded':<8}  {job.cell.slug()}  {job.cell.full_chain_label}")
            continue
        estimate = estimates[job.path]
        guess = f"~{_duration(estimate[0])} ({estimate[1]})" if estimate else "no estimate"
        print(f"{'to run':<8}  {job.cell.slug()}  [{guess}]  {asks.get(job.path, '')}{job.cell.full_chain_label}")
    recorded = len(jobs) - len(to_run)
    print(f"{len(jobs)} cell(s): {recorded} already recorded, {len(to_run)} to run -> {records_dir}")
    if to_run:
        known = [e[0] for e in estimates.values() if e]
        unknown = len(to_run) - len(known)
        if known:
            print(f"~{_duration(sum(known))} for {len(to_run)} cell(s)"
                  + (f", {unknown} without an estimate" if unknown else ""))
        else:
            print(f"no estimate for the {len(to_run)} cell(s) to run: no similar records in {records_dir}")
    return 0


def _duration(seconds: float) -> str:
    """'40 s', '12 min', '2.5 h': how long, as a reader wants it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
