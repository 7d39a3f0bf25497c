"""Optional dependencies: a stage that needs an extra says which one, before it fails deep inside."""

from __future__ import annotations


def require_extra(extra: str, *modules: str, what: str) -> None:
    """Raise a UsageError naming the pip command when any of `modules` is not installed."""
    import importlib.util

    from bench.errors import UsageError

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"{what} needs {', '.join(missing)}, which is not installed: "
                         f"pip install 'efficient-nlp-bench[{extra}]'")
