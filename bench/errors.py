"""Error types the CLI maps to exit codes: user mistakes exit 2 before anything runs."""

import difflib


class BenchError(Exception):
    """Base class of every error the harness raises on purpose."""


class UsageError(BenchError):
    """Bad input from the user (unknown name, malformed spec, bad option); exit status 2."""


def closest(name: str, choices) -> str | None:
    """The closest valid name to `name`, for 'did you mean' messages."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.4)
    return matches[0] if matches else None


def unknown_name(kind: str, name: str, choices) -> UsageError:
    choices = sorted(choices)
    hint = closest(name, choices)
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    return UsageError(f"unknown {kind} {name!r}.{did_you_mean} Valid {kind}s: {', '.join(choices)}")


def abridge(text, limit: int = 200) -> str:
    """An untrusted value shortened for a message: a spec can hold megabytes (PROTOCOL: one line)."""
    text = " ".join(str(text).split())  # one line, whatever the value held
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]} ... {text[-limit // 4:]} ({len(text):,} characters)"
