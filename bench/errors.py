"""Error types the CLI maps to exit codes: user mistakes exit 2 before anything runs."""

import difflib

# Exit status on Ctrl-C, of `bench` and of a cell's process: the shell's 128 + SIGINT.
INTERRUPTED = 130


class BenchError(Exception):
    """Base class of every error the harness raises on purpose."""


class UsageError(BenchError):
    """Bad input from the user (unknown name, malformed spec, bad option); exit status 2."""


def closest(name: str, choices, cutoff: float = 0.4) -> str | None:
    """The closest valid name to `name`, for 'did you mean' messages; on a tie, the first in
    `choices`. Registries list their entries in registration order, where the canonical family
    comes first: 'sst2' is as close to plue-sst2 as to glue-sst2, and glue-sst2 is meant
    (difflib alone would take the alphabetically last)."""
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(str(name))
    best, best_score = None, cutoff
    for choice in map(str, choices):
        matcher.set_seq1(choice)
        score = matcher.ratio()
        if score > best_score or (best is None and score == best_score):
            best, best_score = choice, score
    return best


def unknown_name(kind: str, name: str, choices) -> UsageError:
    hint = closest(name, list(choices))
    choices = sorted(choices)
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    return UsageError(f"unknown {kind} {name!r}.{did_you_mean} Valid {kind}s: {', '.join(choices)}")


def abridge(text, limit: int = 200) -> str:
    """An untrusted value shortened for a message: a spec can hold megabytes (PROTOCOL: one line)."""
    text = " ".join(str(text).split())  # one line, whatever the value held
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]} ... {text[-limit // 4:]} ({len(text):,} characters)"
