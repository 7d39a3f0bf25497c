"""`bench baseline check|update`: the regression check against committed records (bench/baseline.py)."""

from __future__ import annotations


def add_parser(sub) -> None:
    from bench.baseline import DEFAULT_PRESET

    p = sub.add_parser("baseline", help="run the regression preset afresh and compare it with its committed "
                                        "records (check), or replace them (update)")
    p.add_argument("action", choices=("check", "update"))
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"results folder of the baseline (default {DEFAULT_PRESET})")
    p.add_argument("--data-dir", help="local data directory (else BENCH_DATA_DIR); without data, check is skipped")
    p.add_argument("--timeout", type=float, help="seconds per cell")
    p.add_argument("--fail-on-latency", action="store_true",
                   help="check: a slowdown between the two runs fails at once (default: bench ab confirms it)")
    p.add_argument("--no-ab", action="store_true",
                   help="check: a slowdown between the two runs stays a warning, not timed again with bench ab")
    p.set_defaults(func=cmd_baseline)


def cmd_baseline(args) -> int:
    from bench.baseline import check, update
    from bench.preflight import absolute
    from bench.task import data_dir_from_env

    # Not validated here: a machine without the data skips the check, and says so.
    given = data_dir_from_env(args.data_dir)
    data_dir = str(absolute(given)) if given else None
    if args.action == "update":
        return update(args.preset, data_dir, args.timeout)
    return check(args.preset, data_dir, args.timeout, fail_on_latency=args.fail_on_latency,
                 confirm_latency=not args.no_ab)
