"""`bench ab`: BASE and NEW timed interleaved in one run (bench/comparison/ab.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    from bench.comparison.ab import DEFAULT_THRESHOLD

    p = sub.add_parser("ab", help="time a spec's cells under two environments or revisions, interleaved in one "
                                  "run; exit 1 on a significant slowdown")
    p.add_argument("--spec", help="the cells (architecture-only: random weights, the chain applied)")
    p.add_argument("--preset", help="or a results folder's spec")
    p.add_argument("--base-rev", help="git revision of this checkout for BASE (a temporary worktree)")
    p.add_argument("--base-dir", help="or a checkout for BASE's code (default: this checkout)")
    p.add_argument("--base-python", default=sys.executable, help="BASE's interpreter (another virtualenv)")
    p.add_argument("--new-dir", help="NEW's code (default: this checkout)")
    p.add_argument("--new-python", default=sys.executable, help="NEW's interpreter")
    p.add_argument("--rounds", type=int, default=40, help="alternating rounds per shape (default 40; many short "
                                                          "rounds, as the ratio is read per round)")
    p.add_argument("--calls", type=int, default=5, help="timed calls per side per round (default 5)")
    p.add_argument("--copies", type=int, default=2, help="builds of each side's model the rounds rotate over "
                                                         "(default 2; where weights land moves speed by a few %%)")
    # Interleaving removes the drift between runs that bench compare's 1.10 must allow for.
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"ratio the whole interval must exceed (default {DEFAULT_THRESHOLD})")
    p.set_defaults(func=cmd_ab)


def cmd_ab(args) -> int:
    import contextlib

    from bench.comparison.ab import Side, ab_compare, render
    from bench.comparison.confirm import CHECKOUT, revision_worktree
    from bench.errors import UsageError
    from bench.spec import expand, preset_path
    from bench.spec_file import load_spec_file

    if bool(args.spec) == bool(args.preset):
        raise UsageError("give the cells with --spec FILE or --preset NAME (one of them)")
    if args.base_rev and args.base_dir:
        raise UsageError("give --base-rev or --base-dir, not both")
    if args.calls < 1 or args.copies < 1:
        raise UsageError("--calls and --copies must be at least 1")
    if args.rounds < 20 or args.rounds % (2 * args.copies):
        raise UsageError(f"--rounds {args.rounds}: at least 20 (the interval is a bootstrap over rounds) and a "
                         f"multiple of 2 x --copies ({2 * args.copies}), so each copy goes first and second alike")
    cells = expand(load_spec_file(args.spec or preset_path(args.preset)))
    checkout = str(CHECKOUT)
    with contextlib.ExitStack() as stack:
        base_dir = args.base_dir or checkout
        if args.base_rev:
            try:
                base_dir = stack.enter_context(revision_worktree(args.base_rev))
            except UsageError as error:
                raise UsageError(f"--base-rev: {error}") from None
        base = Side("BASE", args.base_python, str(Path(base_dir).resolve()))
        new = Side("NEW", args.new_python, str(Path(args.new_dir or checkout).resolve()))
        pairs = [(f"{c.task} | {c.model} | {c.chain_label}", c, c) for c in cells]
        results = ab_compare(pairs, base, new, rounds=args.rounds, calls=args.calls,
                             copies=args.copies, threshold=args.threshold)
    text, failed = render(results, base, new, args.threshold)
    print(text)
    return 1 if failed else 0
