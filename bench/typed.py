"""Strict construction of frozen option dataclasses from untrusted mappings (YAML, flags).

Unknown keys and wrong types are errors that name the closest valid key, raised before
any cell runs (DESIGN principle 3).
"""

from __future__ import annotations

import dataclasses
import types
import typing

from bench.errors import UsageError, closest


def _matches(value, hint) -> tuple[bool, object]:
    """Whether `value` fits the type hint, and the value converted (int -> float, list -> tuple)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            ok, converted = _matches(value, option)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        return value in typing.get_args(hint), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]  # a scalar where a list is expected means a list of one
        item_hint = typing.get_args(hint)[0]
        converted = []
        for item in value:
            ok, item = _matches(item, item_hint)
            if not ok:
                return False, value
            converted.append(item)
        return True, tuple(converted)
    if hint is type(None):
        return value is None, value
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), float(value) if isinstance(value, (int, float)) else value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint in (str, bool, dict):
        return isinstance(value, hint), value
    return isinstance(value, hint), value


def build(cls, mapping: dict | None, where: str):
    """An instance of dataclass `cls` from `mapping`, rejecting unknown keys and bad types."""
    mapping = dict(mapping or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in mapping.items():
        key = str(key).replace("-", "_")
        if key not in fields:
            hint = closest(key, fields)
            suggestion = f" Did you mean {hint!r}?" if hint else ""
            raise UsageError(f"{where}: unknown option {key!r}.{suggestion} Valid options: {', '.join(fields)}")
        ok, converted = _matches(value, hints[key])
        if not ok:
            raise UsageError(f"{where}: option {key!r} must be {_describe(hints[key])}, got {value!r}")
        values[key] = converted
    return cls(**values)


def _describe(hint) -> str:
    return str(hint).replace("typing.", "")


def parse_scalar(text: str):
    """A command-line value as YAML would read it: 3 -> int, 3e-4 -> float, true -> bool."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 3e-4 as a string
        except ValueError:
            return value
    return value
